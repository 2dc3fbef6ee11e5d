"""One configuration for every process on a database: servers and workers share nothing but the
database, so plugins, key-encryption keys and settings reach each of them only through their own
environment. A process with another configuration than its peers would answer differently (a
plugin's fields missing, a key it cannot unwrap, another time zone in a deadline): rather than run
like that, it refuses to start.

`enishi db upgrade` records the configuration's fingerprint (`core_deployment`); `enishi serve`
and `enishi worker` compare theirs at start-up, and the long-running worker again every round, so
one left from before a change stops instead of working on. A database no upgrade recorded a
fingerprint in takes the first process's. Changing the configuration is therefore: stop every
process, change it everywhere, `enishi db upgrade`, start them again (docs/deployment.md)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import crypto
from .models import Deployment
from .settings import ConfigError

# Settings left out of the settings digest: those that may differ between processes (where this
# process connects to, its log), and those the other digests cover (which plugins are enabled;
# the KEKs, compared by fingerprint). Everything else must be the same everywhere.
UNDIGESTED_SETTINGS = frozenset(
    {
        "enabled_plugins",
        "disabled_plugins",
        "plugin_autoload",
        "database_url",
        "read_database_url",
        "pgbouncer",
        "log_level",
        "worker_metrics_port",
        "worker_metrics_host",
        "key_encryption_key",
        "previous_key_encryption_key",
    }
)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=sorted).encode()).hexdigest()


def fingerprint(runtime) -> dict[str, str]:
    """A digest of each part of this process's configuration: the enabled plugins with their
    versions, the key-encryption keys by fingerprint (never the keys), the shared settings."""
    plugins = sorted((info.name, info.version) for info in runtime.plugins.installed() if info.enabled)
    settings = {name: value for name, value in asdict(runtime.settings).items() if name not in UNDIGESTED_SETTINGS}
    return {
        "plugins": _digest(plugins),
        "keys": _digest(list(crypto.installed().keks)),
        "settings": _digest(settings),
    }


async def record(runtime) -> None:
    """Make this process's configuration the one every process must have (`enishi db upgrade`)."""
    async with runtime.unit_of_work() as uow:
        row = await uow.session.get(Deployment, 1)
        if row is None:
            uow.session.add(Deployment(slot=1, fingerprint=fingerprint(runtime), recorded_at=runtime.clock.now()))
        else:
            row.fingerprint, row.recorded_at = fingerprint(runtime), runtime.clock.now()


async def check(runtime) -> None:
    """Raise `ConfigError`, naming the parts that differ, unless this process's configuration is
    the recorded one (recording it when none is)."""
    async with runtime.read_session() as session:
        recorded = (await session.execute(select(Deployment.fingerprint).where(Deployment.slot == 1))).scalar_one_or_none()
    if recorded is None:
        try:
            async with runtime.unit_of_work() as uow:
                uow.session.add(Deployment(slot=1, fingerprint=fingerprint(runtime), recorded_at=runtime.clock.now()))
            return
        except IntegrityError:  # another process started at the same moment: compare with its
            return await check(runtime)
    ours = fingerprint(runtime)
    differing = sorted(part for part in ours.keys() | recorded.keys() if ours.get(part) != recorded.get(part))
    if differing:
        raise ConfigError(
            f"this process's {', '.join(differing)} differ from the configuration `enishi db upgrade` recorded for "
            "every process on this database: give every server and worker the same configuration, "
            "then run `enishi db upgrade` with it (docs/deployment.md)"
        )

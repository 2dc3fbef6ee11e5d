"""One configuration for every process on a database: servers and workers share nothing but the
database, so plugins, key-encryption keys and settings reach each of them only through their own
environment. A process with another configuration than its peers would answer differently (a
plugin's fields missing, a key it cannot unwrap, another time zone in a deadline): rather than run
like that, it refuses to start.

`enishi db upgrade` records the configuration's fingerprint (`core_deployment`); `enishi serve`
and `enishi worker` compare theirs at start-up, the long-running worker again every round, so
one left from before a change stops instead of working on, and a running server again at most
every RECHECK_EVERY (`ConfigurationWatch`), refusing requests (503, with the reason) for as long
as its configuration is not the recorded one. A database no upgrade recorded a
fingerprint in takes the first process's. Changing the configuration is therefore: stop every
process, change it everywhere, `enishi db upgrade`, start them again (docs/deployment.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import crypto
from .models import Deployment
from .settings import ConfigError

log = logging.getLogger("enishi.deployment")
# How stale a server's view of the recorded configuration may be: one indexed read per process
# this often, by the injected clock.
RECHECK_EVERY = dt.timedelta(seconds=5)

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


class ConfigurationWatch:
    """A running server's view of whether its configuration is still the recorded one: compared
    again once RECHECK_EVERY passed on the injected clock (a request meanwhile gets the last
    answer), so that a server started before a configuration change refuses to answer, with the
    reason, instead of answering with the old configuration."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.checked_at: dt.datetime | None = None
        self.mismatch: str | None = None

    async def refusal(self) -> str | None:
        """Why this server must not answer now (its configuration differs), or None."""
        now = self.runtime.clock.now()
        if self.checked_at is not None and self.checked_at <= now < self.checked_at + RECHECK_EVERY:
            return self.mismatch
        self.checked_at = now  # the requests arriving while this one reads take the last answer
        try:
            await check(self.runtime)
        except ConfigError as exc:
            self.mismatch = str(exc)
        except Exception as exc:  # noqa: BLE001 - an unreachable database is /readyz's to report, not a mismatch
            log.warning("configuration check failed", extra={"error": type(exc).__name__})
            self.checked_at = None
        else:
            self.mismatch = None
        return self.mismatch

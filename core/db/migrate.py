"""Alembic, configured in code: the core's migrations and each installed plugin's, one branch
each, applied together by `enishi db upgrade`."""
from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(runtime) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    locations = [str(path) for _, path in runtime.plugins.contributions("enishi_migrations")]
    config.set_main_option("version_locations", os.pathsep.join(locations))
    config.attributes["database_url"] = runtime.settings.database_url
    return config


def upgrade(runtime, target: str = "heads") -> None:
    """Apply every pending migration of the core and of all installed plugins (a disabled
    plugin's tables still exist: its personal data must stay reachable for erasure)."""
    command.upgrade(alembic_config(runtime), target)


def current_heads(runtime) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(runtime)).get_heads())

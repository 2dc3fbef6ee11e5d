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
    config.attributes["settings"] = runtime.settings  # data migrations that seal personal fields need the KEK
    return config


def upgrade(runtime, target: str = "heads") -> None:
    """Apply every pending migration of the core and of all installed plugins (a disabled
    plugin's tables still exist: its personal data must stay reachable for erasure)."""
    command.upgrade(alembic_config(runtime), target)


async def missing_migrations(runtime) -> set[str]:
    """The heads of the installed code's migration branches that the database has not reached
    (all of them for a database never upgraded). Checked on a connection of its own, so that the
    runtime's pool stays unbound to this event loop."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from . import create_engine

    script = ScriptDirectory.from_config(alembic_config(runtime))
    heads = set(script.get_heads())
    engine = create_engine(runtime.settings.database_url, pgbouncer=runtime.settings.pgbouncer)
    try:
        async with engine.connect() as connection:
            try:
                applied = {row[0] for row in await connection.execute(text("SELECT version_num FROM alembic_version"))}
            except DBAPIError:  # no version table: never upgraded
                return heads
    finally:
        await engine.dispose()
    # The version table names only the newest revisions; one another branch depends on (privacy's
    # 0003 on the core's 0005) is applied without being named.
    reached = {revision.revision for revision in script.revision_map.iterate_revisions(tuple(applied), "base")}
    return heads - reached

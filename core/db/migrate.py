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


class MigrationHeads:
    """The heads of the installed code's migration branches (read once: the code does not change
    while it runs), and which of them a database has not reached."""

    def __init__(self, runtime) -> None:
        from alembic.script import ScriptDirectory

        self.script = ScriptDirectory.from_config(alembic_config(runtime))
        self.heads = set(self.script.get_heads())

    async def missing(self, connection) -> set[str]:
        """The heads not reached (all of them for a database never upgraded)."""
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            applied = {row[0] for row in await connection.execute(text("SELECT version_num FROM alembic_version"))}
        except DBAPIError:  # no version table: never upgraded
            return set(self.heads)
        # The version table names only the newest revisions; one another branch depends on (privacy's
        # 0003 on the core's 0005) is applied without being named.
        reached = {revision.revision for revision in self.script.revision_map.iterate_revisions(tuple(applied), "base")}
        return self.heads - reached

    def branch_of(self, head: str) -> str:
        """The branch a head belongs to (`core`, a plugin's name), from its first revision's label."""
        for revision in self.script.revision_map.iterate_revisions(head, "base"):
            if revision.branch_labels:
                return sorted(revision.branch_labels)[0]
        return head


async def missing_migrations(runtime) -> set[str]:
    """The heads of the installed code's migration branches that the database has not reached
    (all of them for a database never upgraded). Checked on a connection of its own, so that the
    runtime's pool stays unbound to this event loop."""
    from . import create_engine

    engine = create_engine(runtime.settings.database_url, pgbouncer=runtime.settings.pgbouncer)
    try:
        async with engine.connect() as connection:
            return await MigrationHeads(runtime).missing(connection)
    finally:
        await engine.dispose()

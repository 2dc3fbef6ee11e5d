"""The migrations create exactly what the models describe, on SQLite and PostgreSQL."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from enishi.db import Base


async def test_migrated_database_matches_the_models(api):
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)

    async with api.runtime.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []

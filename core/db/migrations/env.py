"""Alembic environment: runs on the configured database (SQLite or PostgreSQL) with the one
shared metadata, into which every installed plugin's models were imported at start-up."""

import asyncio

from alembic import context

import enishi.models  # noqa: F401  (registers the core tables on the metadata)
from enishi.db import Base, create_engine, is_sqlite

config = context.config
url = config.attributes["database_url"]


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=is_sqlite(url), compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def main() -> None:
    engine = create_engine(url, foreign_keys=False, pgbouncer=config.attributes["settings"].pgbouncer)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(main())

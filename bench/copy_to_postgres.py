"""Copy a loaded SQLite data set (the 1M-contact one) into an empty PostgreSQL database, table by
table with COPY: loading it again with `enishi demo` would take well over an hour.

    python bench/copy_to_postgres.py /data/bench.db postgresql+asyncpg://user@127.0.0.1:5432/bench

The destination is upgraded first; rows are read through the same column types the application
uses (so ids, instants, flags and JSON arrive as PostgreSQL expects them) in insertion order, which
keeps self-references (an account's parent) valid; a table without a rowid (SQLite `WITHOUT ROWID`)
in its primary key's order."""

import argparse
import asyncio
import json
import time

import asyncpg
from sqlalchemy import JSON, create_engine, select, text

from enishi.db import Base
from enishi.db.migrate import upgrade
from enishi.runtime import Runtime
from enishi.settings import Settings

CHUNK = 50_000
KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="


def _writer(column):
    """How a value read through the column's type is handed to asyncpg's COPY."""
    if isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON):
        return lambda value: None if value is None else json.dumps(value, ensure_ascii=False)
    return None


def _insertion_order(table) -> list:
    """`rowid`, the order rows were inserted in; a table clustered on its primary key (`WITHOUT
    ROWID`, the search tokens) has none and refers to no row of its own table: its key will do."""
    if table.dialect_options["sqlite"]["with_rowid"] is False:
        return list(table.primary_key.columns)
    return [text("rowid")]


async def copy(source: str, destination: str) -> None:
    runtime = Runtime(Settings(database_url=destination, key_encryption_key=KEK))
    await asyncio.to_thread(upgrade, runtime)
    await runtime.close()
    reader = create_engine(f"sqlite:///{source}")
    connection = await asyncpg.connect(destination.replace("postgresql+asyncpg", "postgresql"))
    try:
        for table in Base.metadata.sorted_tables:
            started, copied = time.perf_counter(), 0
            columns = list(table.columns)
            writers = [_writer(c) for c in columns]
            with reader.connect() as source_connection:
                result = source_connection.execution_options(stream_results=True).execute(
                    select(*columns).order_by(*_insertion_order(table))
                )
                while rows := result.fetchmany(CHUNK):
                    records = [tuple(w(v) if w else v for w, v in zip(writers, row, strict=True)) for row in rows]
                    await connection.copy_records_to_table(table.name, records=records, columns=[c.name for c in columns])
                    copied += len(records)
            print(f"{table.name}: {copied} rows in {time.perf_counter() - started:.0f} s", flush=True)
        # COPY wrote the ids of serial columns (the outbox's `seq`) but did not advance their sequences.
        for table, column in await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'"
        ):
            await connection.execute(
                f'SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max("{column}"), 1), max("{column}") IS NOT NULL) '
                f'FROM "{table}"',
                table,
                column,
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sqlite_file")
    parser.add_argument("postgresql_url")
    args = parser.parse_args()
    asyncio.run(copy(args.sqlite_file, args.postgresql_url))

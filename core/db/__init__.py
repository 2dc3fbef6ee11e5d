"""Database plumbing shared by the core and every plugin: one metadata, portable column types,
and an async engine configured for SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import JSON, DateTime, MetaData, PrimaryKeyConstraint, Table, UniqueConstraint, Uuid, event, insert, make_url
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from ..clock import Clock
from ..errors import InputError, UserError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The one declarative base: core tables are prefixed `core_`, a plugin's `<plugin>_`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class NaiveDateTime(InputError, ValueError):
    """A date-time without an offset reached a query or a write: which instant it means is
    unknown. SQLAlchemy wraps it in a `StatementError`; the API unwraps it into a typed error."""

    def __init__(self) -> None:
        super().__init__(UserError(None, "a date-time needs a time zone offset", "NAIVE_DATETIME"))
        self.args = ("naive datetime given where an instant is required",)


class UTCDateTime(TypeDecorator):
    """An instant, always timezone-aware UTC in Python whatever the database stores.

    SQLite has no time zone type, so naive values read back are UTC by construction."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise NaiveDateTime()
        return value.astimezone(dt.UTC)

    def process_result_value(self, value, dialect):
        return _as_utc(value)

    def result_processor(self, dialect, coltype):
        if dialect.name == "sqlite":
            return _instant_from_sqlite_text
        return super().result_processor(dialect, coltype)


def _instant_from_sqlite_text(value):
    """SQLite's text ("2025-03-04 05:06:07.123456", UTC) parsed straight to an aware datetime: a
    page reads thousands, and parsing naive then `replace(tzinfo=…)` costs eight times as much."""
    if isinstance(value, str):
        if len(value) > 10:  # a date alone would take the offset as a time
            try:
                return dt.datetime.fromisoformat(value + "+00:00")
            except ValueError:  # text that carries its own offset
                pass
        value = dt.datetime.fromisoformat(value)
    return _as_utc(value)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class _SQLiteUuid(Uuid):
    """`Uuid` as SQLite stores it (32 hex digits) read with `_uuid_from_hex`; installed in the
    SQLite dialect's `colspecs` by `create_engine`, so every `Uuid` column, plugins' too, gets it."""

    def result_processor(self, dialect, coltype):
        return _uuid_from_hex if self.as_uuid else super().result_processor(dialect, coltype)


def _uuid_from_hex(value, _new=object.__new__, _set=object.__setattr__, _unknown=uuid.SafeUUID.unknown):
    """What `uuid.UUID(value)` gives, without its argument checks and normalisation when the text
    is already 32 hex digits (a page reads thousands of ids: 0.3 µs each instead of 0.7 µs).
    `int(…, 16)` refuses what `uuid.UUID` would; other shapes (dashes, braces) go through it."""
    if value is None:
        return None
    if len(value) == 32 and value.isalnum():
        parsed = _new(uuid.UUID)
        _set(parsed, "int", int(value, 16))
        _set(parsed, "is_safe", _unknown)
        return parsed
    return uuid.UUID(value)


# JSON on SQLite, JSONB on PostgreSQL (indexable, and `->>` works the same through SQLAlchemy).
JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")


def new_id() -> uuid.UUID:
    """Subject and record ids are random: they must not carry personal data or ordering hints."""
    return uuid.uuid4()


async def insert_rows(executor: AsyncSession | AsyncConnection, target: type[Base] | Table, rows: Sequence[dict]) -> None:
    """Insert `rows` (dicts of column values) into `target`, a model or its table, in one
    executemany; nothing when there are none. SQLAlchemy runs an INSERT given an empty list as
    one statement without parameters, which inserts a row of defaults (or fails on a NOT NULL
    column): every bulk writer whose batch may be empty (a contact without phones, a chunk where
    no score moved) would need the same check."""
    if rows:
        await executor.execute(insert(target), rows)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, echo: bool = False, foreign_keys: bool = True, pgbouncer: bool = False) -> AsyncEngine:
    """`foreign_keys=False` is for migrations only: SQLite alters a table by copying it, and
    dropping the original would cascade-delete every row that references it. `pgbouncer`: the URL
    leads to PgBouncer in transaction pooling mode (`ENISHI_PGBOUNCER`, docs/deployment.md)."""
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        engine.dialect.colspecs = {**engine.dialect.colspecs, Uuid: _SQLiteUuid}  # this engine's only
        _configure_sqlite(engine, foreign_keys)
    else:
        asyncpg = make_url(url).get_driver_name() == "asyncpg"
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            connect_args=(_behind_pgbouncer() if pgbouncer else _jit_off()) if asyncpg else {},
        )
    return engine


def _jit_off() -> dict:
    """JIT off: our statements are short, and compiling one costs 100-200 ms, paid whenever an
    estimate runs high (a table not analysed yet, a long IN list) on a query that takes 5 ms. Set
    at connection start-up by asyncpg (the driver we ship); another driver keeps the server's
    setting."""
    return {"server_settings": {"jit": "off"}}


def _behind_pgbouncer() -> dict:
    """Each transaction may run on another server connection: a statement prepared on one is
    unknown on the next (or, named alike, "already exists" there), so asyncpg and SQLAlchemy
    cache none and name each one uniquely. No start-up settings either (PgBouncer refuses the
    ones it does not track): set `jit = off` on the database instead (docs/deployment.md). The
    rest of the code keeps no session state (advisory locks are per transaction)."""
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__enishi_{uuid.uuid4().hex}__",
    }


def _configure_sqlite(engine: AsyncEngine, foreign_keys: bool) -> None:
    """WAL, foreign keys, and writer transactions that take the write lock up front.

    pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN is the real
    one. Sessions opened for writing (`execution_options(enishi_write=True)`) begin IMMEDIATE: two
    concurrent read-modify-write units of work then serialise instead of failing on upgrade of a
    shared lock, which is how SQLite gives us the row locking PostgreSQL gives with FOR UPDATE."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted rows are overwritten with zeros, so an erased person's data does not linger in
        # free pages of the file (the WAL is truncated by `checkpoint` after an erasure).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("enishi_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


async def analyze(engine: AsyncEngine) -> None:
    """Refresh PostgreSQL's planner statistics after a bulk load (`enishi demo`, every bench's
    load): until autovacuum gets to the new rows, plans are made for the empty tables (sequential
    scans and hash joins over a table read for a dozen rows; a bench's first run then spent minutes
    on foreign-key checks). SQLite plans from its indexes without statistics, and is left as it is:
    checked on the ABM recompute bench (10,000 accounts, SQLite 3.40), where `EXPLAIN QUERY PLAN`
    of the job's chunk statement and of its same-work floor's is the same with and without
    `ANALYZE` (at 2,000 accounts `ANALYZE` only adds a Bloom filter before the activity lookup, to
    both alike), so a bench's SQLite figures need no statistics a live SQLite database lacks."""
    if engine.dialect.name == "sqlite":
        return
    async with engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE")


async def checkpoint(engine: AsyncEngine) -> bool:
    """Copy the WAL into the database file and truncate it (SQLite; a no-op elsewhere). Returns
    False when a reader kept part of the log busy: call again once it finished."""
    if engine.dialect.name != "sqlite":
        return True
    async with engine.connect() as connection:
        # On the driver's connection: SQLAlchemy would open a transaction, and a checkpoint inside
        # one cannot truncate the log.
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None  # a connection just checked out of the pool is live
        cursor = await raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _, _ = await cursor.fetchone()
    return not busy


def sessionmakers(engine: AsyncEngine, clock: Clock) -> tuple[async_sessionmaker, async_sessionmaker]:
    """(reader, writer) session factories over one pool. Each session carries the runtime's
    `clock` in `session.info`, for what is dated while flushing (a new data key)."""
    reader = async_sessionmaker(engine, expire_on_commit=False, info={"clock": clock})
    writer = async_sessionmaker(engine.execution_options(enishi_write=True), expire_on_commit=False, info={"clock": clock})
    return reader, writer


@dataclass(frozen=True)
class UniqueViolation:
    """Which unique constraint (or primary key) a write broke: its table and columns, never the
    values (the driver's detail text quotes them, and they may be personal data)."""

    table: str
    columns: tuple[str, ...]


_SQLITE_UNIQUE = re.compile(r"^UNIQUE constraint failed: (.+)$")
_PG_UNIQUE_VIOLATION = "23505"


def unique_violation(error: IntegrityError) -> UniqueViolation | None:
    """The unique constraint behind `error`, or None when it is another kind of integrity error.
    SQLite names the columns in its message ("UNIQUE constraint failed: t.a, t.b"); PostgreSQL
    names the constraint, which the shared naming convention (`uq_<table>_<columns>`,
    `pk_<table>`) lets us find in the metadata."""
    if error.orig is None:  # raised by SQLAlchemy itself, not by the database
        return None
    if (match := _SQLITE_UNIQUE.match(str(error.orig.args[0] if error.orig.args else ""))) is not None:
        qualified = [part.strip().split(".", 1) for part in match.group(1).split(",")]
        return UniqueViolation(qualified[0][0], tuple(column for _, column in qualified))
    if getattr(error.orig, "pgcode", None) != _PG_UNIQUE_VIOLATION:
        return None
    name = getattr(error.orig.__cause__, "constraint_name", "")
    return _constraints_by_name().get(name) or UniqueViolation(getattr(error.orig.__cause__, "table_name", None) or "", ())


@functools.cache
def _constraints_by_name() -> dict[str, UniqueViolation]:
    """Unique constraints and primary keys of every table of the shared metadata, by name. Built
    on first use, once every plugin's models are imported."""
    found = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, (UniqueConstraint, PrimaryKeyConstraint)) and isinstance(constraint.name, str):
                found[constraint.name] = UniqueViolation(table.name, tuple(c.name for c in constraint.columns))
    return found

"""The portable column types plugins build their models from, on SQLite and PostgreSQL."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from enishi.db import UTCDateTime, create_engine, is_sqlite

TOKYO = dt.timezone(dt.timedelta(hours=9))


@pytest.fixture
async def instants(enishi_fresh_database_url):
    table = sa.Table("instants", sa.MetaData(), sa.Column("position", sa.Integer, primary_key=True), sa.Column("at", UTCDateTime))
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
    yield engine, table
    await engine.dispose()


async def test_an_instant_reads_back_as_the_same_moment_in_utc(instants):
    engine, table = instants
    written = [
        dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=TOKYO),
        dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(1999, 12, 31, 15, 0, tzinfo=dt.timezone(-dt.timedelta(hours=5))),
        None,
    ]
    async with engine.begin() as connection:
        await connection.execute(table.insert(), [{"position": i, "at": at} for i, at in enumerate(written)])
        read = (await connection.execute(sa.select(table.c.at).order_by(table.c.position))).scalars().all()
    assert read == written
    assert all(at.tzinfo is dt.UTC for at in read if at is not None)
    assert read[0].hour == 18 and read[0].day == 1 and read[0].microsecond == 6


async def test_naive_instants_are_refused_before_anything_is_written(instants):
    engine, table = instants
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        async with engine.begin() as connection:
            await connection.execute(table.insert(), [{"position": 0, "at": dt.datetime(2025, 1, 2, 3, 4)}])
    async with engine.connect() as connection:
        assert (await connection.execute(sa.select(sa.func.count()).select_from(table))).scalar_one() == 0


async def test_instants_written_as_text_by_hand_read_back_as_utc(instants, enishi_fresh_database_url):
    """Rows written by raw SQL (a migration, a fix by hand) hold text of any ISO shape: with an
    offset, a `T`, no fraction, no time. SQLite keeps that text as it is; PostgreSQL parses it
    (naive text in the session's zone, UTC here)."""
    engine, table = instants
    texts = [
        "2025-01-02 03:04:05.000006",
        "2025-01-02 03:04:05",
        "2025-01-02T12:04:05+09:00",
        "2025-01-02T03:04:05Z",
        "2025-01-02",
    ]
    async with engine.begin() as connection:
        if not is_sqlite(enishi_fresh_database_url):
            await connection.execute(sa.text("SET TIME ZONE 'UTC'"))
        for position, text in enumerate(texts):  # literals, so each database types the text itself
            await connection.execute(sa.text(f"INSERT INTO instants (position, at) VALUES ({position}, '{text}')"))
        read = (await connection.execute(sa.select(table.c.at).order_by(table.c.position))).scalars().all()
    utc = dt.UTC
    assert read == [
        dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=utc),
        dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=utc),
        dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=utc),
        dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=utc),
        dt.datetime(2025, 1, 2, tzinfo=utc),
    ]
    assert all(at.tzinfo is utc for at in read)


async def test_ids_read_back_as_the_same_uuid_whatever_text_holds_them(enishi_fresh_database_url):
    """Ids as the application writes them, and as text written by hand (dashes, braces, upper
    case; SQLite keeps it as written), read back as equal `uuid.UUID`s; text that is no id is refused."""
    table = sa.Table("ids", sa.MetaData(), sa.Column("position", sa.Integer, primary_key=True), sa.Column("id", sa.Uuid))
    engine = create_engine(enishi_fresh_database_url)
    written = uuid.UUID("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(table.insert(), [{"position": 0, "id": written}, {"position": 1, "id": None}])
            for position, text in enumerate([str(written), "{" + str(written).upper() + "}"], start=2):
                await connection.execute(sa.text(f"INSERT INTO ids (position, id) VALUES ({position}, '{text}')"))
            read = (await connection.execute(sa.select(table.c.id).order_by(table.c.position))).scalars().all()
        assert read == [written, None, written, written]
        assert all(isinstance(value, uuid.UUID) for value in read if value is not None)
        assert {hash(value) for value in read if value is not None} == {hash(written)} and str(read[0]) == str(written)
        if is_sqlite(enishi_fresh_database_url):  # PostgreSQL refuses such text on the way in
            async with engine.begin() as connection:
                await connection.execute(sa.text("INSERT INTO ids (position, id) VALUES (9, 'zz1e2d3c4b5a49788695a4b3c2d1e0ff')"))
            async with engine.connect() as connection:
                with pytest.raises(ValueError, match="invalid literal"):
                    (await connection.execute(sa.select(table.c.id).where(table.c.position == 9))).scalar_one()
    finally:
        await engine.dispose()


async def test_each_database_gets_its_connection_settings(enishi_fresh_database_url):
    """SQLite: write-ahead log, foreign keys enforced. PostgreSQL: no JIT compilation (it cost
    100-200 ms on 5 ms statements whenever an estimate ran high)."""
    engine = create_engine(enishi_fresh_database_url)
    try:
        async with engine.connect() as connection:
            if is_sqlite(enishi_fresh_database_url):
                settings = [
                    (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one() for name in ("journal_mode", "foreign_keys")
                ]
                assert settings == ["wal", 1]
            else:
                assert (await connection.exec_driver_sql("SHOW jit")).scalar_one() == "off"
    finally:
        await engine.dispose()

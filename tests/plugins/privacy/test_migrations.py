"""Migration privacy_0004: legal holds stored under a GraphQL type name are rewritten to name the
held record's table, as `enishi_holdable_types` now does. Migration privacy_0011: the provisions of
anonymised extracts move into the provision register. Migration privacy_0014: the access log loses
its unique index on `hash` (on SQLite by copying the table) with every entry, the chain and the
append-only triggers kept."""

import asyncio
import dataclasses
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from enishi.db import UTCDateTime, create_engine
from enishi.db.migrate import upgrade
from enishi.runtime import Runtime

HOLD = sa.table(
    "privacy_legal_hold",
    sa.column("id", sa.Uuid()),
    sa.column("contact_id", sa.Uuid()),
    sa.column("node_type"),
    sa.column("record_id", sa.Uuid()),
    sa.column("basis"),
    sa.column("created_at", UTCDateTime()),
)
CONTACT = sa.table(
    "core_contact",
    sa.column("id", sa.Uuid()),
    sa.column("kana_sort"),
    sa.column("name_sort"),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
LEAP_DAY = dt.datetime(2024, 2, 29, 16, tzinfo=dt.UTC)


async def _holds_before_0004(settings, node_types) -> Runtime:
    runtime = Runtime(settings)
    await asyncio.to_thread(upgrade, runtime, "core@head")  # Alembic runs its own event loop
    await asyncio.to_thread(upgrade, runtime, "privacy_0003")
    engine = create_engine(settings.database_url)
    async with engine.begin() as connection:
        contact_id = uuid.uuid4()
        await connection.execute(
            CONTACT.insert().values(id=contact_id, kana_sort="", name_sort="", created_at=NOW, updated_at=NOW)
        )
        for node_type in node_types:
            await connection.execute(
                HOLD.insert().values(
                    id=uuid.uuid4(),
                    contact_id=contact_id,
                    node_type=node_type,
                    record_id=uuid.uuid4(),
                    basis="pending claim",
                    created_at=NOW,
                )
            )
    await engine.dispose()
    return runtime


async def test_legal_holds_name_the_held_table_after_the_upgrade(enishi_fresh_database_url, enishi_base_settings):
    runtime = await _holds_before_0004(
        dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url), ["Activity", "SupportTicket"]
    )
    await asyncio.to_thread(upgrade, runtime)
    async with runtime.read_session() as session:
        entities = (await session.execute(sa.text("SELECT entity FROM privacy_legal_hold ORDER BY entity"))).scalars().all()
    assert entities == ["core_activity", "support_ticket"]
    await runtime.close()


async def test_a_hold_on_a_type_no_bundled_plugin_holds_stops_the_upgrade(enishi_fresh_database_url, enishi_base_settings):
    runtime = await _holds_before_0004(
        dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url), ["SupportTicket", "WishlistItem"]
    )
    with pytest.raises(RuntimeError, match="legal holds on WishlistItem need their table's name"):
        await asyncio.to_thread(upgrade, runtime)
    async with runtime.read_session() as session:  # nothing half done
        assert sorted((await session.execute(sa.text("SELECT node_type FROM privacy_legal_hold"))).scalars()) == [
            "SupportTicket",
            "WishlistItem",
        ]
    await runtime.close()


EXTRACT = sa.table(
    "privacy_extract",
    *(sa.column(name) for name in ("kind", "source", "rows", "suppressed", "purpose")),
    sa.column("id", sa.Uuid()),
    sa.column("columns", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
)
EXTRACT_PROVISION = sa.table(
    "privacy_extract_provision",
    sa.column("id", sa.Uuid()),
    sa.column("extract_id", sa.Uuid()),
    sa.column("recipient"),
    sa.column("provided_at", UTCDateTime()),
)


async def test_extract_provisions_move_into_the_provision_register(enishi_fresh_database_url, enishi_base_settings):
    runtime = Runtime(dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(upgrade, runtime, "core@head")
    await asyncio.to_thread(upgrade, runtime, "privacy_0010_receipts")
    extract_id = uuid.uuid4()
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        await connection.execute(
            EXTRACT.insert().values(
                id=extract_id,
                kind="anonymised",
                source="contacts",
                columns=["age_band", "prefecture"],
                rows=5,
                suppressed=0,
                purpose="地域別の年代分布",
                created_at=NOW,
            )
        )
        for name in ("統計研究所", "登録のない研究所"):
            await connection.execute(
                EXTRACT_PROVISION.insert().values(id=uuid.uuid4(), extract_id=extract_id, recipient=name, provided_at=LEAP_DAY)
            )
    await engine.dispose()
    await asyncio.to_thread(upgrade, runtime)
    async with runtime.read_session() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT contact_id, recipient, purpose, basis, exempt, recorded_on, keep_until FROM privacy_provision "
                    "WHERE extract_id IS NOT NULL"
                )
            )
        ).all()
        tables = await session.run_sync(lambda s: sa.inspect(s.connection()).get_table_names())
    moved = sorted((r[0], r[1], r[2], r[3], bool(r[4]), str(r[5]), str(r[6])) for r in rows)
    assert moved == [  # kept 3 years from the day in UTC; 29 February → 28 February
        (None, name, "地域別の年代分布", "anonymised_information", True, "2024-02-29", "2027-02-28")
        for name in sorted(["統計研究所", "登録のない研究所"])
    ]
    assert "privacy_extract_provision" not in tables
    await runtime.close()


async def test_the_access_log_keeps_its_entries_chain_and_triggers_through_privacy_0014(
    enishi_api, enishi_fresh_database_url, enishi_base_settings
):
    from alembic import command

    from enishi.db.migrate import alembic_config
    from tests.helpers import create_contact

    settings = dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url)
    runtime = Runtime(settings)
    await asyncio.to_thread(upgrade, runtime)
    api = await enishi_api(database_url=enishi_fresh_database_url)
    for i in range(5):
        await create_contact(api, familyName=f"移行{i}")
    await api.graphql("{ contacts(first: 10) { nodes { displayName } } }", role="sales")
    before = (await api.graphql("{ verifyAccessLog { valid entries } }", role="compliance"))["verifyAccessLog"]
    assert before["valid"] and before["entries"] >= 5
    await api.runtime.engine.dispose()  # its pooled connections would hold the downgrade up on PostgreSQL
    # Back to the log as privacy_0013 left it (unique `hash`), then up again: what a deployment does.
    await asyncio.to_thread(command.downgrade, alembic_config(runtime), "privacy_0013_access_log_by_user")
    await asyncio.to_thread(upgrade, runtime)
    assert (await api.graphql("{ verifyAccessLog { valid entries } }", role="compliance"))["verifyAccessLog"] == before
    for statement in ("UPDATE privacy_access_log SET purpose = 'x'", "DELETE FROM privacy_access_log"):
        with pytest.raises(Exception, match="append-only"):
            async with api.runtime.unit_of_work() as uow:
                await uow.session.execute(sa.text(statement))
    await api.graphql("{ contacts(first: 10) { nodes { displayName } } }", role="support")  # new entries chain on
    after = (await api.graphql("{ verifyAccessLog { valid entries } }", role="compliance"))["verifyAccessLog"]
    assert after == {"valid": True, "entries": before["entries"] + 5}
    await runtime.close()

"""Migration privacy_0004: legal holds stored under a GraphQL type name are rewritten to name the
held record's table, as `enishi_holdable_types` now does."""

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

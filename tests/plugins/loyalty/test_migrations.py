"""Migration loyalty_0002 seals the ledger reasons stored before it, with nothing lost."""

import asyncio
import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa

from enishi.db import UTCDateTime, create_engine
from enishi.db.migrate import upgrade
from enishi.runtime import Runtime
from enishi.services.contacts import bulk_contact_rows


async def test_upgrading_seals_ledger_reasons_stored_in_plaintext(enishi_api, enishi_fresh_database_url, enishi_base_settings):
    runtime = Runtime(dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(
        upgrade, runtime, "core@head"
    )  # the contact is written as the code writes it; Alembic runs its own loop
    await asyncio.to_thread(upgrade, runtime, "loyalty_0001")
    now, contact_id, program_id, member_id = dt.datetime(2024, 6, 1, tzinfo=dt.UTC), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    program = sa.table(
        "loyalty_program",
        *(sa.column(c) for c in ("name", "currency", "expiry_mode", "lock_days", "downgrade_mode")),
        sa.column("id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
    )
    member = sa.table(
        "loyalty_member",
        sa.column("id", sa.Uuid()),
        sa.column("program_id", sa.Uuid()),
        sa.column("contact_id", sa.Uuid()),
        sa.column("balance"),
        sa.column("enrolled_at", UTCDateTime()),
    )
    entry = sa.table(
        "loyalty_entry",
        *(sa.column(c) for c in ("seq", "kind", "amount", "balance_after", "reason", "tier_points")),
        sa.column("id", sa.Uuid()),
        sa.column("program_id", sa.Uuid()),
        sa.column("member_id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
    )
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        for model, rows in bulk_contact_rows(
            {"id": contact_id, "custom_fields": {}, "created_at": now, "updated_at": now}, {"family_name": "山田"}, [], []
        ).items():
            if rows:
                await connection.execute(model.__table__.insert(), rows)
        await connection.execute(
            program.insert().values(
                id=program_id,
                name="縁ポイント",
                currency="JPY",
                expiry_mode="never",
                lock_days=0,
                downgrade_mode="none",
                created_at=now,
            )
        )
        await connection.execute(
            member.insert().values(id=member_id, program_id=program_id, contact_id=contact_id, balance=100, enrolled_at=now)
        )
        await connection.execute(
            entry.insert().values(
                id=uuid.uuid4(),
                seq=1,
                program_id=program_id,
                member_id=member_id,
                kind="adjust",
                amount=100,
                balance_after=100,
                reason="山田様へのお詫び",
                tier_points=0,
                created_at=now,
            )
        )
    await asyncio.to_thread(upgrade, runtime)
    async with engine.connect() as connection:
        stored = (await connection.execute(sa.text("SELECT * FROM loyalty_entry"))).mappings().one()
    await engine.dispose()
    await runtime.close()
    assert "reason" not in stored and "山田".encode() not in stored["sealed_reason"]

    api = await enishi_api(database_url=enishi_fresh_database_url)
    data = await api.graphql("{ contacts { nodes { loyalty { balance ledger { nodes { reason } } } } } }")
    assert data["contacts"]["nodes"][0]["loyalty"] == {"balance": 100, "ledger": {"nodes": [{"reason": "山田様へのお詫び"}]}}

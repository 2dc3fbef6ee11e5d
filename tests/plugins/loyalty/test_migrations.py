"""Loyalty's data migrations: reasons sealed (0002), orders moved to the core (0003), the member's
ledger counter (0005), each with nothing lost."""

import asyncio
import base64
import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa

from enishi.db import UTCDateTime, create_engine, insert_rows
from enishi.db.migrate import upgrade
from enishi.runtime import Runtime
from enishi.services.contacts import bulk_contact_rows
from tests.plugins.loyalty.helpers import ledger_ok


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
        await _insert_contact(connection, contact_id, now)
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


async def test_upgrading_moves_loyaltys_orders_into_the_cores_purchases(
    enishi_api, enishi_fresh_database_url, enishi_base_settings
):
    runtime = Runtime(dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(upgrade, runtime, "core@head")
    await asyncio.to_thread(upgrade, runtime, "loyalty_0002")
    now, contact_id, program_id, member_id = dt.datetime(2024, 6, 1, tzinfo=dt.UTC), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    purchase_id, entry_id = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        await _insert_contact(connection, contact_id, now)
        statements = [
            "INSERT INTO loyalty_program (id, name, currency, expiry_mode, lock_days, downgrade_mode, created_at) "
            "VALUES (:program, '縁ポイント', 'JPY', 'never', 0, 'none', :now)",
            "INSERT INTO loyalty_member (id, program_id, contact_id, balance, enrolled_at) "
            "VALUES (:member, :program, :contact, 50, :now)",
            "INSERT INTO loyalty_purchase (id, program_id, member_id, order_ref, total, eligible, points, purchased_at) "
            "VALUES (:purchase, :program, :member, 'OLD-1', 5000, 5000, 50, :now)",
            "INSERT INTO loyalty_entry (id, seq, program_id, member_id, kind, amount, balance_after, tier_points, created_at) "
            "VALUES (:entry, 1, :program, :member, 'earn', 50, 50, 50, :now)",
            "INSERT INTO loyalty_lot (id, member_id, entry_id, purchase_id, amount, remaining, earned_at, status) "
            "VALUES (:lot, :member, :entry, :purchase, 50, 50, :now, 'active')",
        ]
        ids = {
            "program": program_id,
            "member": member_id,
            "contact": contact_id,
            "purchase": purchase_id,
            "entry": entry_id,
            "lot": uuid.uuid4(),
        }
        await _insert(connection, statements, ids, now)
    await asyncio.to_thread(upgrade, runtime)
    await engine.dispose()
    await runtime.close()

    api = await enishi_api(database_url=enishi_fresh_database_url)
    data = await api.graphql("{ contacts { nodes { id purchases { nodes { orderId amount currency channel purchasedAt } } } } }")
    person = data["contacts"]["nodes"][0]
    assert person["purchases"]["nodes"] == [
        {"orderId": "OLD-1", "amount": 5000, "currency": "JPY", "channel": "direct", "purchasedAt": now.isoformat()}
    ]
    refund = await api.mutate(
        "refundPurchase",
        {"programId": base64.b64encode(f"LoyaltyProgram:{program_id}".encode()).decode(), "orderId": "OLD-1"},
        "points member { balance }",
    )
    assert refund == {"points": -50, "member": {"balance": 0}, "userErrors": []}


async def _insert_contact(connection, contact_id: uuid.UUID, now: dt.datetime) -> None:
    """山田, a contact as the core's bulk rows make one, for the older plugin schema's rows to name."""
    for model, rows in bulk_contact_rows(
        {"id": contact_id, "custom_fields": {}, "created_at": now, "updated_at": now}, {"family_name": "山田"}, [], []
    ).items():
        await insert_rows(connection, model, rows)


async def _insert(connection, statements: list[str], ids: dict, now: dt.datetime) -> None:
    """Rows as an older schema held them: each statement's `:name` ids typed as UUIDs, `:now` a time."""
    for statement in statements:
        used = [name for name in ids if f":{name}" in statement]
        typed = sa.text(statement).bindparams(
            *(sa.bindparam(name, type_=sa.Uuid()) for name in used), sa.bindparam("now", type_=UTCDateTime())
        )
        await connection.execute(typed, {**{name: ids[name] for name in used}, "now": now})


async def test_upgrading_gives_each_member_its_ledgers_last_number(enishi_api, enishi_fresh_database_url, enishi_base_settings):
    runtime = Runtime(dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(upgrade, runtime, "core@head")
    await asyncio.to_thread(upgrade, runtime, "loyalty_0004")
    now, contact_id = dt.datetime(2024, 6, 1, tzinfo=dt.UTC), uuid.uuid4()
    ids = {"program": uuid.uuid4(), "member": uuid.uuid4(), "contact": contact_id, "earn": uuid.uuid4(), "spend": uuid.uuid4()}
    ids |= {"empty": uuid.uuid4(), "lot": uuid.uuid4()}
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        await _insert_contact(connection, contact_id, now)
        entry = (
            "INSERT INTO loyalty_entry (id, seq, program_id, member_id, kind, amount, balance_after, tier_points, "
            "tier_dated_at, created_at) VALUES "
        )
        statements = [
            "INSERT INTO loyalty_program (id, name, currency, expiry_mode, lock_days, downgrade_mode, created_at) "
            "VALUES (:program, '縁ポイント', 'JPY', 'never', 0, 'none', :now)",
            "INSERT INTO loyalty_member (id, program_id, contact_id, balance, enrolled_at) "
            "VALUES (:member, :program, :contact, 70, :now)",
            "INSERT INTO loyalty_member (id, program_id, contact_id, balance, enrolled_at) "
            "VALUES (:empty, :program, NULL, 0, :now)",
            entry + "(:earn, 1, :program, :member, 'earn', 100, 100, 100, :now, :now)",
            entry + "(:spend, 2, :program, :member, 'spend', -30, 70, 0, :now, :now)",
            "INSERT INTO loyalty_lot (id, member_id, entry_id, amount, remaining, earned_at, status) "
            "VALUES (:lot, :member, :earn, 100, 70, :now, 'active')",
        ]
        await _insert(connection, statements, ids, now)
    await asyncio.to_thread(upgrade, runtime)
    async with engine.connect() as connection:
        counters = dict((await connection.execute(sa.text("SELECT id, last_seq FROM loyalty_member"))).all())
    await engine.dispose()
    await runtime.close()
    assert sorted(counters.values()) == [0, 2]  # the empty membership starts at 0

    api = await enishi_api(database_url=enishi_fresh_database_url)
    member_id = base64.b64encode(f"LoyaltyMember:{ids['member']}".encode()).decode()
    spent = await api.mutate("spendPoints", {"memberId": member_id, "amount": 10}, "entry { seq } member { balance }")
    assert spent == {"entry": {"seq": 3}, "member": {"balance": 60}, "userErrors": []}
    assert await ledger_ok(api)

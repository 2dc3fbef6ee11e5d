"""The same-work floor of `loyalty_spend.py`: a spend of points written by hand with SQLAlchemy Core,
no ORM, no GraphQL, doing what Enishi's `spendPoints` must do, on Enishi's own tables:

- authentication: the bearer token's SHA-256 looked up with its user, one SELECT (a read session,
  as Enishi's HTTP view does before it executes);
- in one write transaction (BEGIN IMMEDIATE on SQLite, the member row FOR UPDATE on PostgreSQL;
  on SQLite this process's writers queue on an asyncio lock first, as Enishi's unit of work does,
  rather than in SQLite's busy handler, which sleeps and polls):
  the member locked and read, its spendable lots read in the order points are taken (soonest
  expiring first, then oldest), the balance and the ledger's last sequence number updated, the ledger
  entry inserted (sequence number, balance after, actor, dates), the lots consumed in that order
  with one lot-use row each, and the `loyalty.points_spent` event written to the outbox.

Its rows are Enishi's rows: `verifyLedger` checks a ledger both servers wrote into, and Enishi's next
spend numbers its entry after the floor's. What it leaves out is what only a framework does: a
GraphQL document, permission and field checks beyond the token, the unit of work and its event
delivery to plugins, and the payload's member."""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import nullcontext

from sqlalchemy import func, insert, or_, select, update

from enishi.auth import TOKEN_PREFIX, hash_token
from enishi.db import Base, new_id
from enishi.models import ApiToken, OutboxEvent, User
from enishi.plugins.loyalty.models import LoyaltyEntry, LoyaltyLot, LoyaltyLotUse, LoyaltyMember

MEMBER, LOT, ENTRY, LOT_USE, OUTBOX = (
    Base.metadata.tables[model.__tablename__] for model in (LoyaltyMember, LoyaltyLot, LoyaltyEntry, LoyaltyLotUse, OutboxEvent)
)

# The ledger's next number, as the Enishi code beside it takes it (a "before" figure runs an older
# checkout, the floor included): from the member's counter (loyalty_0005), else max(seq).
COUNTED = "last_seq" in MEMBER.c
MEMBER_READ = [MEMBER.c.program_id, MEMBER.c.balance, *([MEMBER.c.last_seq] if COUNTED else [])]


async def _actor(reader, header: str, now: dt.datetime) -> uuid.UUID | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        return None
    async with reader() as session:
        row = (
            await session.execute(
                select(User.id, User.roles, User.is_active, ApiToken.scopes, ApiToken.expires_at)
                .join(ApiToken, ApiToken.user_id == User.id)
                .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
            )
        ).first()
    if row is None or not row.is_active or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.id


async def floor_spend(reader, writer, write_gate, clock, header: str, body: dict) -> dict:
    """`{"memberId": …, "amount": n}` → the answer's shape of `spendPoints { userErrors { code } }`."""
    now = clock.now()
    actor = await _actor(reader, header, now)
    if actor is None:
        return {"errors": [{"extensions": {"code": "UNAUTHENTICATED"}}]}
    member_id, amount = uuid.UUID(body["memberId"]), int(body["amount"])
    async with write_gate or nullcontext(), writer() as session, session.begin():
        member = (await session.execute(select(*MEMBER_READ).where(MEMBER.c.id == member_id).with_for_update())).one()
        if member.balance < amount:
            return {"data": {"spendPoints": {"userErrors": [{"code": "INSUFFICIENT_POINTS"}]}}}
        lots = (
            await session.execute(
                select(LOT.c.id, LOT.c.remaining)
                .where(
                    LOT.c.member_id == member_id,
                    LOT.c.status == "active",
                    LOT.c.remaining > 0,
                    or_(LOT.c.expires_at.is_(None), LOT.c.expires_at > now),
                )
                .order_by(LOT.c.expires_at.is_(None), LOT.c.expires_at, LOT.c.earned_at, LOT.c.id)
            )
        ).all()
        balance = member.balance - amount
        if COUNTED:
            seq = member.last_seq + 1
            await session.execute(update(MEMBER).where(MEMBER.c.id == member_id).values(balance=balance, last_seq=seq))
        else:
            last = (await session.execute(select(func.max(ENTRY.c.seq)).where(ENTRY.c.member_id == member_id))).scalar_one()
            seq = (last or 0) + 1
            await session.execute(update(MEMBER).where(MEMBER.c.id == member_id).values(balance=balance))
        entry_id = new_id()
        await session.execute(
            insert(ENTRY).values(
                id=entry_id,
                seq=seq,
                program_id=member.program_id,
                member_id=member_id,
                kind="spend",
                amount=-amount,
                balance_after=balance,
                actor_id=actor,
                tier_points=0,
                tier_dated_at=now,
                created_at=now,
            )
        )
        taken, uses = 0, []
        for lot in lots:
            if taken == amount:
                break
            take = min(lot.remaining, amount - taken)
            left = lot.remaining - take
            await session.execute(
                update(LOT).where(LOT.c.id == lot.id).values(remaining=left, status="active" if left else "spent")
            )
            uses.append({"id": new_id(), "entry_id": entry_id, "lot_id": lot.id, "amount": take})
            taken += take
        await session.execute(insert(LOT_USE), uses)
        await session.execute(
            insert(OUTBOX).values(
                id=new_id(),
                type="loyalty.points_spent",
                entity="loyalty_member",
                entity_id=member_id,
                payload={"amount": amount, "entry_id": str(entry_id)},
                actor_id=actor,
                occurred_at=now,
            )
        )
    return {"data": {"spendPoints": {"userErrors": []}}}

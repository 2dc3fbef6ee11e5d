"""The ledger audit: proves Σ ledger entries = balance = Σ remaining of active lots for every
member. Separate because it only reads, and is the check the rest of the plugin must pass."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from .models import LoyaltyEntry, LoyaltyLot, LoyaltyMember


@dataclass
class LedgerProblem:
    member_id: uuid.UUID
    ledger_sum: int
    balance: int
    lots_sum: int
    last_balance_after: int | None


async def verify_ledger(session, member_id: uuid.UUID | None = None) -> tuple[int, list[LedgerProblem]]:
    """Check Σ ledger = balance = Σ remaining of active lots = last balance_after, per member."""
    members = select(LoyaltyMember)
    if member_id is not None:
        members = members.where(LoyaltyMember.id == member_id)
    rows = (await session.execute(members)).scalars().all()
    ledger = dict(
        (
            await session.execute(select(LoyaltyEntry.member_id, func.sum(LoyaltyEntry.amount)).group_by(LoyaltyEntry.member_id))
        ).all()
    )
    lots = dict(
        (
            await session.execute(
                select(LoyaltyLot.member_id, func.sum(LoyaltyLot.remaining))
                .where(LoyaltyLot.status == "active")
                .group_by(LoyaltyLot.member_id)
            )
        ).all()
    )
    latest = select(LoyaltyEntry.member_id, func.max(LoyaltyEntry.seq).label("seq")).group_by(LoyaltyEntry.member_id).subquery()
    last = dict(
        (
            await session.execute(
                select(LoyaltyEntry.member_id, LoyaltyEntry.balance_after).join(
                    latest, and_(latest.c.member_id == LoyaltyEntry.member_id, latest.c.seq == LoyaltyEntry.seq)
                )
            )
        ).all()
    )
    problems = []
    for member in rows:
        ledger_sum, lots_sum = int(ledger.get(member.id) or 0), int(lots.get(member.id) or 0)
        last_after = last.get(member.id)
        if not (ledger_sum == member.balance == lots_sum and (last_after is None or last_after == member.balance)):
            problems.append(LedgerProblem(member.id, ledger_sum, member.balance, lots_sum, last_after))
    return len(rows), problems

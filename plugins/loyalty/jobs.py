"""The scheduled jobs: unlocking purchase points after their return window, expiring lots past
their date, and the periodic tier review. Separate because they run outside any request, one
member per transaction, over the ledger operations of service.py."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from enishi.plugin import load_for_update

from .models import LoyaltyLot, LoyaltyMember
from .service import append_entry, expire_member_lots, pay_debts
from .tiers import evaluate_tier


async def _due_lots(runtime, status: str, column) -> list[tuple[uuid.UUID, uuid.UUID]]:
    async with runtime.read_session() as session:
        rows = await session.execute(
            select(LoyaltyLot.id, LoyaltyLot.member_id)
            .where(LoyaltyLot.status == status, column.is_not(None), column <= runtime.clock.now())
            .order_by(column)
        )
        return list(rows)


async def expire_due(runtime) -> int:
    """The scheduled job. Idempotent: each member's lots are re-read under the member's lock, so a
    second run (or a second worker) finds nothing left to do."""
    expired = 0
    member_ids = dict.fromkeys(member_id for _, member_id in await _due_lots(runtime, "active", LoyaltyLot.expires_at))
    for member_id in member_ids:
        async with runtime.unit_of_work() as uow:
            expired += await expire_member_lots(uow, await load_for_update(uow, LoyaltyMember, member_id))
    return expired


async def unlock_due(runtime) -> int:
    unlocked = 0
    for lot_id, member_id in await _due_lots(runtime, "locked", LoyaltyLot.unlocks_at):
        async with runtime.unit_of_work() as uow:
            member = await load_for_update(uow, LoyaltyMember, member_id)
            lot = await uow.session.get(LoyaltyLot, lot_id, populate_existing=True)
            if lot.status != "locked":
                continue
            entry = await append_entry(
                uow,
                member,
                "unlock",
                lot.amount,
                reason="return window passed",
                source=("purchase", str(lot.purchase_id)),
                tier_points=lot.amount,
                tier_dated_at=lot.earned_at,  # the purchase's date
            )
            lot.status, lot.entry_id = "active", entry.id  # its expiry counts from the purchase, set when recorded
            await pay_debts(uow, member, lot)
            await evaluate_tier(uow, member)
            unlocked += 1
    return unlocked


async def review_tiers(runtime) -> int:
    async with runtime.read_session() as session:
        member_ids = list(
            (await session.execute(select(LoyaltyMember.id).where(LoyaltyMember.contact_id.is_not(None)))).scalars()
        )
    for member_id in member_ids:
        async with runtime.unit_of_work() as uow:
            await evaluate_tier(uow, await load_for_update(uow, LoyaltyMember, member_id), review=True)
    return len(member_ids)

"""Loyalty tiers: the rolling 365-day window of earned points, upgrades and downgrades, and the
multiplier a tier gives. Separate because tiers are judged from the ledger but never write to it,
so the ledger and every other loyalty module can ask for a tier without an import cycle."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from enishi.plugin import (
    Checker,
    UnitOfWork,
    load_for_update,
    log_activity,
)

from .events import TIER_CHANGED
from .models import (
    LoyaltyEntry,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
)

TIER_WINDOW = dt.timedelta(days=365)


async def upsert_tier(
    uow: UnitOfWork, program_id: uuid.UUID, name: str, threshold: int, multiplier_percent: int = 100
) -> LoyaltyTier:
    await load_for_update(uow, LoyaltyProgram, program_id, field="programId")
    check = Checker()
    name = check.text({"name": name}, "name", max_length=100, required=True)
    if threshold < 0:
        check.fail("threshold", "must not be negative", "OUT_OF_RANGE")
    if not 0 < multiplier_percent <= 1000:
        check.fail("multiplier_percent", "must be between 1 and 1000", "OUT_OF_RANGE")
    check.done()
    tier = (
        await uow.session.execute(select(LoyaltyTier).where(LoyaltyTier.program_id == program_id, LoyaltyTier.name == name))
    ).scalar_one_or_none()
    if tier is None:
        tier = LoyaltyTier(program_id=program_id, name=name)
        uow.session.add(tier)
    tier.threshold, tier.multiplier_percent = threshold, multiplier_percent
    await uow.session.flush()
    return tier


async def tier_multiplier(uow: UnitOfWork, member: LoyaltyMember) -> int:
    tier = await uow.session.get(LoyaltyTier, member.tier_id) if member.tier_id else None
    return tier.multiplier_percent if tier else 100


async def earned_in_window(session, member_id, now: dt.datetime) -> int:
    total = (
        await session.execute(
            select(func.coalesce(func.sum(LoyaltyEntry.tier_points), 0)).where(
                LoyaltyEntry.member_id == member_id, LoyaltyEntry.tier_dated_at > now - TIER_WINDOW
            )
        )
    ).scalar_one()
    return int(total)


async def tiers_of(session, program_id) -> list[LoyaltyTier]:
    return list(
        (
            await session.execute(select(LoyaltyTier).where(LoyaltyTier.program_id == program_id).order_by(LoyaltyTier.threshold))
        ).scalars()
    )


async def evaluate_tier(uow: UnitOfWork, member: LoyaltyMember, *, review: bool = False) -> None:
    """Upgrades happen at once; downgrades per the program's mode (never, at once, or at review)."""
    tiers = await tiers_of(uow.session, member.program_id)
    if not tiers:
        return
    earned = await earned_in_window(uow.session, member.id, uow.clock.now())
    qualified = [t for t in tiers if t.threshold <= earned]
    target = qualified[-1] if qualified else None
    current = next((t for t in tiers if t.id == member.tier_id), None)
    program = await uow.session.get_one(LoyaltyProgram, member.program_id)
    current_threshold = current.threshold if current else -1
    target_threshold = target.threshold if target else -1
    if target_threshold < current_threshold and not (
        program.downgrade_mode == "automatic" or (program.downgrade_mode == "periodic" and review)
    ):
        return
    if target_threshold == current_threshold:
        return
    member.tier_id = target.id if target else None
    await uow.session.flush()
    change = {"from": current.name if current else None, "to": target.name if target else None}
    await uow.emit(TIER_CHANGED, member.id, change)
    if member.contact_id is not None:
        await log_activity(
            uow,
            {
                "type": "loyalty.tier_changed",
                "summary": f"Tier: {change['from'] or '—'} → {change['to'] or '—'}",
                "contact_ids": [member.contact_id],
            },
            source_plugin="loyalty",
        )

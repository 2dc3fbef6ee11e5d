"""What happens to memberships when their contacts are merged or erased: points move to the
survivor lot by lot; an erased member keeps a balanced ledger that no longer names the person.
Separate because only the core's merge and data-subject hooks call it."""

from __future__ import annotations

from sqlalchemy import select

from enishi.plugin import UnitOfWork, shred_records

from .models import (
    LoyaltyLot,
    LoyaltyLotUse,
    LoyaltyMember,
    LoyaltyMemberKey,
)
from .service import add_lot, append_entry


async def merge_memberships(uow: UnitOfWork, survivor_contact_id, merged_contact_ids, dry_run: bool) -> int:
    """Contacts merged: a membership moves to the survivor; where the survivor has one in the same
    program already, the points move lot by lot (keeping each lot's expiry) through two
    adjustments, and the emptied membership stays behind with its history."""
    moved = 0
    merged = (
        (
            await uow.session.execute(
                select(LoyaltyMember)
                .where(LoyaltyMember.contact_id.in_(merged_contact_ids))
                .order_by(LoyaltyMember.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    for member in merged:
        moved += 1
        if dry_run:
            continue
        survivor = (
            await uow.session.execute(
                select(LoyaltyMember)
                .where(LoyaltyMember.program_id == member.program_id, LoyaltyMember.contact_id == survivor_contact_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if survivor is None:
            member.contact_id = survivor_contact_id
            continue
        lots = (
            (
                await uow.session.execute(
                    select(LoyaltyLot).where(
                        LoyaltyLot.member_id == member.id, LoyaltyLot.status == "active", LoyaltyLot.remaining > 0
                    )
                )
            )
            .scalars()
            .all()
        )
        for lot in lots:
            points = lot.remaining
            out = await append_entry(uow, member, "adjust", -points, reason="moved to the surviving contact on merge")
            uow.session.add(LoyaltyLotUse(entry_id=out.id, lot_id=lot.id, amount=points))
            lot.remaining, lot.status = 0, "spent"
            into = await append_entry(uow, survivor, "adjust", points, reason="moved from a merged contact")
            new_lot = await add_lot(uow, survivor, into, points)
            new_lot.expires_at, new_lot.earned_at = lot.expires_at, lot.earned_at
        await uow.session.flush()
    return moved


async def unlink_member(uow: UnitOfWork, contact_id) -> dict:
    """Erasure: the ledger stays whole (it must still balance, and is never rewritten) but no
    longer points at the person, and the reasons on it are unreadable for good (the membership's
    key destroyed)."""
    members = (await uow.session.execute(select(LoyaltyMember).where(LoyaltyMember.contact_id == contact_id))).scalars().all()
    for member in members:
        member.contact_id, member.referral_code = None, None
    await uow.session.flush()
    return {
        "loyalty_member:anonymise": len(members),
        "loyalty_member:shred": await shred_records(uow, LoyaltyMemberKey.member_id, [member.id for member in members]),
    }

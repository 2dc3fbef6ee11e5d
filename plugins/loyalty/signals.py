"""What loyalty tells customer-health scores (`enishi_customer_signals`): a member's last own
points movement (earning or spending; an expiry or an adjustment is not the member's doing).
Memberships are people's, so accounts get no signal."""

from __future__ import annotations

from sqlalchemy import func, select

from enishi.plugin import CustomerSignal

from .models import LoyaltyEntry, LoyaltyMember

MEMBER_MOVES = ("earn", "spend")


async def customer_signals(session, kind: str, customer_ids, now) -> list[CustomerSignal]:
    """Of `customer_ids`, or of every member when None."""
    if kind != "contact":
        return []
    rows = await session.execute(
        select(LoyaltyMember.contact_id, func.max(LoyaltyEntry.created_at))
        .join(LoyaltyEntry, LoyaltyEntry.member_id == LoyaltyMember.id)
        .where(
            LoyaltyMember.contact_id.is_not(None) if customer_ids is None else LoyaltyMember.contact_id.in_(list(customer_ids)),
            LoyaltyEntry.kind.in_(MEMBER_MOVES),
            LoyaltyEntry.created_at <= now,
        )
        .group_by(LoyaltyMember.contact_id)
    )
    return [CustomerSignal(contact_id, "loyalty.last_activity", at=last) for contact_id, last in rows]

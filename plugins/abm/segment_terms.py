"""ABM's term for saved segments (`enishi_segment_terms`): `{key: "abm.tier", value: "tier_1"}`,
the target accounts of that tier, or for a contact segment the people at them."""

from __future__ import annotations

from sqlalchemy import select

from enishi.plugin import ContactAccount, InvalidArgument, SegmentTerm

from .models import TIERS, AbmTargetAccount


def _tier_members(kind: str, value, now):
    if value not in TIERS:
        raise InvalidArgument(f"abm.tier is one of: {', '.join(TIERS)}")
    targets = select(AbmTargetAccount.account_id).where(AbmTargetAccount.tier == value)
    if kind == "account":
        return targets
    return select(ContactAccount.contact_id).where(ContactAccount.account_id.in_(targets))


TERMS = [
    SegmentTerm(
        "abm.tier",
        "Target accounts of this tier (tier_1, tier_2, tier_3); for contacts, the people at them.",
        ("contact", "account"),
        _tier_members,
    )
]

"""Loyalty's term for saved segments (`enishi_segment_terms`): `{key: "loyalty.tier", value:
"Gold"}`, the members currently in a tier of that name (in any programme)."""

from __future__ import annotations

from sqlalchemy import select

from enishi.plugin import InvalidArgument, SegmentTerm

from .models import LoyaltyMember, LoyaltyTier


def _tier_members(kind: str, value, now):
    if not isinstance(value, str) or not 1 <= len(value) <= 100:
        raise InvalidArgument("loyalty.tier is a tier's name")
    return (
        select(LoyaltyMember.contact_id)
        .join(LoyaltyTier, LoyaltyTier.id == LoyaltyMember.tier_id)
        .where(LoyaltyTier.name == value, LoyaltyMember.contact_id.is_not(None))
    )


TERMS = [SegmentTerm("loyalty.tier", "Members currently in the tier of this name.", ("contact",), _tier_members)]

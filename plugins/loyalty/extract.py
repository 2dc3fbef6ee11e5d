"""Ledger entries as a source of pseudonymised extracts (`enishi_extract_sources`): kind, amount,
balance after, tier points and the day, under HMACs of the entry's id, its membership's and its
member's (the person). The reason, the source reference and the idempotency key are left out."""

from __future__ import annotations

from sqlalchemy import select

from enishi.plugin import ExtractSource

from .models import LoyaltyEntry, LoyaltyMember

COLUMNS = ("entry", "member", "person", "kind", "amount", "balance_after", "tier_points", "written_on")


async def rows(session, zone) -> list[dict]:
    entries = await session.execute(
        select(LoyaltyEntry, LoyaltyMember.contact_id)
        .join(LoyaltyMember, LoyaltyMember.id == LoyaltyEntry.member_id)
        .order_by(LoyaltyEntry.member_id, LoyaltyEntry.seq)
    )
    return [
        {
            "entry": entry.id,
            "member": entry.member_id,
            "person": contact_id,
            "kind": entry.kind,
            "amount": entry.amount,
            "balance_after": entry.balance_after,
            "tier_points": entry.tier_points,
            "written_on": entry.created_at.astimezone(zone).date().isoformat(),
        }
        for entry, contact_id in entries.all()
    ]


SOURCE = ExtractSource("loyalty_entries", COLUMNS, ("entry", "member", "person"), rows, "points ledger entries, no reasons")

"""Tickets as a source of pseudonymised extracts (`enishi_extract_sources`): how each ticket went —
status, priority, channel, tags, the days it was opened, solved and closed, how often it was
reopened — under HMACs of its id, its requester's and its company's. The subject, messages,
custom fields, people and agents are left out."""

from __future__ import annotations

from sqlalchemy import select

from enishi.plugin import ExtractSource

from .models import SupportTicket

COLUMNS = (
    "ticket",
    "requester",
    "account",
    "status",
    "priority",
    "channel",
    "tags",
    "created_on",
    "solved_on",
    "closed_on",
    "reopened",
)


def _day(instant, zone) -> str | None:
    return instant.astimezone(zone).date().isoformat() if instant else None


async def rows(session, zone) -> list[dict]:
    live = select(SupportTicket).where(SupportTicket.merged_into_id.is_(None))
    tickets = await session.execute(live.order_by(SupportTicket.id))
    return [
        {
            "ticket": t.id,
            "requester": t.requester_id,
            "account": t.account_id,
            "status": t.status,
            "priority": t.priority,
            "channel": t.channel,
            "tags": " ".join(sorted(t.tags or [])),
            "created_on": _day(t.created_at, zone),
            "solved_on": _day(t.solved_at, zone),
            "closed_on": _day(t.closed_at, zone),
            "reopened": t.reopened_count,
        }
        for t in tickets.scalars()
    ]


SOURCE = ExtractSource(
    "support_tickets", COLUMNS, ("ticket", "requester", "account"), rows, "support tickets: how each went, no text"
)

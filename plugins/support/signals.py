"""What support tells customer-health scores (`enishi_customer_signals`): how many tickets a
customer opened in the window and how many SLA timers of theirs breached in it. Support knows
nothing of who asks (the insights plugin, or none)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

from sqlalchemy import or_, select

from enishi.plugin import CustomerSignal

from .models import STOPPED, SupportTicket
from .sla import timers


async def customer_signals(session, kind: str, customer_ids, since: dt.datetime, now: dt.datetime) -> list[CustomerSignal]:
    """Of `customer_ids`, or of every customer of `kind` with a ticket when None."""
    column = SupportTicket.requester_id if kind == "contact" else SupportTicket.account_id
    # A breach in the window belongs to a ticket opened in it or still open during it.
    tickets = (
        await session.execute(
            select(SupportTicket).where(
                column.is_not(None) if customer_ids is None else column.in_(list(customer_ids)),
                SupportTicket.status != "merged",
                or_(SupportTicket.created_at >= since, SupportTicket.status.not_in(STOPPED)),
                SupportTicket.created_at <= now,
            )
        )
    ).scalars()
    opened: Counter[uuid.UUID] = Counter()
    breached: Counter[uuid.UUID] = Counter()
    for ticket in tickets:
        owner = getattr(ticket, column.key)
        opened[owner] += ticket.created_at >= since
        breached[owner] += sum(
            1 for timer in await timers(session, ticket, now) if timer.breached_at is not None and timer.breached_at >= since
        )
    return [CustomerSignal(owner, "support.tickets", count) for owner, count in opened.items() if count] + [
        CustomerSignal(owner, "support.sla_breaches", count) for owner, count in breached.items() if count
    ]

"""Support metrics per agent, group or priority: first reply, resolution, first-contact
resolution, backlog, SLA attainment and CSAT. Separate because it only reads, over many tickets
at once."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import select

from .models import (
    STOPPED,
    SupportArticle,
    SupportCsat,
    SupportTicket,
)
from .sla import WRITTEN_HERE, timers


@dataclass
class MetricsRow:
    key: str
    tickets: int
    first_reply_median_minutes: float | None
    mttr_minutes: float | None
    fcr_percent: float | None
    backlog: int
    sla_attainment_percent: float | None
    csat_percent: float | None
    csat_answers: int


async def metrics(session, start: dt.datetime, end: dt.datetime | None, group_by: str, now: dt.datetime) -> list[MetricsRow]:
    """Over tickets created in [start, end) (no end: up to now): first-reply time (median, calendar minutes), mean
    time to resolution, first-contact resolution (solved with one public agent reply and
    never reopened: a reopen at any later time means the first answer did not resolve it), backlog
    (open at `end`), SLA attainment (timers met), CSAT (4–5 good)."""
    period = select(SupportTicket).where(SupportTicket.created_at >= start, SupportTicket.status != "merged")
    if end is not None:
        period = period.where(SupportTicket.created_at < end)
    tickets = (await session.execute(period)).scalars().all()
    key_of = {"agent": lambda t: str(t.assignee_id), "group": lambda t: str(t.group_id), "priority": lambda t: t.priority}[
        group_by
    ]
    groups: dict[str, list] = {}
    for ticket in tickets:
        groups.setdefault(key_of(ticket), []).append(ticket)
    rows = []
    for key, members in sorted(groups.items()):
        ids = [t.id for t in members]
        articles = (
            (
                await session.execute(
                    select(SupportArticle)
                    .where(
                        SupportArticle.ticket_id.in_(ids),
                        SupportArticle.public.is_(True),
                        SupportArticle.author_type == "agent",
                        WRITTEN_HERE,
                    )
                    .order_by(SupportArticle.created_at)
                )
            )
            .scalars()
            .all()
        )
        replies: dict = {}
        for article in articles:
            replies.setdefault(article.ticket_id, []).append(article.created_at)
        first = [(replies[t.id][0] - t.created_at).total_seconds() / 60 for t in members if t.id in replies]
        solved = [t for t in members if t.solved_at is not None or t.status == "closed"]
        resolution = [
            ((t.solved_at or t.closed_at) - t.created_at).total_seconds() / 60 for t in solved if (t.solved_at or t.closed_at)
        ]
        fcr = [t for t in solved if len(replies.get(t.id, [])) == 1 and t.reopened_count == 0]
        met = total = 0
        for ticket in members:
            for timer in await timers(session, ticket, now):
                if timer.fulfilled_at is not None or timer.breached_at is not None:
                    total += 1
                    met += timer.breached_at is None
        answers = (
            (
                await session.execute(
                    select(SupportCsat.rating).where(SupportCsat.ticket_id.in_(ids), SupportCsat.status == "answered")
                )
            )
            .scalars()
            .all()
        )
        rows.append(
            MetricsRow(
                key=key,
                tickets=len(members),
                first_reply_median_minutes=round(statistics.median(first), 1) if first else None,
                mttr_minutes=round(statistics.mean(resolution), 1) if resolution else None,
                fcr_percent=round(100 * len(fcr) / len(solved), 1) if solved else None,
                backlog=sum(1 for t in members if t.status not in STOPPED),
                sla_attainment_percent=round(100 * met / total, 1) if total else None,
                csat_percent=round(100 * sum(1 for r in answers if r >= 4) / len(answers), 1) if answers else None,
                csat_answers=len(answers),
            )
        )
    return rows

"""SLA timers, computed from a ticket's status history and its messages, never stored as running
counters: time in pausing statuses (pending, on_hold) does not count, solved/closed/merged stop
the clock.

Only messages written on the ticket itself count toward its reply targets. A merge moves another
ticket's conversation in (`merged_from_id` says where each message was written); those replies
answered someone else's request at another time, and counting them would rewrite the
survivor's past: fulfil a first reply it never got, or undo a breach whose events already
fired."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from .calendar import BusinessCalendar
from .models import PAUSING, STOPPED, SupportArticle, SupportCalendar, SupportSlaPolicy, SupportStatusChange, SupportTicket

WRITTEN_HERE = SupportArticle.merged_from_id.is_(None)  # the messages that count toward this ticket's timers


@dataclass
class Timer:
    kind: str
    target_minutes: float
    started_at: dt.datetime
    due_at: dt.datetime | None
    fulfilled_at: dt.datetime | None
    breached_at: dt.datetime | None
    elapsed_business_minutes: float
    paused: bool


def _active_intervals(history, until):
    """(start, end) spans in which the clock runs, from the status history, cut at `until`."""
    spans = []
    for (at, status), nxt in zip(history, [*history[1:], (until, None)], strict=True):
        end = min(nxt[0], until)
        if status not in PAUSING and status not in STOPPED and at < end:
            spans.append((at, end))
    return spans


def compute_timer(
    calendar: BusinessCalendar,
    history,
    kind: str,
    target: float,
    start: dt.datetime,
    fulfilled_at: dt.datetime | None,
    now: dt.datetime,
) -> Timer:
    end = fulfilled_at or now
    elapsed, due = 0.0, None
    for a, b in _active_intervals(history, end):
        a = max(a, start)
        if a >= b:
            continue
        available = calendar.minutes_between(a, b)
        if due is None and elapsed + available >= target:
            due = calendar.add_minutes(a, target - elapsed)
        elapsed += available
    last_status = next((status for at, status in reversed(history) if at <= end), None)
    running = last_status is not None and last_status not in PAUSING and last_status not in STOPPED
    if due is None and running:
        due = calendar.add_minutes(end, target - elapsed)
    breached = due if due is not None and due <= end and (fulfilled_at is None or due < fulfilled_at) else None
    return Timer(kind, target, start, due, fulfilled_at, breached, round(elapsed, 2), paused=not running and fulfilled_at is None)


def _next_reply_cycle(articles) -> tuple[dt.datetime, dt.datetime | None] | None:
    """The current (or last) wait for an agent: from the first customer message after an agent's
    public reply until the agent's next public reply."""
    replied, waiting_since, cycle = False, None, None
    for article in articles:
        if article.author_type == "agent":
            if waiting_since is not None:
                cycle, waiting_since = (waiting_since, article.created_at), None
            replied = True
        elif article.author_type == "customer" and replied and waiting_since is None:
            waiting_since = article.created_at
    return (waiting_since, None) if waiting_since is not None else cycle


async def timers(session, ticket: SupportTicket, now: dt.datetime) -> list[Timer]:
    policy = await session.get(SupportSlaPolicy, ticket.policy_id) if ticket.policy_id else None
    if policy is None:
        return []
    targets = (policy.targets or {}).get(ticket.priority, {})
    calendar_row = await session.get(SupportCalendar, policy.calendar_id) if policy.calendar_id else None
    calendar = BusinessCalendar.from_row(calendar_row) if calendar_row else BusinessCalendar.around_the_clock()
    history = [
        (c.changed_at, c.status)
        for c in (
            await session.execute(
                select(SupportStatusChange)
                .where(SupportStatusChange.ticket_id == ticket.id)
                .order_by(SupportStatusChange.changed_at, SupportStatusChange.id)
            )
        ).scalars()
    ]
    articles = (
        (
            await session.execute(
                select(SupportArticle)
                .where(SupportArticle.ticket_id == ticket.id, SupportArticle.public.is_(True), WRITTEN_HERE)
                .order_by(SupportArticle.created_at, SupportArticle.id)
            )
        )
        .scalars()
        .all()
    )
    agent_replies = [a.created_at for a in articles if a.author_type == "agent"]
    result = []
    if "first_reply" in targets:
        result.append(
            compute_timer(
                calendar,
                history,
                "first_reply",
                targets["first_reply"],
                ticket.created_at,
                agent_replies[0] if agent_replies else None,
                now,
            )
        )
    if "next_reply" in targets and (cycle := _next_reply_cycle(articles)) is not None:
        result.append(compute_timer(calendar, history, "next_reply", targets["next_reply"], cycle[0], cycle[1], now))
    if "periodic_update" in targets and agent_replies and ticket.status not in STOPPED:
        result.append(
            compute_timer(calendar, history, "periodic_update", targets["periodic_update"], agent_replies[-1], None, now)
        )
    if "resolution" in targets:
        result.append(
            compute_timer(calendar, history, "resolution", targets["resolution"], ticket.created_at, ticket.solved_at, now)
        )
    return result

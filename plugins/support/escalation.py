"""Escalation: the sweep that fires SLA warnings, breaches and escalation rules (reassign, raise
the priority) exactly once per timer cycle. Separate because it runs on a schedule over the timers
of sla.py, not inside a ticket request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from enishi.plugin import UnitOfWork

from .events import ESCALATED, SLA_BREACHED, SLA_WARNING
from .models import (
    STOPPED,
    SupportEscalationFired,
    SupportEscalationRule,
    SupportTicket,
)
from .service import auto_assign
from .sla import timers

PRIORITY_UP = {"low": "normal", "normal": "high", "high": "urgent", "urgent": "urgent"}


async def _escalate_ticket(uow: UnitOfWork, ticket: SupportTicket, now: dt.datetime) -> int:
    rules = (
        (
            await uow.session.execute(
                select(SupportEscalationRule)
                .where(SupportEscalationRule.policy_id == ticket.policy_id)
                .order_by(SupportEscalationRule.level)
            )
        )
        .scalars()
        .all()
    )
    if not rules:
        return 0
    fired = 0
    for timer in await timers(uow.session, ticket, now):
        if timer.fulfilled_at is not None:
            continue
        cycle = f"{timer.kind}:{timer.started_at.isoformat()}"
        for rule in (r for r in rules if r.timer == timer.kind):
            if rule.percent is not None:
                due = timer.elapsed_business_minutes >= timer.target_minutes * rule.percent / 100
            else:
                if rule.minutes_after_breach is None:  # add_escalation_rule gives one or the other; no constraint does
                    raise RuntimeError(f"escalation rule {rule.id}: neither a percent nor minutes after the breach")
                due = timer.breached_at is not None and now >= timer.breached_at + dt.timedelta(minutes=rule.minutes_after_breach)
            if not due:
                continue
            try:
                async with uow.session.begin_nested():
                    uow.session.add(SupportEscalationFired(ticket_id=ticket.id, rule_id=rule.id, cycle=cycle, fired_at=now))
            except IntegrityError:
                continue  # fired already: exactly once, however many sweeps run
            fired += 1
            payload = {"timer": timer.kind, "level": rule.level}
            if rule.level == 0:
                await uow.emit(SLA_WARNING, ticket.id, payload)
                continue
            if rule.minutes_after_breach == 0 or rule.level == 1:
                await uow.emit(SLA_BREACHED, ticket.id, payload)
            if rule.reassign_group_id is not None:
                ticket.group_id, ticket.assignee_id = rule.reassign_group_id, None
                await auto_assign(uow, ticket)
            if rule.raise_priority:
                ticket.priority = PRIORITY_UP[ticket.priority]
            await uow.emit(ESCALATED, ticket.id, payload)
    await uow.session.flush()
    return fired


async def sweep_escalations(runtime) -> int:
    """Fire the escalation rules that are due. Each ticket is handled under its row lock and each
    firing is a unique row, so two sweeps at once (two workers) fire every rule exactly once."""
    async with runtime.read_session() as session:
        ids = list(
            (
                await session.execute(
                    select(SupportTicket.id).where(SupportTicket.status.not_in(STOPPED), SupportTicket.policy_id.is_not(None))
                )
            ).scalars()
        )
    fired = 0
    for ticket_id in ids:
        async with runtime.unit_of_work() as uow:
            ticket = await uow.session.get(SupportTicket, ticket_id, with_for_update=True, populate_existing=True)
            if ticket is not None and ticket.status not in STOPPED:
                fired += await _escalate_ticket(uow, ticket, runtime.clock.now())
    return fired

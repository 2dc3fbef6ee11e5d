"""The support plugin's workflow step: escalate the trigger's ticket — one priority up (or to
the priority the definition names), the SLA policy applied again as for any priority change."""

from __future__ import annotations

from enishi.plugin import InputError, UnitOfWork, UserError, WorkflowStep, WorkflowStepType

from .escalation import PRIORITY_UP
from .events import TICKET
from .models import PRIORITIES, SupportTicket
from .service import update_ticket


async def escalate_ticket(uow: UnitOfWork, step: WorkflowStep) -> dict:
    ticket = await uow.session.get(SupportTicket, step.record_id) if step.entity == TICKET and step.record_id else None
    if ticket is None:
        raise InputError(UserError("record", "the trigger's record is no ticket", "NO_TICKET"))
    before = ticket.priority
    wanted = step.params.get("priority") or PRIORITY_UP[before]
    if PRIORITIES.index(wanted) > PRIORITIES.index(before):
        await update_ticket(uow, ticket.id, {"priority": wanted})
    return {"ticket_id": str(ticket.id), "priority_before": before, "priority": ticket.priority}


STEP_TYPES = [
    WorkflowStepType(
        "support.escalate_ticket",
        "Raise the trigger's ticket one priority up, or to `priority` (never down).",
        escalate_ticket,
        parameters={"priority": {"enum": list(PRIORITIES)}},
    )
]

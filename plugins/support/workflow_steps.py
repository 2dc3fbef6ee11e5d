"""The support plugin's workflow steps: escalate the trigger's ticket — one priority up (or to
the priority the definition names), the SLA policy applied again as for any priority change —
and create a ticket for the trigger's customer, through the same service as `createTicket`.

Each runs inside the run's transaction beside the step's idempotency key (the automation
plugin's exactly-once machinery): a ticket is created once however often the step is tried."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from enishi.plugin import Account, Base, ContactAccount, InputError, UnitOfWork, UserError, WorkflowStep, WorkflowStepType

from .escalation import PRIORITY_UP
from .events import TICKET
from .models import PRIORITIES, SupportTicket
from .service import MAX_TAG_LENGTH, MAX_TAGS, create_ticket, update_ticket


async def escalate_ticket(uow: UnitOfWork, step: WorkflowStep) -> dict:
    ticket = await uow.session.get(SupportTicket, step.record_id) if step.entity == TICKET and step.record_id else None
    if ticket is None:
        raise InputError(UserError("record", "the trigger's record is no ticket", "NO_TICKET"))
    before = ticket.priority
    wanted = step.params.get("priority") or PRIORITY_UP[before]
    if PRIORITIES.index(wanted) > PRIORITIES.index(before):
        await update_ticket(uow, ticket.id, {"priority": wanted})
    return {"ticket_id": str(ticket.id), "priority_before": before, "priority": ticket.priority}


# The columns naming a record's customer, on the trigger's record when it is not a contact or an
# account itself (a ticket names its requester, a loyalty member or a purchase its contact).
_CUSTOMER_COLUMNS = {"contact": ("contact_id", "requester_id"), "account": ("account_id",)}


async def _customer(uow: UnitOfWork, step: WorkflowStep, kind: str) -> uuid.UUID | None:
    """The trigger's contact or account: the record itself when it is one, else the one it names."""
    if step.record_id is None:
        return None
    if step.entity == kind:
        return step.record_id
    table = Base.metadata.tables.get(step.entity)  # a plugin's record (a core event's entity is a contact or an account)
    columns = [table.c[name] for name in _CUSTOMER_COLUMNS[kind] if name in table.c] if table is not None else []
    if table is None or not columns:
        return None
    return await uow.session.scalar(select(columns[0]).where(table.c.id == step.record_id))


async def _primary_account(uow: UnitOfWork, contact_id: uuid.UUID | None) -> uuid.UUID | None:
    """The contact's main account (its primary link), if live."""
    if contact_id is None:
        return None
    return await uow.session.scalar(
        select(ContactAccount.account_id)
        .join(Account, Account.id == ContactAccount.account_id)
        .where(ContactAccount.contact_id == contact_id, ContactAccount.is_primary.is_(True), Account.deleted_at.is_(None))
    )


async def create_ticket_for(uow: UnitOfWork, step: WorkflowStep) -> dict:
    requester = await _customer(uow, step, "contact")
    ticket = await create_ticket(
        uow,
        {
            "subject": step.params["subject"],
            "body": step.params.get("body"),
            "priority": step.params.get("priority"),
            "tags": step.params.get("tags"),
            "channel": "workflow",
            "requester_id": requester,
            # The account the record is or names; for a contact alone, their main account.
            "account_id": await _customer(uow, step, "account") or await _primary_account(uow, requester),
        },
    )
    return {"ticket_id": str(ticket.id), "number": ticket.number, "priority": ticket.priority}


STEP_TYPES = [
    WorkflowStepType(
        "support.escalate_ticket",
        "Raise the trigger's ticket one priority up, or to `priority` (never down).",
        escalate_ticket,
        parameters={"priority": {"enum": list(PRIORITIES)}},
    ),
    WorkflowStepType(
        "support.create_ticket",
        "Open a ticket (channel `workflow`) for the trigger's customer: the contact it is or names (its requester) and "
        "the account it is or names (else the contact's main account); its assignee and SLA policy as for any new ticket.",
        create_ticket_for,
        parameters={
            "subject": {"type": "string", "minLength": 1, "maxLength": 300},
            "body": {"type": "string", "minLength": 1, "maxLength": 10_000, "description": "The ticket's first message."},
            "priority": {"enum": list(PRIORITIES)},
            "tags": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH},
                "maxItems": MAX_TAGS,
                "uniqueItems": True,
            },
        },
        required=("subject",),
    ),
]

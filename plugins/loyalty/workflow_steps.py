"""The loyalty plugin's workflow step: award points to the trigger's member (a loyalty event) or
to the trigger's contact in the one program they belong to, once per run and step (the step's
key is the ledger's idempotency key)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from enishi.plugin import InputError, UnitOfWork, UserError, WorkflowStep, WorkflowStepType

from .events import MEMBER
from .models import LoyaltyMember
from .service import earn


async def _member_id(uow: UnitOfWork, step: WorkflowStep) -> uuid.UUID:
    if step.entity == MEMBER and step.record_id is not None:
        return step.record_id
    if step.entity in ("contact", "core_contact") and step.record_id is not None:
        members = (await uow.session.scalars(select(LoyaltyMember.id).where(LoyaltyMember.contact_id == step.record_id))).all()
        if len(members) == 1:
            return members[0]
        raise InputError(UserError("record", "the contact belongs to no loyalty program, or to several", "NO_SINGLE_MEMBERSHIP"))
    raise InputError(UserError("record", "the trigger's record is no member and no contact", "NO_MEMBER"))


async def award_points(uow: UnitOfWork, step: WorkflowStep) -> dict:
    member_id = await _member_id(uow, step)
    entry = await earn(uow, member_id, step.params["points"], reason=step.params.get("reason"), key=step.key)
    return {"member_id": str(member_id), "entry_id": str(entry.id), "points": step.params["points"]}


STEP_TYPES = [
    WorkflowStepType(
        "loyalty.award_points",
        "Award points to the trigger's member, or to the trigger's contact in their one program.",
        award_points,
        parameters={
            "points": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
            "reason": {"type": "string", "maxLength": 200},
        },
        required=("points",),
    )
]

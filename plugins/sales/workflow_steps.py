"""The sales plugin's workflow step: move a deal (the trigger's, or the deal of the trigger's
quote or contract) to a stage of its pipeline named in the definition."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from enishi.plugin import InputError, UnitOfWork, UserError, WorkflowStep, WorkflowStepType

from . import deals
from .models import SalesContract, SalesDeal, SalesQuote, SalesStage

_DEAL_OF: dict[str, type[SalesQuote] | type[SalesContract]] = {
    SalesQuote.__tablename__: SalesQuote,
    SalesContract.__tablename__: SalesContract,
}


async def _deal_id(uow: UnitOfWork, step: WorkflowStep) -> uuid.UUID:
    if step.entity == SalesDeal.__tablename__ and step.record_id is not None:
        return step.record_id
    model = _DEAL_OF.get(step.entity)
    deal_id = None
    if model is not None and step.record_id is not None:
        deal_id = await uow.session.scalar(select(model.deal_id).where(model.id == step.record_id))
    if deal_id is None:
        raise InputError(UserError("record", "the trigger's record is no deal and has none", "NO_DEAL"))
    return deal_id


async def move_deal_stage(uow: UnitOfWork, step: WorkflowStep) -> dict:
    deal_id = await _deal_id(uow, step)
    deal = await uow.session.get(SalesDeal, deal_id)
    assert deal is not None  # _deal_id found it, or the foreign key guarantees it
    stage = await uow.session.scalar(
        select(SalesStage).where(SalesStage.pipeline_id == deal.pipeline_id, SalesStage.name == step.params["stage"])
    )
    if stage is None:
        raise InputError(UserError("stage", "the deal's pipeline has no stage of this name", "NOT_FOUND"))
    if stage.kind != "open":
        raise InputError(UserError("stage", "a workflow moves deals between open stages only", "WRONG_STAGE_KIND"))
    before = deal.stage_id
    if before != stage.id:
        await deals.move_stage(uow, deal_id, stage.id, None)
    return {"deal_id": str(deal_id), "from_stage_id": str(before), "to_stage_id": str(stage.id)}


STEP_TYPES = [
    WorkflowStepType(
        "sales.move_deal_stage",
        "Move the deal (the trigger's, or its quote's or contract's) to an open stage of its pipeline, by name.",
        move_deal_stage,
        parameters={"stage": {"type": "string", "minLength": 1, "maxLength": 200, "description": "The stage's name."}},
        required=("stage",),
    )
]

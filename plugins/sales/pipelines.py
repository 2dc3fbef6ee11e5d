"""Pipelines and their stages: ordered columns with a default win probability, a kind (open,
won, lost) and how many days without activity make an open deal stale."""

from __future__ import annotations

from sqlalchemy import func, select

from enishi.plugin import Checker, InputError, UnitOfWork, UserError

from .models import STAGE_KINDS, TEAM_ROLES, SalesPipeline, SalesStage

MAX_STAGES = 30


def check_stages(check: Checker, stages: list[dict]) -> list[dict]:
    """The stages of a new pipeline, checked: names unique, probability 0..100, a known kind, at
    least one open stage, one won and one lost (a deal must be able to close both ways)."""
    if not 2 <= len(stages) <= MAX_STAGES:
        check.fail("stages", f"a pipeline has 2 to {MAX_STAGES} stages", "OUT_OF_RANGE")
        return []
    checked, names = [], set()
    for i, stage in enumerate(stages):
        name = check.text({f"stages.{i}.name": stage.get("name")}, f"stages.{i}.name", max_length=200, required=True)
        if name in names:
            check.fail(f"stages.{i}.name", "two stages have this name", "DUPLICATE")
        names.add(name)
        probability = stage.get("probability")
        if not isinstance(probability, int) or not 0 <= probability <= 100:
            check.fail(f"stages.{i}.probability", "must be a percentage from 0 to 100", "OUT_OF_RANGE")
        kind = stage.get("kind") or "open"
        if kind not in STAGE_KINDS:
            check.fail(f"stages.{i}.kind", f"must be one of: {', '.join(STAGE_KINDS)}", "INVALID_CHOICE")
        rotting = stage.get("rotting_days")
        if rotting is not None and not 1 <= rotting <= 3650:
            check.fail(f"stages.{i}.rotting_days", "must be from 1 to 3650 days", "OUT_OF_RANGE")
        checked.append({"name": name, "probability": probability, "kind": kind, "rotting_days": rotting})
    kinds = {s["kind"] for s in checked}
    if not {"open", "won", "lost"} <= kinds:
        check.fail("stages", "a pipeline needs at least one open, one won and one lost stage", "INCOMPLETE_PIPELINE")
    return checked


async def create_pipeline(uow: UnitOfWork, data: dict) -> SalesPipeline:
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    stages = check_stages(check, data.get("stages") or [])
    team_role = check.choice(data, "team_role", TEAM_ROLES) or "account_executive"
    if name and await uow.session.scalar(select(SalesPipeline.id).where(SalesPipeline.name == name)):
        check.fail("name", "a pipeline of this name exists", "DUPLICATE")
    check.done()
    position = await uow.session.scalar(select(func.coalesce(func.max(SalesPipeline.position), 0))) or 0
    pipeline = SalesPipeline(name=name, position=position + 1, team_role=team_role, created_at=uow.clock.now())
    uow.session.add(pipeline)
    await uow.session.flush()
    for index, stage in enumerate(stages):
        uow.session.add(SalesStage(pipeline_id=pipeline.id, position=index, **stage))
    await uow.session.flush()
    return pipeline


async def stage_of(uow: UnitOfWork, stage_id, pipeline_id, field: str) -> SalesStage:
    """The stage, which must belong to the pipeline; an InputError on `field` otherwise."""
    stage = await uow.session.get(SalesStage, stage_id)
    if stage is None or stage.pipeline_id != pipeline_id:
        raise InputError([UserError(field, "no such stage in the deal's pipeline", "NOT_FOUND")])
    return stage


async def first_open_stage(uow: UnitOfWork, pipeline_id) -> SalesStage | None:
    return await uow.session.scalar(
        select(SalesStage)
        .where(SalesStage.pipeline_id == pipeline_id, SalesStage.kind == "open")
        .order_by(SalesStage.position)
        .limit(1)
    )

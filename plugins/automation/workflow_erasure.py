"""A data subject's erasure in the workflows' log: the runs stay — how often a workflow ran and how
its steps fared are the admins' audit, and name nobody by themselves — but no longer say whom they
were about. The runs concerned are found by index, so an erasure does not grow with the log:

* runs about the person (a contact trigger, a segment they entered): `record_id` unlinked, a
  pending one cancelled (no further step for someone erased);
* runs whose `send_email` step mailed them (the frequency caps' sends name the run).

In these runs' payloads and step logs (`contact_ids`, `recipients`) the person's id becomes null,
keeping the counts (`sent`) and the other people. The tags workflows put on the person go: they
describe them."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from enishi.plugin import UnitOfWork

from .frequency_caps import AutomationContactSend
from .workflow_models import FINISHED, AutomationRecordTag, AutomationWorkflowRun, AutomationWorkflowStep


def _without(value, person: str):
    """`value` (a JSON document) with every occurrence of the string `person` replaced by None."""
    if value == person:
        return None
    if isinstance(value, dict):
        return {key: _without(item, person) for key, item in value.items()}
    if isinstance(value, list):
        return [_without(item, person) for item in value]
    return value


async def forget_person(uow: UnitOfWork, contact_id: uuid.UUID) -> dict[str, int]:
    """Detach the person from the runs and step logs naming them; delete their tags. Must run
    before their sends are deleted (they lead to the runs that mailed them). Idempotent: a second
    call finds nothing left to change."""
    session = uow.session
    about = select(AutomationWorkflowRun.id).where(
        AutomationWorkflowRun.record_id == contact_id, AutomationWorkflowRun.entity == "contact"
    )
    mailed = select(AutomationContactSend.run_id).where(AutomationContactSend.contact_id == contact_id)
    run_ids = {*await session.scalars(about), *await session.scalars(mailed)}
    person, now = str(contact_id), uow.clock.now()
    # Locked: a worker taking a step of one of these runs finishes first, or finds it cancelled.
    runs = await session.scalars(select(AutomationWorkflowRun).where(AutomationWorkflowRun.id.in_(run_ids)).with_for_update())
    for run in runs:
        if run.record_id == contact_id and run.entity == "contact":
            run.record_id = None
            if run.status not in FINISHED:
                run.status, run.finished_at, run.due_at = "cancelled", now, None
        run.payload = _without(run.payload, person)
    steps = 0
    for step in await session.scalars(select(AutomationWorkflowStep).where(AutomationWorkflowStep.run_id.in_(run_ids))):
        given, made = _without(step.input, person), _without(step.output, person)
        if (given, made) != (step.input, step.output):
            step.input, step.output, steps = given, made, steps + 1
    tags = await session.execute(
        delete(AutomationRecordTag).where(AutomationRecordTag.entity == "contact", AutomationRecordTag.record_id == contact_id)
    )
    await session.flush()
    return {
        "automation_workflow_run:anonymise": len(run_ids),
        "automation_workflow_step:anonymise": steps,
        "automation_record_tag:delete": tags.rowcount,  # type: ignore[attr-defined]  # a DML statement's result
    }

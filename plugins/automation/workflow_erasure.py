"""A data subject's erasure in the workflows' log: the runs stay — how often a workflow ran and how
its steps fared are the admins' audit, and name nobody by themselves — but no longer say whom they
were about. The runs concerned are found by index, so an erasure does not grow with the log:

* runs about the person (a contact trigger, a segment they entered): `record_id` unlinked, a
  pending one cancelled (no further step for someone erased);
* runs about their activities and purchases, whose payloads name them (`activity.logged`'s
  `contact_ids`, `purchase.recorded`'s `contact_id`): found through the core's links to them,
  which the core's part of the erasure (run after every plugin's) removes — so a retry of this
  part after the core's finds these no more;
* runs whose `send_email` step mailed them (the frequency caps' sends name the run).

In these runs' payloads and step logs (`contact_ids`, `recipients`) the person's id becomes null,
keeping the counts (`sent`) and the other people. The tags workflows put on the person go: they
describe them."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, union

from enishi.plugin import ActivityTarget, Purchase, UnitOfWork

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
    before their sends are deleted (they lead to the runs that mailed them). Counts the rows
    changed, so a second call reports zero."""
    session, run = uow.session, AutomationWorkflowRun
    about_them = {
        "contact": run.record_id == contact_id,
        "activity": run.record_id.in_(select(ActivityTarget.activity_id).where(ActivityTarget.contact_id == contact_id)),
        "purchase": run.record_id.in_(select(Purchase.id).where(Purchase.contact_id == contact_id)),
    }
    found = [select(run.id).where(run.entity == kind, about) for kind, about in about_them.items()]
    found.append(select(AutomationContactSend.run_id).where(AutomationContactSend.contact_id == contact_id))
    run_ids = set(await session.scalars(union(*found)))
    person, now = str(contact_id), uow.clock.now()
    runs = 0
    # Locked: a worker taking a step of one of these runs finishes first, or finds it cancelled.
    for row in await session.scalars(select(run).where(run.id.in_(run_ids)).with_for_update()):
        payload = _without(row.payload, person)
        if row.entity == "contact" and row.record_id == contact_id:
            row.record_id = None
            if row.status not in FINISHED:
                row.status, row.finished_at, row.due_at = "cancelled", now, None
        elif payload == row.payload:
            continue
        row.payload, runs = payload, runs + 1
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
        "automation_workflow_run:anonymise": runs,
        "automation_workflow_step:anonymise": steps,
        "automation_record_tag:delete": tags.rowcount,  # type: ignore[attr-defined]  # a DML statement's result
    }

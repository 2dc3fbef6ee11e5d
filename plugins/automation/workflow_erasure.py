"""A data subject's rights in the workflows' log. Access: the runs naming them, without what names
others (`runs_for_access`). Erasure: the runs stay — how often a workflow ran and how
its steps fared are the admins' audit, and name nobody by themselves — but no longer say whom they
were about. The runs concerned are found by index, so an erasure does not grow with the log:

* runs about the person (a contact trigger, a segment they entered): `record_id`, the run's own
  index;
* runs whose trigger's payload names them (`activity.logged`'s `contact_ids`, `purchase.recorded`'s
  and `survey.answered`'s `contact_id`, any field an event type declares `names_contact`), and
  runs whose `send_email` step skipped them: the index of the people a run names
  (workflow_people.py), whose rows about them this deletes;
* runs whose `send_email` step mailed them: the frequency caps' sends name the run (a send
  withdrawn at delivery is indexed above instead).

In these runs' payloads and step logs (`contact_ids`, `recipients`) the person's id becomes null,
keeping the counts (`sent`) and the other people. The tags workflows put on the person go: they
describe them.

A pending run about them or whose payload names them is cancelled, and a failed one (a retry by
hand would take it up again): no further step for someone erased. For a run about their purchase
this is needed, not only tidy: each plugin's part of an erasure is a transaction of its own, and
the core's part — the one that nulls the purchase's `contact_id` — runs last, possibly retried
hours later. Until it commits a later step still reaches them through the record: a `send_email` to
the purchase's `contact` resolves them (and, as they are out of use by then, logs them as skipped —
their id back in a step log this part has already cleared), a `create_task` or `create_activity`
naming the record's `contact_id` logs them in its input. The same holds for any plugin's record an
event names them in (a survey answer's `contact_id`), up to that plugin's own part, and for a
plugin's step type reading an activity's links (a held activity keeps them). Runs of other people's
shared activities are cancelled with them: the price of a rule that needs no knowledge of what each
step type can reach. A run cancelled here takes no step.

A pending run that only mailed them (a `send_email` to an account's contacts) goes on for the
others: its later steps find the account's contacts through links a soft-deleted contact no
longer counts in (the erasure takes the person out of use before any part runs), so none of
them reaches the person again."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import UnitOfWork

from . import workflow_people
from .frequency_caps import AutomationContactSend
from .workflow_models import (
    AutomationRecordTag,
    AutomationWorkflow,
    AutomationWorkflowRun,
    AutomationWorkflowStep,
)
from .workflow_people import AutomationWorkflowPerson

RESUMABLE = ("pending", "failed")  # a failed run can be retried by hand: cancelled too


def _without(value, person: str):
    """`value` (a JSON document) with every occurrence of the string `person` replaced by None."""
    if value == person:
        return None
    if isinstance(value, dict):
        return {key: _without(item, person) for key, item in value.items()}
    if isinstance(value, list):
        return [_without(item, person) for item in value]
    return value


async def runs_naming(session: AsyncSession, contact_id: uuid.UUID) -> set[uuid.UUID]:
    """The runs about the person, whose payload names them, or whose steps mailed or skipped
    them: by index (the run's record, the people index, the caps' sends)."""
    run = AutomationWorkflowRun
    about_them = select(run.id).where(run.entity == "contact", run.record_id == contact_id)
    mailed_them = select(AutomationContactSend.run_id).where(AutomationContactSend.contact_id == contact_id)
    named = select(AutomationWorkflowPerson.run_id).where(AutomationWorkflowPerson.contact_id == contact_id)
    return {run_id for run_id in await session.scalars(union(about_them, mailed_them, named)) if run_id is not None}


async def runs_for_access(session: AsyncSession, contact_id: uuid.UUID) -> list[dict]:
    """The runs naming the person, for their access request (the same runs their erasure
    detaches): which workflow, started by what, when, how it went, and each step's type and
    outcome. Never a run's payload or a step's input and output: those name other people (a
    shared activity's) and other records."""
    run_ids = await runs_naming(session, contact_id)
    if not run_ids:
        return []
    run, step = AutomationWorkflowRun, AutomationWorkflowStep
    steps: dict[uuid.UUID, list[dict]] = {}
    for s in await session.execute(
        select(step.run_id, step.step_id, step.type, step.status, step.started_at)
        .where(step.run_id.in_(run_ids))
        .order_by(step.run_id, step.seq)
    ):
        taken = {"step": s.step_id, "type": s.type, "status": s.status, "at": s.started_at.isoformat()}
        steps.setdefault(s.run_id, []).append(taken)
    found = await session.execute(
        select(run.id, AutomationWorkflow.name, run.event_type, run.status, run.created_at, run.finished_at)
        .join(AutomationWorkflow, AutomationWorkflow.id == run.workflow_id)
        .where(run.id.in_(run_ids))
        .order_by(run.created_at, run.id)
    )
    return [
        {
            "workflow": r.name,
            "trigger": r.event_type,
            "status": r.status,
            "started_at": r.created_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "steps": steps.get(r.id, []),
        }
        for r in found
    ]


async def forget_person(uow: UnitOfWork, contact_id: uuid.UUID) -> dict[str, int]:
    """Detach the person from the runs and step logs naming them; delete their tags, their sends
    (which lead to the runs that mailed them) and their index rows, in that order. Counts the
    rows changed, so a second call reports zero."""
    session, run = uow.session, AutomationWorkflowRun
    run_ids = await runs_naming(session, contact_id)
    person, now = str(contact_id), uow.clock.now()
    runs = 0
    # Locked: a worker taking a step of one of these runs finishes first, or finds it cancelled.
    for row in await session.scalars(select(run).where(run.id.in_(run_ids)).with_for_update()):
        payload = _without(row.payload, person)
        about = row.entity == "contact" and row.record_id == contact_id
        if not about and payload == row.payload:
            continue  # it only mailed them: its steps' logs below
        if about:
            row.record_id = None
        if row.status in RESUMABLE:
            row.status, row.finished_at, row.due_at = "cancelled", now, None
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
    # The sends and the index last, after the runs' locks: a step or a delivery writing either
    # for one of these runs committed before (this statement's snapshot sees it) or waits.
    sends = await session.execute(delete(AutomationContactSend).where(AutomationContactSend.contact_id == contact_id))
    named = await workflow_people.forget(session, contact_id)
    return {
        "automation_workflow_run:anonymise": runs,
        "automation_workflow_step:anonymise": steps,
        "automation_record_tag:delete": tags.rowcount,  # type: ignore[attr-defined]  # a DML statement's result
        "automation_contact_send:delete": sends.rowcount,  # type: ignore[attr-defined]
        "automation_workflow_person:delete": len(named),
    }

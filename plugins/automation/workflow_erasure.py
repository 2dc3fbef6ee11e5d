"""A data subject's erasure in the workflows' log: the runs stay — how often a workflow ran and how
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

A pending run about them or whose payload names them is cancelled: no further step for someone
erased. For a run about their purchase this is needed, not only tidy: each plugin's part of an
erasure is a transaction of its own, and the core's part — the one that nulls the purchase's
`contact_id` — runs last, possibly retried hours later. Until it commits a later step still
reaches them through the record: a `send_email` to the purchase's `contact` resolves them (and,
as they are out of use by then, logs them as skipped — their id back in a step log this part has
already cleared), a `create_task` or `create_activity` naming the record's `contact_id` logs them
in its input. The same holds for any plugin's record an event names them in (a survey answer's
`contact_id`), up to that plugin's own part, and for a plugin's step type reading an activity's
links (a held activity keeps them). Runs of other people's shared activities are cancelled with
them: the price of a rule that needs no knowledge of what each step type can reach. A run
cancelled here takes no step.

A pending run that only mailed them (a `send_email` to an account's contacts) goes on for the
others: its later steps find the account's contacts through links a soft-deleted contact no
longer counts in (the erasure takes the person out of use before any part runs), so none of
them reaches the person again."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, union

from enishi.plugin import UnitOfWork

from . import workflow_people
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
    """Detach the person from the runs and step logs naming them; delete their tags and index
    rows. Must run before their sends are deleted (they lead to the runs that mailed them).
    Counts the rows changed, so a second call reports zero."""
    session, run = uow.session, AutomationWorkflowRun
    named = await workflow_people.forget(session, contact_id)
    about_them = select(run.id).where(run.entity == "contact", run.record_id == contact_id)
    mailed_them = select(AutomationContactSend.run_id).where(AutomationContactSend.contact_id == contact_id)
    run_ids = {*named, *await session.scalars(union(about_them, mailed_them))}
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
        if row.status not in FINISHED:
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
    return {
        "automation_workflow_run:anonymise": runs,
        "automation_workflow_step:anonymise": steps,
        "automation_record_tag:delete": tags.rowcount,  # type: ignore[attr-defined]  # a DML statement's result
        "automation_workflow_person:delete": len(named),
    }

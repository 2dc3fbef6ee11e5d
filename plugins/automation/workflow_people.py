"""Who a workflow run names besides its record, by index: the contacts its trigger's payload names
(the payload fields its event type declares `names_contact`: `activity.logged`'s `contact_ids`,
`purchase.recorded`'s and `survey.answered`'s `contact_id`, a third-party plugin's alike) and
the recipients its `send_email` steps logged without a send to show for it (skipped, or the send
withdrawn at delivery). A data subject's erasure reads their rows here (workflow_erasure.py)
rather than searching the log's JSON, so it does not grow with the log, and deletes them: the
index is personal data of its own (which runs were about whom).

Not indexed here, found by an index of their own: a run about a contact (`record_id`), and a
recipient mailed (the frequency caps' send names the run) — so a step mailing everyone, the
common case and the one bench/workflows.py --email measures, writes no row, and a trigger whose
payload names no one (`contact.updated`, a deal's event) costs run start no statement. A step's
log naming a contact at its top level (`contact_id`: a task, an activity or a field update of a
run about a task or a deal) is indexed by the engine. A plugin's step type that logs people
deeper in its output is not (nor are the ids an admin wrote into a definition)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ForeignKey, Uuid, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, EventType, Runtime

from .workflow_models import AutomationWorkflowRun, insert_new_rows


class AutomationWorkflowPerson(Base):
    """A contact a run names beyond its record: in its trigger's payload, or as a step's recipient."""

    __tablename__ = "automation_workflow_person"

    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("automation_workflow_run.id", ondelete="CASCADE"), primary_key=True, index=True
    )


def _contact_fields(event_type: EventType) -> tuple[str, ...]:
    """The payload fields the event type declares as naming contacts."""
    return tuple(field.name for field in event_type.payload if field.names_contact)


def named_in(event_type: EventType | None, payload: dict) -> set[uuid.UUID]:
    """The contacts the payload names, by the event type's declaration (none for an undeclared
    trigger key: a segment's, a date's or a schedule's runs are about their record)."""
    named: set[uuid.UUID] = set()
    for name in _contact_fields(event_type) if event_type is not None else ():
        value = payload.get(name)
        for contact_id in value if isinstance(value, list) else [value]:
            if contact_id:
                named.add(uuid.UUID(str(contact_id)))
    return named


async def note_started(runtime: Runtime, session: AsyncSession, event_type: str, payload: dict) -> None:
    """Index the contacts the trigger's payload names for the runs just added to `session` (the
    engine's `_insert_runs` calls this after adding them). Nothing at all — no statement — for a
    trigger whose payload names no one (`contact.updated`, a deal's event)."""
    named = named_in(runtime.events.types.get(event_type), payload)
    runs = [row for row in session.new if isinstance(row, AutomationWorkflowRun)] if named else []
    if not runs:
        return
    await session.flush()  # the runs first: their ids, and the rows below refer to them
    rows = [{"contact_id": c, "run_id": run.id} for run in runs for c in named]
    await insert_new_rows(session, AutomationWorkflowPerson, rows)


async def note_recipients(session: AsyncSession, run_id: uuid.UUID, contact_ids: Iterable[uuid.UUID]) -> None:
    """Index contacts a step logged that no other index leads to: a `send_email` step's recipients
    with no send naming the run, the contact a task, an activity or a field update names in a run
    about another record (workflow_engine.py). No statement for none."""
    rows = [{"contact_id": contact_id, "run_id": run_id} for contact_id in dict.fromkeys(contact_ids)]
    await insert_new_rows(session, AutomationWorkflowPerson, rows)


async def forget(session: AsyncSession, contact_id: uuid.UUID) -> list[uuid.UUID]:
    """Delete the person's rows (the erasure's part); returns the runs they named."""
    removed = await session.execute(
        delete(AutomationWorkflowPerson)
        .where(AutomationWorkflowPerson.contact_id == contact_id)
        .returning(AutomationWorkflowPerson.run_id)
    )
    return list(removed.scalars())

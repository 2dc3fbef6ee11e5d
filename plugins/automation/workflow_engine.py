"""Running workflows, exactly once on any number of workers.

* Start: the outbox hands each committed event to `start_runs` (at least once); every enabled
  workflow whose current version triggers on its type and whose conditions hold gets one run,
  unique per (version, event id) — a second hand-over starts nothing.
* Step: the worker's `automation.workflows` job takes due runs one step per transaction: the
  run's row is locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL: another worker takes another run;
  SQLite has one writer at a time), and the step's effect, its log entry and the run's next
  position commit together or not at all. The run's position is the step's idempotency key: a
  second worker locks the run only after the first committed, and then finds it moved on; the
  log entry's unique (run, seq) would refuse a second record of the same attempt all the same.
  A worker killed mid-step leaves nothing behind — its transaction dies with its connection and
  the lock with it — and the next worker takes the step again.
* Fail: a failed step's transaction rolls back whole (no savepoint on the way of every step that
  succeeds: two round trips of a step's five), and the failure is logged in a transaction of
  its own (`record_failure`), unless another worker took the step meanwhile. It is retried after
  30 s, 5 min, 30 min and 2 h (the injected clock), then the run is `failed` until
  `retryWorkflowRun`.
* Loops: events a step raised remember the run's depth; a run they trigger is one deeper, and
  none starts deeper than MAX_DEPTH."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import Event, InputError, Runtime, UnitOfWork, api_spelling

from .service import event_data
from .workflow_definition import (
    SEGMENT_ENTERED,
    segment_kind,
    segments_kept,
    steps_by_id,
    successors,
    until,
    version_definition,
)
from .workflow_models import (
    AutomationWorkflow,
    AutomationWorkflowEventOrigin,
    AutomationWorkflowRun,
    AutomationWorkflowStep,
    AutomationWorkflowVersion,
)
from .workflow_people import note_recipients, note_started
from .workflow_records import Record, holds
from .workflow_steps import StepContext, step_types

log = logging.getLogger("enishi.automation.workflows")

MAX_DEPTH = 3  # a workflow's own changes re-trigger workflows at most this many times in a chain
SCHEDULED = uuid.UUID("9a4e2c71-3b8f-4d05-8e6a-1f7c0b2d4e93")  # namespace of a schedule's occurrences
SEGMENT_GONE = uuid.UUID("5e1d7c3a-8b42-4f96-a0d1-2c9e6b7f4a85")  # namespace of a missing segment's flag
SCHEDULE_LOOKBACK = dt.timedelta(days=1)
MAX_SCHEDULED = 1440  # times per version and scan: every minute for the look-back day
RETRIES = tuple(dt.timedelta(seconds=s) for s in (30, 5 * 60, 30 * 60, 2 * 3600))  # after the 1st … 4th failure


def _triggered(event: Event, payload: dict) -> dict[str, tuple[str, uuid.UUID | None]]:
    """The version keys the event starts runs of, each with the record those runs are about: its
    own type, about its own record; a customer entering a segment also `segment:<id>`, about
    the customer (a contact or an account)."""
    keys: dict[str, tuple[str, uuid.UUID | None]] = {event.type: (event.entity, event.entity_id)}
    if event.type == SEGMENT_ENTERED:
        kind = "contact" if payload.get("contact_id") else "account"
        keys[f"segment:{payload['segment_id']}"] = (kind, uuid.UUID(payload[f"{kind}_id"]))
    return keys


async def start_runs(runtime: Runtime, event: Event, session: AsyncSession) -> int:
    """One run per matching workflow for the event (none when it already started one); returns
    how many started now. `session`: the hand-over's read session (hooks.py)."""
    payload = event_data(event)
    triggered = _triggered(event, payload)
    versions = (
        await session.scalars(
            select(AutomationWorkflowVersion)
            .join(AutomationWorkflow, AutomationWorkflow.id == AutomationWorkflowVersion.workflow_id)
            .where(
                AutomationWorkflowVersion.event_type.in_(triggered),
                AutomationWorkflow.enabled.is_(True),
                AutomationWorkflow.version == AutomationWorkflowVersion.version,
            )
        )
    ).all()
    if not versions:
        return 0
    origin = await session.scalar(
        select(AutomationWorkflowEventOrigin.depth).where(AutomationWorkflowEventOrigin.event_id == event.id)
    )
    depth = 0 if origin is None else origin + 1
    if depth > MAX_DEPTH:
        log.warning("workflow loop cut", extra={"event_type": event.type, "depth": depth})
        return 0
    records = {key: Record(session, entity, record_id) for key, (entity, record_id) in triggered.items()}
    matching = [v for v in versions if await holds(v.definition["trigger"].get("conditions", []), payload, records[v.event_type])]
    started = 0
    for key, (entity, record_id) in triggered.items():
        occurrences = [(version, event.id) for version in matching if version.event_type == key]
        started += await start(runtime, occurrences, key, entity, record_id, payload, depth)
    return started


async def start(runtime: Runtime, occurrences: list, event_type: str, entity: str, record_id, payload: dict, depth: int) -> int:
    """A run per (version, occurrence) not started yet; returns how many started now. One
    occurrence a concurrent scan started first (both saw none, its insert committed first: the
    unique key refuses ours) is not started again."""
    if not occurrences:
        return 0
    try:
        return await _insert_runs(runtime, occurrences, event_type, entity, record_id, payload, depth)
    except IntegrityError:
        if len(occurrences) > 1:
            raise  # an event's runs: the outbox hands it over again, and the check above then sees them
        return 0


async def _insert_runs(
    runtime: Runtime, occurrences: list, event_type: str, entity: str, record_id, payload: dict, depth: int
) -> int:
    async with runtime.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(AutomationWorkflowRun.version_id, AutomationWorkflowRun.occurrence).where(
                AutomationWorkflowRun.occurrence.in_({occurrence for _, occurrence in occurrences})
            )
        )
        started = {(version_id, occurrence) for version_id, occurrence in rows}
        now = uow.clock.now()
        new = [(version, occurrence) for version, occurrence in occurrences if (version.id, occurrence) not in started]
        for version, occurrence in new:
            uow.session.add(
                AutomationWorkflowRun(
                    workflow_id=version.workflow_id,
                    version_id=version.id,
                    occurrence=occurrence,
                    event_type=event_type,
                    entity=entity,
                    record_id=record_id,
                    payload=payload,
                    depth=depth,
                    status="pending",
                    step_id=version.definition["steps"][0]["id"],
                    due_at=now,
                    attempts=0,
                    taken=0,
                    created_at=now,
                )
            )
        await note_started(runtime, uow.session, event_type, payload)
    return len(new)


async def current_versions(runtime: Runtime, trigger_kind: str) -> list[AutomationWorkflowVersion]:
    """The current version of every enabled workflow whose trigger is of this kind (`date`, `schedule`)."""
    async with runtime.read_session() as session:
        return list(
            await session.scalars(
                select(AutomationWorkflowVersion)
                .join(AutomationWorkflow, AutomationWorkflow.id == AutomationWorkflowVersion.workflow_id)
                .where(
                    AutomationWorkflowVersion.event_type.like(f"{trigger_kind}:%"),
                    AutomationWorkflow.enabled.is_(True),
                    AutomationWorkflow.version == AutomationWorkflowVersion.version,
                )
            )
        )


async def start_scheduled_runs(runtime: Runtime) -> int:
    """Schedule triggers: a run for each time the cron expression named since the version was
    saved (at most a day back: a worker down longer does not replay older ones), in the configured
    time zone, once per (version, time) however often this scans. Returns how many started."""
    now = runtime.clock.now().astimezone(runtime.settings.zone)
    versions = await current_versions(runtime, "schedule")
    started = 0
    for version in versions:
        times = croniter(
            version.definition["trigger"]["cron"], max(version.created_at, now - SCHEDULE_LOOKBACK).astimezone(now.tzinfo)
        )
        due: list[dt.datetime] = []
        while (at := times.get_next(dt.datetime)) <= now and len(due) < MAX_SCHEDULED:
            due.append(at)
        for at in due:
            occurrence = uuid.uuid5(SCHEDULED, f"{version.id}:{at.isoformat()}")
            payload = {"scheduled_at": at.isoformat()}
            started += await start(runtime, [(version, occurrence)], version.event_type, "schedule", None, payload, 0)
    return started


async def flag_missing_segments(runtime: Runtime) -> int:
    """Segment triggers whose saved segment is gone (deleted since the workflow was saved, or the
    insights plugin uninstalled) can start no run any more: rather than sit idle, each such version
    gets one failed run, about no record, whose error says why (`SEGMENT_NOT_FOUND`), seen in
    `workflowRuns` from the next scan on. Returns how many versions were flagged now."""
    now = runtime.clock.now()
    flagged = 0
    for version in await current_versions(runtime, "segment"):
        segment_id = version.definition["trigger"]["segment_id"]
        async with runtime.read_session() as session:
            if segments_kept(runtime) and await segment_kind(session, runtime, segment_id) is not None:
                continue
        try:
            async with runtime.unit_of_work() as uow:
                occurrence = uuid.uuid5(SEGMENT_GONE, str(version.id))
                known = await uow.session.scalar(
                    select(AutomationWorkflowRun.id).where(
                        AutomationWorkflowRun.version_id == version.id, AutomationWorkflowRun.occurrence == occurrence
                    )
                )
                if known is not None:
                    continue
                uow.session.add(
                    AutomationWorkflowRun(
                        workflow_id=version.workflow_id,
                        version_id=version.id,
                        occurrence=occurrence,
                        event_type=version.event_type,
                        entity="segment",
                        payload={"segment_id": segment_id},
                        status="failed",
                        error="definition.trigger.segmentId: SEGMENT_NOT_FOUND",
                        created_at=now,
                        finished_at=now,
                    )
                )
        except IntegrityError:
            continue  # another worker flagged it at the same moment
        log.warning("workflow trigger's segment is gone", extra={"workflow_id": str(version.workflow_id)})
        flagged += 1
    return flagged


@dataclass
class Outcome:
    """What a step did: what it was given and made, where the run goes next, and when."""

    input: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    next_step: str | None = None
    due_at: dt.datetime | None = None
    stopped: bool = False


async def _take(uow: UnitOfWork, run: AutomationWorkflowRun, definition: dict, record: Record) -> Outcome:
    step = steps_by_id(definition)[run.step_id or ""]
    following = successors(definition["steps"])[step["id"]]
    now = uow.clock.now()
    if step["type"] == "wait":
        resume = now + dt.timedelta(**step["duration"]) if "duration" in step else until(step)
        return Outcome({}, {"until": resume.isoformat()}, following, max(resume, now))
    if step["type"] == "if":
        branch = "then" if await holds(step["conditions"], run.payload, record) else "else"
        chosen = step.get(branch) or []
        return Outcome({}, {"branch": branch}, chosen[0]["id"] if chosen else following)
    if step["type"] == "stop":
        return Outcome(stopped=True)
    step_type = step_types(uow.runtime)[step["type"]]
    given = await step_type.prepare(step, record)
    context = StepContext(uow, record, run.id, run.workflow_id, step)
    return Outcome(given, await step_type.apply(context, given), following)


def _error_text(error: Exception) -> str:
    """Why a step failed, without values (no personal data): the fields of an input error, as
    userErrors spell them (`customFields.ランク`, `ownerId`), and their codes; else the exception's type."""
    if isinstance(error, InputError):
        return "; ".join(f"{api_spelling(e).field}: {e.code}" for e in error.errors)[:300]
    return type(error).__name__


class StepFailed(Exception):
    """A step failed: its transaction is to roll back whole, and its log entry (an
    `AutomationWorkflowStep`'s columns), carried out of it, is written in the next (`record_failure`)."""

    def __init__(self, entry: dict, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.entry = {**entry, "status": "failed", "error": _error_text(error), "input": {}, "output": {}}


def _contacts_logged(run: AutomationWorkflowRun, outcome: Outcome) -> set[uuid.UUID]:
    """The contacts a step's log names at its top level (`contact_id`: a task's, an activity's, a
    contact's field update) other than the run's own contact record: a run about a task or a deal
    names the contact its record points to only here, so the people index must learn of it for
    an erasure to find it. A `send_email` step indexes its own recipients (workflow_email.py)."""
    logged = (outcome.input | outcome.output).get("contact_id")
    own = run.record_id if run.entity == "contact" else None
    return {uuid.UUID(str(logged))} if logged and str(logged) != str(own) else set()


async def take_step(uow: UnitOfWork, run: AutomationWorkflowRun) -> None:
    """Take the run's next step in this unit of work (the run's row locked by the caller). A step
    that fails — in its effect or in what the step's log, the run's move or its events' origins
    write — raises `StepFailed`: the caller's transaction rolls back, and the failure is logged in
    the next (`record_failure`)."""
    definition = await version_definition(uow.session, run.version_id)
    record = Record(uow.session, run.entity, run.record_id)
    now = uow.clock.now()
    started = time.perf_counter()
    # Read before the step: a failed flush leaves the run's attributes unreadable.
    entry = {
        "run_id": run.id,
        "seq": run.taken + 1,
        "step_id": run.step_id,
        "type": steps_by_id(definition)[run.step_id or ""]["type"],
        "attempt": run.attempts + 1,
        "started_at": now,
    }
    first_event = len(uow.events)
    try:
        outcome = await _take(uow, run, definition, record)
        for event in uow.events[first_event:]:
            uow.session.add(AutomationWorkflowEventOrigin(event_id=event.id, run_id=run.id, depth=run.depth))
        await note_recipients(uow.session, run.id, _contacts_logged(run, outcome))
        # A step that chose to do nothing (an e-mail without consent) says why in `skipped`: no failure.
        status = "skipped" if "skipped" in outcome.output else "succeeded"
        run.attempts, run.error, run.taken = 0, None, entry["seq"]
        run.step_id, run.due_at = outcome.next_step, outcome.due_at or now
        if outcome.stopped or outcome.next_step is None:
            run.status, run.finished_at, run.due_at = ("stopped" if outcome.stopped else "succeeded"), now, None
        finished = _finished(entry, uow, started)
        uow.session.add(AutomationWorkflowStep(**finished, status=status, input=outcome.input, output=outcome.output))
        await uow.session.flush()  # checked here, all of it: a refused write (a non-JSON output too) is the step's failure
    except Exception as error:  # any failure of a step is recorded and retried, never lost
        raise StepFailed(_finished(entry, uow, started), error) from error


def _finished(entry: dict, uow: UnitOfWork, started: float) -> dict:
    return {**entry, "finished_at": uow.clock.now(), "duration_ms": round((time.perf_counter() - started) * 1000)}


async def record_failure(runtime: Runtime, failed: StepFailed) -> None:
    """Log the failed attempt and put the run's retry off (or fail the run after the last), in a
    transaction of its own — unless the run moved on since the step's rolled back: another
    worker took the step again (its own outcome is logged), or someone cancelled the run. Waits
    for the run's lock (whoever holds it may be moving the run on: the check after the wait
    decides); it holds no other lock meanwhile."""
    run_table, entry = AutomationWorkflowRun, failed.entry
    async with runtime.unit_of_work() as uow:
        run = await uow.session.scalar(
            select(run_table)
            .where(run_table.id == entry["run_id"], run_table.taken == entry["seq"] - 1, run_table.status == "pending")
            .with_for_update()
        )
        if run is None:
            return
        now = uow.clock.now()
        run.attempts += 1
        run.error, run.taken = entry["error"], entry["seq"]
        if run.attempts > len(RETRIES):
            run.status, run.finished_at = "failed", now
        else:
            run.due_at = now + RETRIES[run.attempts - 1]
        uow.session.add(AutomationWorkflowStep(**entry))


async def _step_one(runtime: Runtime) -> bool:
    try:
        async with runtime.unit_of_work() as uow:
            run = (
                await uow.session.scalars(
                    select(AutomationWorkflowRun)
                    .where(AutomationWorkflowRun.status == "pending", AutomationWorkflowRun.due_at <= uow.clock.now())
                    .order_by(AutomationWorkflowRun.due_at, AutomationWorkflowRun.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if run is None:
                return False
            await take_step(uow, run)
    except StepFailed as failed:
        await record_failure(runtime, failed)
    return True


async def run_due(runtime: Runtime) -> int:
    """Take every due step, one transaction each; returns how many were taken."""
    taken = 0
    while await _step_one(runtime):
        taken += 1
    return taken

"""Workflows as an admin manages them: saving a definition (a new version each time it changes),
retrying and cancelling runs, and the dry run that shows what a workflow would do for a record."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import Checker, InputError, Runtime, UnitOfWork, UserError, load_for_update, record_kind

from . import workflow_definition
from .service import declared_event_types
from .workflow_definition import segment_kind, segments_kept, trigger_key
from .workflow_models import FINISHED, AutomationWorkflow, AutomationWorkflowRun, AutomationWorkflowVersion
from .workflow_records import Record, holds, record_table
from .workflow_steps import StepType, step_types

MANAGE_WORKFLOWS = "automation.workflow.manage"


async def _save_version(uow: UnitOfWork, workflow: AutomationWorkflow, definition: dict) -> AutomationWorkflowVersion:
    version = AutomationWorkflowVersion(
        workflow_id=workflow.id,
        version=workflow.version,
        event_type=trigger_key(definition["trigger"]),
        definition=definition,
        created_by_id=uow.actor_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(version)
    await uow.session.flush()
    return version


async def create_workflow(uow: UnitOfWork, runtime: Runtime, data: dict) -> AutomationWorkflow:
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    description = check.text(data, "description", max_length=1000)
    check.done()
    definition = await workflow_definition.check(uow, runtime, data.get("definition"))
    now = uow.clock.now()
    workflow = AutomationWorkflow(
        name=name,
        description=description,
        enabled=data.get("enabled") is not False,
        version=1,
        created_by_id=uow.actor_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(workflow)
    await uow.session.flush()
    await _save_version(uow, workflow, definition)
    return workflow


async def update_workflow(uow: UnitOfWork, runtime: Runtime, workflow_id: uuid.UUID, data: dict) -> AutomationWorkflow:
    """Change the name, description or switch; a new definition becomes the next version (runs
    already started keep theirs)."""
    workflow = await load_for_update(uow, AutomationWorkflow, workflow_id)
    check = Checker()
    name = check.text(data, "name", max_length=200, required="name" in data)
    description = check.text(data, "description", max_length=1000)
    check.done()
    if data.get("definition") is not None:
        definition = await workflow_definition.check(uow, runtime, data["definition"])
        current = await uow.session.scalar(
            select(AutomationWorkflowVersion.definition).where(
                AutomationWorkflowVersion.workflow_id == workflow.id, AutomationWorkflowVersion.version == workflow.version
            )
        )
        if definition != current:
            workflow.version += 1
            await _save_version(uow, workflow, definition)
    workflow.name = name or workflow.name
    if "description" in data:
        workflow.description = description
    if data.get("enabled") is not None:
        workflow.enabled = data["enabled"]
    workflow.updated_at = uow.clock.now()
    await uow.session.flush()
    return workflow


async def retry_run(uow: UnitOfWork, run_id: uuid.UUID) -> AutomationWorkflowRun:
    """A failed run takes its failed step again now, with a fresh retry schedule."""
    run = await load_for_update(uow, AutomationWorkflowRun, run_id)
    if run.status != "failed":
        raise InputError(UserError("id", f"the run is {run.status}; only a failed run is retried", "NOT_FAILED"))
    if run.step_id is None:  # it failed before any step: its trigger is broken (a segment gone)
        raise InputError(UserError("id", "the run has no step to take again: see its error", "NOTHING_TO_RETRY"))
    run.status, run.attempts, run.due_at, run.finished_at = "pending", 0, uow.clock.now(), None
    await uow.session.flush()
    return run


async def cancel_run(uow: UnitOfWork, run_id: uuid.UUID) -> AutomationWorkflowRun:
    """A run not finished yet takes no further step (a step under way at this moment finishes first)."""
    run = await load_for_update(uow, AutomationWorkflowRun, run_id)
    if run.status in FINISHED:
        raise InputError(UserError("id", f"the run is already {run.status}", "ALREADY_FINISHED"))
    run.status, run.finished_at, run.due_at = "cancelled", uow.clock.now(), None
    await uow.session.flush()
    return run


def _event_entity(runtime: Runtime, event: str) -> str:
    for event_type in declared_event_types(runtime):
        if event_type.name == event:
            return event_type.entity
    raise InputError(
        UserError("id", "the workflow's trigger event is no longer declared (its plugin is off)", "UNKNOWN_EVENT_TYPE")
    )


async def _trigger_entity(session: AsyncSession, runtime: Runtime, trigger: dict) -> str:
    """The kind of record a trigger's runs are about."""
    if trigger["type"] == "date":
        return trigger["entity"]
    if trigger["type"] == "event":
        return _event_entity(runtime, trigger["event"])
    kind = await segment_kind(session, runtime, trigger["segment_id"]) if segments_kept(runtime) else None
    if kind is None:
        raise InputError(UserError("id", "the workflow's saved segment is gone (or the insights plugin is off)", "NOT_FOUND"))
    return kind


@dataclass
class DryRunStep:
    step_id: str
    type: str
    input: dict
    note: str | None = None


@dataclass
class DryRun:
    trigger_matches: bool
    steps: list[DryRunStep]


async def _walk(
    uow: UnitOfWork, steps: list[dict], payload: dict, record: Record, kinds: dict[str, StepType], taken: list[DryRunStep]
) -> bool:
    """Append the steps a run would take; False once one stops the run."""
    for step in steps:
        if step["type"] == "if":
            branch = "then" if await holds(step["conditions"], payload, record) else "else"
            taken.append(DryRunStep(step["id"], "if", {}, branch))
            if not await _walk(uow, step.get(branch) or [], payload, record, kinds, taken):
                return False
        elif step["type"] == "stop":
            taken.append(DryRunStep(step["id"], "stop", {}))
            return False
        elif step["type"] == "wait":
            note = f"waits {dt.timedelta(**step['duration'])}" if "duration" in step else f"waits until {step['until']}"
            taken.append(DryRunStep(step["id"], "wait", {}, note))
        else:
            kind = kinds[step["type"]]
            given = await kind.prepare(step, record)
            taken.append(DryRunStep(step["id"], step["type"], await kind.preview(uow, given) if kind.preview else given))
    return True


async def dry_run(
    uow: UnitOfWork, runtime: Runtime, workflow_id: uuid.UUID, table: str, record_id: uuid.UUID, payload: dict
) -> DryRun:
    """What the workflow's current version would do if its trigger fired for this record with
    this payload: whether the trigger's conditions hold and which steps would run, with what
    (branches decided on the record as it is now, waits not waited). Reads only."""
    session = uow.session
    workflow = await session.get(AutomationWorkflow, workflow_id)
    if workflow is None:
        raise InputError(UserError("id", "no such workflow", "NOT_FOUND"))
    definition: dict[str, Any] | None = await session.scalar(
        select(AutomationWorkflowVersion.definition).where(
            AutomationWorkflowVersion.workflow_id == workflow.id, AutomationWorkflowVersion.version == workflow.version
        )
    )
    if definition is None:  # the services write a workflow with its current version; no constraint does
        raise RuntimeError(f"workflow {workflow.id}: its current version {workflow.version} is missing")
    trigger = definition["trigger"]
    if trigger["type"] == "schedule":
        raise InputError(UserError("id", "a scheduled workflow is about no record", "NO_RECORD_TRIGGER"))
    entity = await _trigger_entity(session, runtime, trigger)
    expected = record_table(entity)
    if expected is None or expected.name != table:
        raise InputError(UserError("recordId", f"the trigger's records are {entity}, not {table}", "WRONG_RECORD_TYPE"))
    record = Record(session, entity, record_id)
    if not await record.exists():
        raise InputError(UserError("recordId", f"no such {record_kind(expected)}", "NOT_FOUND"))
    matches = await holds(definition["trigger"].get("conditions", []), payload, record)
    taken: list[DryRunStep] = []
    await _walk(uow, definition["steps"], payload, record, step_types(runtime), taken)
    return DryRun(matches, taken)

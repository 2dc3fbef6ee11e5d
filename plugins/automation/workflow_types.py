"""Workflow GraphQL types: workflows with their versions, runs with every step attempt."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, cast

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import Connection, PageRequest, RowsByColumn, SortKey, load_row, node_resolver, paginate

from . import workflow_models as orm
from .workflow_service import MANAGE_WORKFLOWS

VERSIONS = RowsByColumn(
    orm.AutomationWorkflowVersion, orm.AutomationWorkflowVersion.workflow_id, orm.AutomationWorkflowVersion.version
)
STEPS = RowsByColumn(orm.AutomationWorkflowStep, orm.AutomationWorkflowStep.run_id, orm.AutomationWorkflowStep.seq)
RUNS_NEWEST_FIRST = [
    (SortKey(orm.AutomationWorkflowRun.created_at, "datetime"), True),
    (SortKey(orm.AutomationWorkflowRun.id, "uuid"), True),
]


@strawberry.enum(description="Where a workflow run stands.")
class AutomationWorkflowRunStatus(Enum):
    PENDING = strawberry.enum_value(
        "pending", description="Its next step is due at `dueAt` (now, after a wait, or after a failure's backoff)."
    )
    SUCCEEDED = "succeeded"
    STOPPED = strawberry.enum_value("stopped", description="A `stop` step ended it.")
    FAILED = strawberry.enum_value("failed", description="A step failed every retry; `retryWorkflowRun` takes it again.")
    CANCELLED = "cancelled"


@strawberry.enum(description="How one attempt of a step ended.")
class AutomationWorkflowStepStatus(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = strawberry.enum_value("skipped", description="Done without effect, its output's `skipped` saying why (no consent).")


@strawberry.type(description="One saved definition of a workflow; never changed once saved.")
class AutomationWorkflowVersion:
    version: int
    event_type: str
    definition: JSON = strawberry.field(description="The document, valid against `workflowDefinitionSchema`.")
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: orm.AutomationWorkflowVersion) -> AutomationWorkflowVersion:
        return cls(
            version=row.version, event_type=row.event_type, definition=cast(JSON, row.definition), created_at=row.created_at
        )


@strawberry.type(description="A workflow (automation plugin): a trigger, conditions and steps, versioned.")
class AutomationWorkflow(relay.Node):
    id: relay.NodeID[str]
    name: str
    description: str | None
    enabled: bool
    version: int = strawberry.field(description="The current version: new runs follow it.")
    created_at: dt.datetime
    updated_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.AutomationWorkflow) -> AutomationWorkflow:
        return cls(
            id=str(row.id),
            name=row.name,
            description=row.description,
            enabled=row.enabled,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _row=row,
        )

    resolve_nodes = node_resolver(orm.AutomationWorkflow, MANAGE_WORKFLOWS)

    @strawberry.field(description="Every version, oldest first.")
    async def versions(self, info: Info) -> list[AutomationWorkflowVersion]:
        return [AutomationWorkflowVersion.from_row(row) for row in await VERSIONS.load(info.context, self._row.id)]

    @strawberry.field(description="The current version's definition.")
    async def definition(self, info: Info) -> JSON:
        rows = await VERSIONS.load(info.context, self._row.id)
        return cast(JSON, next(row.definition for row in rows if row.version == self._row.version))

    @strawberry.field(description="Its runs, newest first.")
    async def runs(
        self, info: Info, status: AutomationWorkflowRunStatus | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[AutomationWorkflowRun]:
        return await run_list(info, self._row.id, status, first, after)


@strawberry.type(description="One attempt of one step of a run: what it was given, what it made or why it failed.")
class AutomationWorkflowStepAttempt:
    step_id: str
    type: str
    attempt: int
    status: AutomationWorkflowStepStatus
    input: JSON
    output: JSON
    error: str | None = strawberry.field(description="Fields and codes (or the error's kind), never values.")
    started_at: dt.datetime
    finished_at: dt.datetime
    duration_ms: int

    @classmethod
    def from_row(cls, row: orm.AutomationWorkflowStep) -> AutomationWorkflowStepAttempt:
        return cls(
            step_id=row.step_id,
            type=row.type,
            attempt=row.attempt,
            status=AutomationWorkflowStepStatus(row.status),
            input=cast(JSON, row.input),
            output=cast(JSON, row.output),
            error=row.error,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_ms=row.duration_ms,
        )


@strawberry.type(description="One run of a workflow, for one trigger occurrence, following the version it started with.")
class AutomationWorkflowRun(relay.Node):
    id: relay.NodeID[str]
    status: AutomationWorkflowRunStatus
    event_type: str
    entity: str = strawberry.field(description="The trigger's record kind (`sales_quote`, `account`).")
    record_id: str | None = strawberry.field(description="The trigger's record (its uuid).")
    payload: JSON = strawberry.field(description="The trigger event's payload.")
    depth: int = strawberry.field(description="How many workflow steps led to the trigger (0: not a workflow).")
    step_id: str | None = strawberry.field(description="The next step to take; null once finished.")
    due_at: dt.datetime | None
    attempts: int = strawberry.field(description="Failed attempts of the next step so far.")
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.AutomationWorkflowRun) -> AutomationWorkflowRun:
        return cls(
            id=str(row.id),
            status=AutomationWorkflowRunStatus(row.status),
            event_type=row.event_type,
            entity=row.entity,
            record_id=str(row.record_id) if row.record_id else None,
            payload=cast(JSON, row.payload),
            depth=row.depth,
            step_id=row.step_id,
            due_at=row.due_at,
            attempts=row.attempts,
            error=row.error,
            created_at=row.created_at,
            finished_at=row.finished_at,
            _row=row,
        )

    resolve_nodes = node_resolver(orm.AutomationWorkflowRun, MANAGE_WORKFLOWS)

    @strawberry.field
    async def workflow(self, info: Info) -> AutomationWorkflow | None:
        row = await load_row(info.context, orm.AutomationWorkflow, self._row.workflow_id)
        return AutomationWorkflow.from_row(row) if row else None

    @strawberry.field(description="The version this run follows.")
    async def version(self, info: Info) -> int:
        row = await load_row(info.context, orm.AutomationWorkflowVersion, self._row.version_id)
        return row.version if row else 0

    @strawberry.field(description="Every step attempt, in the order taken.")
    async def steps(self, info: Info) -> list[AutomationWorkflowStepAttempt]:
        return [AutomationWorkflowStepAttempt.from_row(row) for row in await STEPS.load(info.context, self._row.id)]


async def run_list(info: Info, workflow_id, status, first, after) -> Connection[AutomationWorkflowRun]:
    statement = select(orm.AutomationWorkflowRun)
    if workflow_id is not None:
        statement = statement.where(orm.AutomationWorkflowRun.workflow_id == workflow_id)
    if status is not None:
        statement = statement.where(orm.AutomationWorkflowRun.status == status.value)
    return await paginate(
        info.context, statement, RUNS_NEWEST_FIRST, PageRequest(first, after, None, None), AutomationWorkflowRun.from_row
    )


@strawberry.type(description="A step a dry run would take.")
class AutomationWorkflowDryRunStep:
    step_id: str
    type: str
    input: JSON = strawberry.field(description="What it would be given, read from the record now.")
    note: str | None = strawberry.field(description="A branch taken (`then`, `else`) or a wait.")

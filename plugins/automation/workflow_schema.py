"""Workflow GraphQL root fields; every one needs `automation.workflow.manage` (admin). A
definition is a JSON document checked against `workflowDefinitionSchema`: each problem comes back
as a userError whose field is its JSON path (`definition.steps.1.duration.days`)."""

from __future__ import annotations

from typing import cast

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    PageRequest,
    SortKey,
    UserErrorType,
    input_values,
    node_types_by_table,
    paginate,
    parse_global_id,
    run_mutation,
    split_global_id,
)

from . import workflow_models as orm
from . import workflow_service
from .workflow_definition import validator
from .workflow_service import MANAGE_WORKFLOWS
from .workflow_types import (
    AutomationWorkflow,
    AutomationWorkflowDryRunStep,
    AutomationWorkflowRun,
    AutomationWorkflowRunStatus,
    run_list,
)

WORKFLOWS_NEWEST_FIRST = [
    (SortKey(orm.AutomationWorkflow.created_at, "datetime"), True),
    (SortKey(orm.AutomationWorkflow.id, "uuid"), True),
]


@strawberry.input
class CreateWorkflowInput:
    name: str
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(default=strawberry.UNSET, description="On by default.")
    definition: JSON = strawberry.field(description="A document valid against `workflowDefinitionSchema`.")


@strawberry.input
class UpdateWorkflowInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    definition: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="A changed definition becomes the next version; started runs keep theirs."
    )


@strawberry.input
class RetryWorkflowRunInput:
    id: strawberry.ID = strawberry.field(description="The run (an AutomationWorkflowRun).")


@strawberry.input
class CancelWorkflowRunInput:
    id: strawberry.ID = strawberry.field(description="The run (an AutomationWorkflowRun).")


@strawberry.input
class DryRunWorkflowInput:
    id: strawberry.ID = strawberry.field(description="The workflow.")
    record_id: strawberry.ID = strawberry.field(description="A record of the kind its trigger's event is about.")
    payload: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="The trigger event's payload, for payload conditions (its fields vary by event type).",
    )


@strawberry.type
class WorkflowPayload:
    workflow: AutomationWorkflow | None
    user_errors: list[UserErrorType]


@strawberry.type
class WorkflowRunPayload:
    run: AutomationWorkflowRun | None
    user_errors: list[UserErrorType]


@strawberry.type
class DryRunWorkflowPayload:
    trigger_matches: bool | None = strawberry.field(
        description="Whether the trigger's conditions hold for this record and payload."
    )
    steps: list[AutomationWorkflowDryRunStep] | None = strawberry.field(description="The steps a run would take, in order.")
    user_errors: list[UserErrorType]


@strawberry.type
class WorkflowQuery:
    @strawberry.field(description="Workflows, newest first.")
    async def workflows(
        self, info: Info, enabled: bool | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[AutomationWorkflow]:
        info.context.require(MANAGE_WORKFLOWS)
        statement = select(orm.AutomationWorkflow)
        if enabled is not None:
            statement = statement.where(orm.AutomationWorkflow.enabled.is_(enabled))
        return await paginate(
            info.context, statement, WORKFLOWS_NEWEST_FIRST, PageRequest(first, after, None, None), AutomationWorkflow.from_row
        )

    @strawberry.field(description="Workflow runs, newest first: of one workflow, or of all.")
    async def workflow_runs(
        self,
        info: Info,
        workflow_id: strawberry.ID | None = None,
        status: AutomationWorkflowRunStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AutomationWorkflowRun]:
        info.context.require(MANAGE_WORKFLOWS)
        parsed = None if workflow_id is None else parse_global_id(workflow_id, "AutomationWorkflow", "workflowId")
        return await run_list(info, parsed, status, first, after)

    @strawberry.field(description="The JSON Schema (draft 2020-12) every workflow definition is checked against.")
    def workflow_definition_schema(self, info: Info) -> JSON:
        info.context.require(MANAGE_WORKFLOWS)
        return cast(JSON, validator(info.context.runtime).schema)


def _workflow(row) -> AutomationWorkflow | None:
    return AutomationWorkflow.from_row(row) if row else None


def _run(row) -> AutomationWorkflowRun | None:
    return AutomationWorkflowRun.from_row(row) if row else None


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(description="A workflow, at version 1; enabled unless `enabled: false`.")
    async def create_workflow(self, info: Info, input: CreateWorkflowInput) -> WorkflowPayload:
        async def work(uow):
            return await workflow_service.create_workflow(uow, info.context.runtime, input_values(input))

        row, errors = await run_mutation(info, MANAGE_WORKFLOWS, work)
        return WorkflowPayload(workflow=_workflow(row), user_errors=errors)

    @strawberry.mutation(description="Rename, describe, switch on or off, or give a new definition (the next version).")
    async def update_workflow(self, info: Info, input: UpdateWorkflowInput) -> WorkflowPayload:
        async def work(uow):
            workflow_id = parse_global_id(input.id, "AutomationWorkflow", "id")
            return await workflow_service.update_workflow(uow, info.context.runtime, workflow_id, input_values(input))

        row, errors = await run_mutation(info, MANAGE_WORKFLOWS, work)
        return WorkflowPayload(workflow=_workflow(row), user_errors=errors)

    @strawberry.mutation(description="Take a failed run's failed step again now.")
    async def retry_workflow_run(self, info: Info, input: RetryWorkflowRunInput) -> WorkflowRunPayload:
        async def work(uow):
            return await workflow_service.retry_run(uow, parse_global_id(input.id, "AutomationWorkflowRun", "id"))

        row, errors = await run_mutation(info, MANAGE_WORKFLOWS, work)
        return WorkflowRunPayload(run=_run(row), user_errors=errors)

    @strawberry.mutation(description="Stop a run that has not finished: it takes no further step.")
    async def cancel_workflow_run(self, info: Info, input: CancelWorkflowRunInput) -> WorkflowRunPayload:
        async def work(uow):
            return await workflow_service.cancel_run(uow, parse_global_id(input.id, "AutomationWorkflowRun", "id"))

        row, errors = await run_mutation(info, MANAGE_WORKFLOWS, work)
        return WorkflowRunPayload(run=_run(row), user_errors=errors)

    @strawberry.mutation(description="What the workflow would do for this record, writing nothing: rolled back whatever it read.")
    async def dry_run_workflow(self, info: Info, input: DryRunWorkflowInput) -> DryRunWorkflowPayload:
        tables = {name: table for table, name in node_types_by_table(info.schema).items()}

        async def work(uow):
            type_name, record_id = split_global_id(input.record_id, tuple(tables), "recordId")
            payload = input.payload if isinstance(input.payload, dict) else {}
            workflow_id = parse_global_id(input.id, "AutomationWorkflow", "id")
            return await workflow_service.dry_run(uow, info.context.runtime, workflow_id, tables[type_name], record_id, payload)

        result, errors = await run_mutation(info, MANAGE_WORKFLOWS, work, dry_run=True)
        if result is None:
            return DryRunWorkflowPayload(trigger_matches=None, steps=None, user_errors=errors)
        steps = [AutomationWorkflowDryRunStep(step_id=s.step_id, type=s.type, input=s.input, note=s.note) for s in result.steps]
        return DryRunWorkflowPayload(trigger_matches=result.trigger_matches, steps=steps, user_errors=errors)

"""Retention's GraphQL: the entities plugins declare, the rules compliance sets, the dry run, the
sweep and its runs. Permission `privacy.retention.manage` (compliance)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    PageRequest,
    RowsByColumn,
    SortKey,
    User,
    UserErrorType,
    UserNode,
    input_values,
    load_row,
    node_resolver,
    node_types_by_table,
    paginate,
    parse_global_id,
    run_mutation,
    to_global_id,
)

from . import retention
from .retention_models import PrivacyRetentionCount, PrivacyRetentionRule, PrivacyRetentionRun

PERMISSION = "privacy.retention.manage"
RUN_COUNTS = RowsByColumn(PrivacyRetentionCount, PrivacyRetentionCount.run_id, PrivacyRetentionCount.entity)


@strawberry.enum
class RetentionAction(Enum):
    ANONYMISE = "anonymise"
    DELETE = "delete"


@strawberry.type(description="A kind of record a retention rule may cover, as a plugin declares it.")
class RetainableEntityInfo:
    name: str
    since: str = strawberry.field(description="What the period counts from.")
    actions: list[RetentionAction]
    person: bool = strawberry.field(description="A person: anonymising is their erasure in every plugin.")
    description: str


@strawberry.type(
    description="Keep the records of one entity `periodMonths` months from their start, then anonymise or delete them."
)
class RetentionRule(relay.Node):
    id: relay.NodeID[str]
    entity: str
    action: RetentionAction
    period_months: int
    basis: str = strawberry.field(description="Why this period: the law or policy it follows.")
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, r) -> RetentionRule:
        return cls(
            id=str(r.id),
            entity=r.entity,
            action=RetentionAction(r.action),
            period_months=r.period_months,
            basis=r.basis,
            active=r.active,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    resolve_nodes = node_resolver(PrivacyRetentionRule, PERMISSION)


@strawberry.type(description="What one sweep did under one rule.")
class RetentionRunRule:
    rule_id: strawberry.ID
    entity: str
    action: RetentionAction
    period_months: int
    cutoff: dt.datetime = strawberry.field(description="Records whose period began at or before this had outlived it.")
    applied: int = strawberry.field(description="Records anonymised or deleted.")
    held: int = strawberry.field(description="Left for a legal hold.")
    open_request: int = strawberry.field(description="Left because the person has an open data-subject request.")
    failed: int = strawberry.field(description="People whose erasure did not complete (see their request).")


@strawberry.type(description="One retention sweep.")
class RetentionRun(relay.Node):
    id: relay.NodeID[str]
    started_at: dt.datetime
    finished_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> RetentionRun:
        return cls(id=str(r.id), started_at=r.started_at, finished_at=r.finished_at, _row=r)

    resolve_nodes = node_resolver(PrivacyRetentionRun, PERMISSION)

    @strawberry.field(description="Who started it; null for the scheduled job.")
    async def actor(self, info: Info) -> UserNode | None:
        user = await load_row(info.context, User, self._row.actor_id) if self._row.actor_id else None
        return UserNode.from_row(user) if user else None

    @strawberry.field
    async def rules(self, info: Info) -> list[RetentionRunRule]:
        return [
            RetentionRunRule(
                rule_id=strawberry.ID(to_global_id("RetentionRule", r.rule_id)),
                entity=r.entity,
                action=RetentionAction(r.action),
                period_months=r.period_months,
                cutoff=r.cutoff,
                applied=r.applied,
                held=r.held,
                open_request=r.open_request,
                failed=r.failed,
            )
            for r in await RUN_COUNTS.load(info.context, self._row.id)
        ]


@strawberry.type(description="What the next sweep would do under one rule (the dry run).")
class RetentionPlan:
    rule: RetentionRule
    cutoff: dt.datetime
    apply: list[strawberry.ID] = strawberry.field(description="The records it would anonymise or delete.")
    held: list[strawberry.ID] = strawberry.field(description="Records it would leave for a legal hold.")
    open_request: list[strawberry.ID] = strawberry.field(description="Records of people with an open request.")


@strawberry.input
class CreateRetentionRuleInput:
    entity: str = strawberry.field(description="A name from `retentionEntities`.")
    action: RetentionAction
    period_months: int
    basis: str
    active: bool = True


@strawberry.input
class UpdateRetentionRuleInput:
    id: strawberry.ID
    action: RetentionAction | None = None
    period_months: int | None = None
    basis: str | None = None
    active: bool | None = None


@strawberry.input
class DeleteRetentionRuleInput:
    id: strawberry.ID


@strawberry.type
class RetentionRulePayload:
    rule: RetentionRule | None
    user_errors: list[UserErrorType]


@strawberry.type
class RetentionRunPayload:
    run: RetentionRun | None
    user_errors: list[UserErrorType]


def _values(input) -> dict:
    values = input_values(input, skip=("id",))
    if isinstance(values.get("action"), RetentionAction):
        values["action"] = values["action"].value
    return values


@strawberry.type
class RetentionQuery:
    @strawberry.field(description="The kinds of record retention rules may cover, from every installed plugin.")
    def retention_entities(self, info: Info) -> list[RetainableEntityInfo]:
        info.context.require(PERMISSION)
        return [
            RetainableEntityInfo(
                name=e.name,
                since=e.since,
                actions=[RetentionAction(a) for a in e.actions],
                person=e.person,
                description=e.description,
            )
            for e in sorted(retention.entities(info.context.runtime).values(), key=lambda e: e.name)
        ]

    @strawberry.field(description="Every retention rule, by entity.")
    async def retention_rules(self, info: Info) -> list[RetentionRule]:
        info.context.require(PERMISSION)
        rows = await info.context.scalars(select(PrivacyRetentionRule).order_by(PrivacyRetentionRule.entity))
        return [RetentionRule.from_row(r) for r in rows]

    @strawberry.field(description="The dry run: what a sweep now would do, rule by rule. Writes nothing.")
    async def retention_preview(self, info: Info) -> list[RetentionPlan]:
        info.context.require(PERMISSION)
        node_types = node_types_by_table(info.schema)

        def ids(plan, records) -> list[strawberry.ID]:
            node_type = node_types.get(plan.entity.table, plan.entity.table)
            return [strawberry.ID(to_global_id(node_type, record_id)) for record_id in records]

        return [
            RetentionPlan(
                rule=RetentionRule.from_row(plan.rule),
                cutoff=plan.cutoff,
                apply=ids(plan, [record_id for record_id, _ in plan.apply]),
                held=ids(plan, plan.held),
                open_request=ids(plan, plan.open_request),
            )
            for plan in await retention.preview(info.context.runtime)
        ]

    @strawberry.field(description="Retention sweeps, the most recent first.")
    async def retention_runs(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[RetentionRun]:
        info.context.require(PERMISSION)
        order = [(SortKey(PrivacyRetentionRun.started_at, "datetime"), True), (SortKey(PrivacyRetentionRun.id, "uuid"), True)]
        return await paginate(
            info.context, select(PrivacyRetentionRun), order, PageRequest(first, after, None, None), RetentionRun.from_row
        )


async def _rule_payload(info: Info, work) -> RetentionRulePayload:
    row, errors = await run_mutation(info, PERMISSION, work)
    return RetentionRulePayload(rule=RetentionRule.from_row(row) if row else None, user_errors=errors)


@strawberry.type
class RetentionMutation:
    @strawberry.mutation(description="Set how long one entity's records are kept (one rule per entity).")
    async def create_retention_rule(self, info: Info, input: CreateRetentionRuleInput) -> RetentionRulePayload:
        return await _rule_payload(info, lambda uow: retention.create_rule(uow, _values(input)))

    @strawberry.mutation
    async def update_retention_rule(self, info: Info, input: UpdateRetentionRuleInput) -> RetentionRulePayload:
        return await _rule_payload(
            info, lambda uow: retention.update_rule(uow, parse_global_id(input.id, "RetentionRule", "id"), _values(input))
        )

    @strawberry.mutation(description="Remove a rule; its past runs stay.")
    async def delete_retention_rule(self, info: Info, input: DeleteRetentionRuleInput) -> RetentionRulePayload:
        return await _rule_payload(info, lambda uow: retention.delete_rule(uow, parse_global_id(input.id, "RetentionRule", "id")))

    @strawberry.mutation(description="Sweep now, as the scheduled job does: anonymise or delete what outlived its period.")
    async def run_retention_sweep(self, info: Info) -> RetentionRunPayload:
        # A sweep spans many transactions (one per batch, one per erasure part), so not `run_mutation`.
        viewer = info.context.require(PERMISSION)
        run_id = await retention.sweep(info.context.runtime, viewer.user_id)
        await info.context.after_write()
        async with info.context.runtime.read_session() as session:
            return RetentionRunPayload(
                run=RetentionRun.from_row(await session.get_one(PrivacyRetentionRun, run_id)), user_errors=[]
            )

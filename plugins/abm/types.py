"""ABM's GraphQL types: the `Account.abm` view with engagement, coverage, committee, hierarchy and
plan, the engagement configuration, and the inputs and payloads of the mutations. Separate from
`schema.py`, which holds the root fields that resolve to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from enum import Enum
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Account,
    AccountNode,
    Contact,
    ContactNode,
    OrderDirection,
    RowsByColumn,
    TaskNode,
    User,
    UserErrorType,
    UserNode,
    load_row,
    node_resolver,
)

from . import committees, scoring, service
from . import models as orm

BUYING_ROLES = RowsByColumn(orm.AbmBuyingRole, orm.AbmBuyingRole.account_id, orm.AbmBuyingRole.role)
DEPARTMENTS = RowsByColumn(orm.AbmDepartment, orm.AbmDepartment.account_id, orm.AbmDepartment.name)
ACCOUNT_PLANS = RowsByColumn(orm.AbmAccountPlan, orm.AbmAccountPlan.account_id)

TREND_WEEKS = 4


def _live_engagement_factory(ctx):
    """Breakdowns for every target account of the request, computed in one pass."""

    async def load(account_ids):
        async with ctx.runtime.read_session() as session:
            config = await service.get_config(session)
            result = await scoring.compute_engagement(session, {a: [a] for a in account_ids}, ctx.runtime.clock.now(), config)
        return [result[a] for a in account_ids]

    return load


@strawberry.type
class AbmBreakdown:
    name: str
    points: float


@strawberry.type
class AbmTrendPoint:
    at: dt.datetime
    score: float


@strawberry.type
class AbmEngagement:
    score: float
    raw: float
    scored_at: dt.datetime | None
    _account_id: strawberry.Private[Any]

    async def _live(self, info: Info):
        return await info.context.loader("abm.engagement", _live_engagement_factory).load(self._account_id)

    @strawberry.field(
        description="Points by department of the participants (an activity touching two departments counts for both)."
    )
    async def by_department(self, info: Info) -> list[AbmBreakdown]:
        live = await self._live(info)
        return [AbmBreakdown(name=k, points=round(v, 2)) for k, v in sorted(live.by_department.items())]

    @strawberry.field(description="Points by the role that set each activity's multiplier.")
    async def by_role(self, info: Info) -> list[AbmBreakdown]:
        live = await self._live(info)
        return [AbmBreakdown(name=k, points=round(v, 2)) for k, v in sorted(live.by_role.items())]

    @strawberry.field
    async def departments_engaged(self, info: Info) -> int:
        return len((await self._live(info)).departments)

    @strawberry.field(description="Activities in the window, whatever their weight.")
    async def activities(self, info: Info) -> int:
        return (await self._live(info)).activities

    @strawberry.field(description=f"The score now and at each of the previous {TREND_WEEKS - 1} weeks, oldest first.")
    async def trend(self, info: Info) -> list[AbmTrendPoint]:
        now = info.context.runtime.clock.now()
        points = []
        async with info.context.runtime.read_session() as session:
            config = await service.get_config(session)
            for weeks in range(TREND_WEEKS - 1, -1, -1):
                at = now - dt.timedelta(weeks=weeks)
                score = (await scoring.compute_engagement(session, {0: [self._account_id]}, at, config))[0].score
                points.append(AbmTrendPoint(at=at, score=score))
        return points


@strawberry.type
class AbmCoverage:
    required: list[str]
    present: list[str]
    missing: list[str]
    percent: int


@strawberry.type
class AbmDepartment(relay.Node):
    id: relay.NodeID[str]
    name: str
    kind: str
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row) -> AbmDepartment:
        return cls(id=str(row.id), name=row.name, kind=row.kind, _row=row)

    resolve_nodes = node_resolver(orm.AbmDepartment, "abm.read")

    @strawberry.field
    async def parent(self, info: Info) -> AbmDepartment | None:
        row = await load_row(info.context, orm.AbmDepartment, self._row.parent_id) if self._row.parent_id else None
        return AbmDepartment.from_row(row) if row else None


@strawberry.type
class AbmCommitteeMember:
    role: str
    seniority: str | None
    _row: strawberry.Private[Any]

    @strawberry.field
    async def contact(self, info: Info) -> ContactNode | None:
        row = await load_row(info.context, Contact, self._row.contact_id)
        return ContactNode.from_row(row) if row and row.deleted_at is None else None

    @strawberry.field
    async def department(self, info: Info) -> AbmDepartment | None:
        row = await load_row(info.context, orm.AbmDepartment, self._row.department_id) if self._row.department_id else None
        return AbmDepartment.from_row(row) if row else None


@strawberry.type
class AbmHierarchy:
    _account: strawberry.Private[Any]

    @strawberry.field(graphql_type=AccountNode | None)
    def parent(self, info: Info) -> Awaitable[AccountNode | None] | None:
        return AccountNode.from_row(self._account).parent(info)

    @strawberry.field
    async def children(self, info: Info) -> list[AccountNode]:
        return await AccountNode.from_row(self._account).children(info)  # the core's field, resolved for one account

    async def _rollup(self, info: Info):
        async with info.context.runtime.read_session() as session:
            tree = await scoring.descendants(session, self._account.id)
            config = await service.get_config(session)
            return (await scoring.compute_engagement(session, {0: tree}, info.context.runtime.clock.now(), config))[0]

    @strawberry.field(description="Engagement of the account and all its descendants as one, each activity counted once.")
    async def rollup_score(self, info: Info) -> float:
        return (await self._rollup(info)).score

    @strawberry.field(description="Activities in the window across the account and its descendants, each counted once.")
    async def rollup_activities(self, info: Info) -> int:
        return (await self._rollup(info)).activities


@strawberry.type
class AbmAccountPlan:
    objectives: list[str]
    target_close: dt.date | None
    review_cadence: str | None
    notes: str | None
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row) -> AbmAccountPlan:
        return cls(
            objectives=list(row.objectives or []),
            target_close=row.target_close,
            review_cadence=row.review_cadence,
            notes=row.notes,
            updated_at=row.updated_at,
        )


@strawberry.type(description="Account-based marketing view of a target account (abm plugin).")
class AbmAccount:
    tier: str | None
    stage: str
    icp_score: int
    rationale: str | None
    _target: strawberry.Private[Any]

    @strawberry.field
    async def owner(self, info: Info) -> UserNode | None:
        row = await load_row(info.context, User, self._target.owner_id) if self._target.owner_id else None
        return UserNode.from_row(row) if row else None

    @strawberry.field
    def engagement(self) -> AbmEngagement:
        return AbmEngagement(
            score=self._target.score, raw=self._target.raw, scored_at=self._target.scored_at, _account_id=self._target.account_id
        )

    @strawberry.field
    async def coverage(self, info: Info) -> AbmCoverage:
        async with info.context.runtime.read_session() as session:
            result = await committees.coverage(session, self._target, await service.get_config(session))
        return AbmCoverage(required=result.required, present=result.present, missing=result.missing, percent=result.percent)

    @strawberry.field
    async def buying_committee(self, info: Info) -> list[AbmCommitteeMember]:
        info.context.require("abm.read_people")
        rows = await BUYING_ROLES.load(info.context, self._target.account_id)
        return [AbmCommitteeMember(role=r.role, seniority=r.seniority, _row=r) for r in rows]

    @strawberry.field
    async def departments(self, info: Info) -> list[AbmDepartment]:
        rows = await DEPARTMENTS.load(info.context, self._target.account_id)
        return [AbmDepartment.from_row(r) for r in rows]

    @strawberry.field
    async def hierarchy(self, info: Info) -> AbmHierarchy:
        return AbmHierarchy(_account=await load_row(info.context, Account, self._target.account_id))

    @strawberry.field
    async def plan(self, info: Info) -> AbmAccountPlan | None:
        rows = await ACCOUNT_PLANS.load(info.context, self._target.account_id)
        return AbmAccountPlan.from_row(rows[0]) if rows else None


@strawberry.enum
class AbmTargetOrderField(Enum):
    SCORE = "score"
    ICP_SCORE = "icp_score"
    NAME = "name"


@strawberry.input
class AbmTargetOrder:
    field: AbmTargetOrderField
    direction: OrderDirection = OrderDirection.DESC


@strawberry.input
class AbmTargetFilter:
    tier: str | None = None
    stage: str | None = None
    owner_id: strawberry.ID | None = None


@strawberry.enum
class AbmIcpOperator(Enum):
    GTE = "gte"
    LTE = "lte"
    EQ = "eq"
    IN = "in"


@strawberry.type
class AbmActivityWeight:
    activity_type: str
    weight: float


@strawberry.type
class AbmRoleMultiplier:
    role: str
    multiplier: float


@strawberry.type
class AbmTierThreshold:
    tier: str
    min_score: float


@strawberry.type
class AbmRequiredRoles:
    tier: str
    roles: list[str]


@strawberry.type(description="Points when an account's field matches; the ICP score is their sum.")
class AbmIcpRule:
    field: str
    op: AbmIcpOperator
    value: JSON
    points: int


@strawberry.type(description="The engagement formula, stage thresholds and ICP rules (see the plugin's README).")
class AbmEngagementConfig:
    window_days: int
    aware_days: int
    weights: list[AbmActivityWeight]
    role_multipliers: list[AbmRoleMultiplier]
    department_bonus: float
    department_cap: float
    mqa_score: float
    mqa_departments: int
    engaged_score: float
    icp_rules: list[AbmIcpRule]
    tier_thresholds: list[AbmTierThreshold]
    required_roles: list[AbmRequiredRoles]

    @classmethod
    def of(cls, config: dict) -> AbmEngagementConfig:
        return cls(
            window_days=config["window_days"],
            aware_days=config["aware_days"],
            weights=[AbmActivityWeight(activity_type=k, weight=v) for k, v in config["weights"].items()],
            role_multipliers=[AbmRoleMultiplier(role=k, multiplier=v) for k, v in config["role_multipliers"].items()],
            department_bonus=config["department_bonus"],
            department_cap=config["department_cap"],
            mqa_score=config["mqa_score"],
            mqa_departments=config["mqa_departments"],
            engaged_score=config["engaged_score"],
            icp_rules=[
                AbmIcpRule(field=r["field"], op=AbmIcpOperator(r["op"]), value=r["value"], points=r["points"])
                for r in config["icp_rules"]
            ],
            tier_thresholds=[AbmTierThreshold(tier=k, min_score=v) for k, v in config["tier_thresholds"].items()],
            required_roles=[AbmRequiredRoles(tier=k, roles=list(v)) for k, v in config["required_roles"].items()],
        )


@strawberry.type
class AbmTargetPayload:
    account: AccountNode | None
    user_errors: list[UserErrorType]


@strawberry.type
class AbmUntargetPayload:
    account_id: strawberry.ID | None
    user_errors: list[UserErrorType]


@strawberry.type
class AbmDepartmentPayload:
    department: AbmDepartment | None
    user_errors: list[UserErrorType]


@strawberry.type
class AbmPlanPayload:
    plan: AbmAccountPlan | None
    user_errors: list[UserErrorType]


@strawberry.type
class AbmConfigPayload:
    config: AbmEngagementConfig | None
    user_errors: list[UserErrorType]


@strawberry.type
class AbmTasksPayload:
    tasks: list[TaskNode]
    user_errors: list[UserErrorType]


@strawberry.type
class AbmAudienceMember:
    role: str | None
    _member: strawberry.Private[Any]

    @strawberry.field
    async def contact(self, info: Info) -> ContactNode:
        return ContactNode.from_row(await load_row(info.context, Contact, self._member.contact_id))

    @strawberry.field
    async def account(self, info: Info) -> AccountNode:
        return AccountNode.from_row(await load_row(info.context, Account, self._member.account_id))


@strawberry.type
class AbmAudiencePayload:
    members: list[AbmAudienceMember]
    excluded_without_consent: int
    user_errors: list[UserErrorType]


@strawberry.input
class SetTargetAccountInput:
    account_id: strawberry.ID
    tier: str | None = strawberry.field(
        default=strawberry.UNSET, description="tier_1, tier_2 or tier_3; null to follow the ICP score"
    )
    owner_id: strawberry.ID | None = strawberry.UNSET
    rationale: str | None = strawberry.UNSET


@strawberry.input
class UntargetAccountInput:
    account_id: strawberry.ID


@strawberry.input
class CreateDepartmentInput:
    account_id: strawberry.ID
    name: str
    kind: str = "other"
    parent_id: strawberry.ID | None = None


@strawberry.input
class AssignBuyingRoleInput:
    account_id: strawberry.ID
    contact_id: strawberry.ID
    role: str | None = strawberry.field(default=None, description="null removes the contact from the committee")
    department_id: strawberry.ID | None = None
    seniority: str | None = None


@strawberry.input
class UpsertAccountPlanInput:
    account_id: strawberry.ID
    objectives: list[str] | None = None
    target_close: dt.date | None = None
    review_cadence: str | None = None
    notes: str | None = None


@strawberry.input
class AbmActivityWeightInput:
    activity_type: str = strawberry.field(
        description="An activity type (meeting, event, …), or call_connected, email_inbound, email_outbound."
    )
    weight: float = strawberry.field(description="0 to 1,000,000.")


@strawberry.input
class AbmRoleMultiplierInput:
    role: str
    multiplier: float = strawberry.field(description="0 to 100.")


@strawberry.input
class AbmTierThresholdInput:
    tier: str
    min_score: float = strawberry.field(description="The lowest ICP score of the tier, 0 to 1,000,000.")


@strawberry.input
class AbmRequiredRolesInput:
    tier: str
    roles: list[str]


@strawberry.input
class AbmIcpRuleInput:
    field: str = strawberry.field(description=f"{', '.join(service.ICP_ACCOUNT_FIELDS)} or custom_fields.<key>")
    op: AbmIcpOperator
    value: JSON = strawberry.field(
        description="GTE/LTE: a number; EQ: a text, number or boolean; IN: a list of those. "
        "JSON because custom fields hold any of them."
    )
    points: int = strawberry.field(description="-1000 to 1000.")


@strawberry.input(
    description="Only the settings sent change. A weight, multiplier, threshold or required-roles entry "
    "replaces that one entry; `icpRules` replaces every rule."
)
class SetEngagementConfigInput:
    window_days: int | None = strawberry.field(default=None, description="1 to 3650.")
    aware_days: int | None = strawberry.field(default=None, description="1 to 3650.")
    weights: list[AbmActivityWeightInput] | None = None
    role_multipliers: list[AbmRoleMultiplierInput] | None = None
    department_bonus: float | None = None
    department_cap: float | None = None
    mqa_score: float | None = None
    mqa_departments: int | None = None
    engaged_score: float | None = None
    icp_rules: list[AbmIcpRuleInput] | None = None
    tier_thresholds: list[AbmTierThresholdInput] | None = None
    required_roles: list[AbmRequiredRolesInput] | None = None


@strawberry.input
class CreateCoverageTasksInput:
    account_id: strawberry.ID


@strawberry.input
class ExportAudienceInput:
    destination: str
    third_party: bool = False
    purpose: str = "marketing"
    tier: str | None = None
    stage: str | None = None
    owner_id: strawberry.ID | None = None
    roles: list[str] | None = None
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only the members of this saved segment (needs the insights plugin)."
    )

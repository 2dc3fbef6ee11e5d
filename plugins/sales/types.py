"""Sales GraphQL types. Names carry the `Sales` prefix (global ids hold the type name); related
rows load through the request's DataLoaders, so a page of deals costs a statement per level."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Account,
    AccountNode,
    Contact,
    ContactNode,
    MinorUnits,
    RowsByColumn,
    User,
    UserNode,
    load_row,
    node_resolver,
    sealed_field,
)

from . import models as orm
from .teams import READ, TEAM_READ, team_scope

STAGES = RowsByColumn(orm.SalesStage, orm.SalesStage.pipeline_id, orm.SalesStage.position)
HISTORY = RowsByColumn(orm.SalesStageChange, orm.SalesStageChange.deal_id, orm.SalesStageChange.changed_at)
ROLES = RowsByColumn(orm.SalesDealContact, orm.SalesDealContact.deal_id, orm.SalesDealContact.created_at)
TEAM = RowsByColumn(orm.SalesTeamMember, orm.SalesTeamMember.account_id, orm.SalesTeamMember.created_at)


async def user_node(info: Info, user_id) -> UserNode | None:
    row = await load_row(info.context, User, user_id) if user_id else None
    return UserNode.from_row(row) if row else None


def team_node_resolver(model):
    """`resolve_nodes` for a type whose rows belong to an account: as the kit's `node_resolver`,
    and a viewer without `sales.read_all` gets only those of accounts whose team they are on."""
    plain = node_resolver(model, READ).__func__

    async def resolve_nodes(cls, *, info: Info, node_ids, required: bool = False):
        found = await plain(cls, info=info, node_ids=node_ids, required=required)
        scope = team_scope(info.context)
        if scope is None:
            return found
        mine = set(await team_accounts(info, scope))
        return [node if node is not None and node._row.account_id in mine else None for node in found]

    resolve_nodes.model = model  # read by the kit's `node_types_by_table`
    return classmethod(resolve_nodes)


@strawberry.type(description="A column of a pipeline (sales plugin).")
class SalesStage(relay.Node):
    id: relay.NodeID[str]
    name: str
    position: int
    probability: int = strawberry.field(description="Default win probability of its deals, in percent.")
    kind: str = strawberry.field(description="open, won or lost.")
    rotting_days: int | None = strawberry.field(description="Days without activity after which an open deal here is stale.")

    @classmethod
    def from_row(cls, row: orm.SalesStage) -> SalesStage:
        return cls(
            id=str(row.id),
            name=row.name,
            position=row.position,
            probability=row.probability,
            kind=row.kind,
            rotting_days=row.rotting_days,
        )

    resolve_nodes = node_resolver(orm.SalesStage, READ)


@strawberry.type(description="A sales pipeline with its ordered stages (sales plugin).")
class SalesPipeline(relay.Node):
    id: relay.NodeID[str]
    name: str
    position: int
    team_role: str = strawberry.field(description="The account team role whose member owns a new deal created without an owner.")

    @strawberry.field
    async def stages(self, info: Info) -> list[SalesStage]:
        return [SalesStage.from_row(r) for r in await STAGES.load(info.context, self._row.id)]

    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.SalesPipeline) -> SalesPipeline:
        return cls(id=str(row.id), name=row.name, position=row.position, team_role=row.team_role, _row=row)

    resolve_nodes = node_resolver(orm.SalesPipeline, READ)


@strawberry.type(description="A stage change of a deal: from (null when created), to, who, when.")
class SalesStageChange:
    changed_at: dt.datetime
    _row: strawberry.Private[Any]

    @strawberry.field
    async def from_stage(self, info: Info) -> SalesStage | None:
        row = await load_row(info.context, orm.SalesStage, self._row.from_stage_id) if self._row.from_stage_id else None
        return SalesStage.from_row(row) if row else None

    @strawberry.field
    async def to_stage(self, info: Info) -> SalesStage:
        return SalesStage.from_row(await load_row(info.context, orm.SalesStage, self._row.to_stage_id))

    @strawberry.field
    async def changed_by(self, info: Info) -> UserNode | None:
        return await user_node(info, self._row.changed_by_id)


@strawberry.type(description="A contact's role on a deal. The note is personal data.")
class SalesDealContactRole:
    role: str
    is_primary: bool
    note: str | None = sealed_field("note", "What the team knows of the person's part. Null once erased.")
    _row: strawberry.Private[Any]

    @strawberry.field
    async def contact(self, info: Info) -> ContactNode | None:
        row = await load_row(info.context, Contact, self._row.contact_id)
        return ContactNode.from_row(row) if row and row.deleted_at is None else None


@strawberry.type(description="A user on an account's team (sales plugin).")
class SalesTeamMember:
    role: str = strawberry.field(description="account_executive, inside_sales, customer_success or technical.")
    department: str | None = strawberry.field(description="The account's department this member covers, if any.")
    _row: strawberry.Private[Any]

    @strawberry.field
    async def user(self, info: Info) -> UserNode | None:
        return await user_node(info, self._row.user_id)


@strawberry.type(description="A deal (opportunity) on an account (sales plugin). Amounts are integer minor units.")
class SalesDeal(relay.Node):
    id: relay.NodeID[str]
    name: str
    amount: MinorUnits = strawberry.field(description="In minor units of `currency` (yen for JPY).")
    currency: str = strawberry.field(description="ISO 4217 code.")
    probability: int = strawberry.field(description="Win probability, in percent.")
    forecast_category: str
    expected_close_date: dt.date | None
    close_date: dt.date | None
    department: str | None = strawberry.field(description="The account's department the deal is with.")
    source: str | None
    competitors: list[str]
    next_step: str | None
    custom_fields: JSON
    lost_reason: str | None
    lost_to_competitor: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    stage_entered_at: dt.datetime
    last_activity_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.SalesDeal) -> SalesDeal:
        return cls(
            id=str(row.id),
            name=row.name,
            amount=MinorUnits(row.amount),
            currency=row.currency,
            probability=row.probability,
            forecast_category=row.forecast_category,
            expected_close_date=row.expected_close_date,
            close_date=row.close_date,
            department=row.department,
            source=row.source,
            competitors=list(row.competitors or []),
            next_step=row.next_step,
            custom_fields=cast(JSON, row.custom_fields or {}),
            lost_reason=row.lost_reason,
            lost_to_competitor=row.lost_to_competitor,
            created_at=row.created_at,
            updated_at=row.updated_at,
            stage_entered_at=row.stage_entered_at,
            last_activity_at=row.last_activity_at,
            _row=row,
        )

    resolve_nodes = team_node_resolver(orm.SalesDeal)

    @strawberry.field(description="amount × probability / 100, rounded down.")
    def weighted_amount(self) -> MinorUnits:
        return MinorUnits(self._row.amount * self._row.probability // 100)

    @strawberry.field
    async def account(self, info: Info) -> AccountNode | None:
        row = await load_row(info.context, Account, self._row.account_id)
        return AccountNode.from_row(row) if row else None

    @strawberry.field
    async def pipeline(self, info: Info) -> SalesPipeline:
        return SalesPipeline.from_row(await load_row(info.context, orm.SalesPipeline, self._row.pipeline_id))

    @strawberry.field
    async def stage(self, info: Info) -> SalesStage:
        return SalesStage.from_row(await load_row(info.context, orm.SalesStage, self._row.stage_id))

    @strawberry.field
    async def owner(self, info: Info) -> UserNode | None:
        return await user_node(info, self._row.owner_id)

    @strawberry.field(description="Open, in a stage with `rottingDays`, and without activity for longer than that.")
    async def is_stale(self, info: Info) -> bool:
        stage = await load_row(info.context, orm.SalesStage, self._row.stage_id)
        return is_stale(self._row, stage, info.context.runtime.clock.now())

    @strawberry.field(description="Stage changes, oldest first.")
    async def stage_history(self, info: Info) -> list[SalesStageChange]:
        return [SalesStageChange(changed_at=r.changed_at, _row=r) for r in await HISTORY.load(info.context, self._row.id)]

    @strawberry.field
    async def contact_roles(self, info: Info) -> list[SalesDealContactRole]:
        return [
            SalesDealContactRole(role=r.role, is_primary=r.is_primary, _row=r)
            for r in await ROLES.load(info.context, self._row.id)
        ]


def is_stale(deal: orm.SalesDeal, stage: orm.SalesStage, now: dt.datetime) -> bool:
    return (
        stage.kind == "open"
        and stage.rotting_days is not None
        and now - deal.last_activity_at > dt.timedelta(days=stage.rotting_days)
    )


def _team_accounts_factory(ctx):
    async def load(user_ids: list) -> list[list]:
        rows = await ctx.execute(orm.SalesTeamMember.__table__.select().where(orm.SalesTeamMember.user_id.in_(user_ids)))
        found: dict = {}
        for row in rows.mappings():
            found.setdefault(row["user_id"], []).append(row["account_id"])
        return [found.get(u, []) for u in user_ids]

    return load


def team_accounts(info: Info, user_id):
    """The accounts whose team `user_id` is on, loaded once per request."""
    return info.context.loader("sales.team_accounts", _team_accounts_factory).load(user_id)


async def account_team(root, info: Info) -> list[SalesTeamMember]:
    """`Account.team`."""
    info.context.require(TEAM_READ)
    return [SalesTeamMember(role=r.role, department=r.department, _row=r) for r in await TEAM.load(info.context, root._row.id)]

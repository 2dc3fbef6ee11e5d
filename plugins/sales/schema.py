"""Sales GraphQL root fields for pipelines, deals and account teams, and the fields it puts on
Account and Contact. Every mutation answers `userErrors`; reads respect the team scope."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    DateTimeFilter,
    FilterSpec,
    IDFilter,
    IntFilter,
    MinorUnits,
    OrderDirection,
    PageRequest,
    SortKey,
    StringFilter,
    UserErrorType,
    input_values,
    paginate,
    parse_global_id,
    run_mutation,
)

from . import deals, pipelines, teams
from . import models as orm
from .teams import CONFIGURE, READ, TEAM_MANAGE, WRITE, team_scope, visible_deals
from .types import SalesDeal, SalesDealContactRole, SalesPipeline, SalesTeamMember


@strawberry.input(description="Match an amount in minor units (beyond GraphQL's 32-bit Int: ¥5,000,000,000 fits).")
class SalesAmountFilter:
    eq: MinorUnits | None = None
    in_: list[MinorUnits] | None = strawberry.field(default=None, name="in")
    gt: MinorUnits | None = None
    gte: MinorUnits | None = None
    lt: MinorUnits | None = None
    lte: MinorUnits | None = None
    is_null: bool | None = None


@strawberry.input
class SalesDealFilter:
    and_: list[SalesDealFilter] | None = strawberry.field(default=None, name="and")
    or_: list[SalesDealFilter] | None = strawberry.field(default=None, name="or")
    not_: SalesDealFilter | None = strawberry.field(default=None, name="not")
    name: StringFilter | None = None
    currency: StringFilter | None = None
    forecast_category: StringFilter | None = None
    department: StringFilter | None = None
    amount: SalesAmountFilter | None = None
    probability: IntFilter | None = None
    account_id: IDFilter | None = None
    pipeline_id: IDFilter | None = None
    stage_id: IDFilter | None = None
    owner_id: IDFilter | None = None
    created_at: DateTimeFilter | None = None
    stage_kind: str | None = strawberry.field(default=None, description="open, won or lost.")


DEAL_FILTER = FilterSpec(
    strings={
        "name": orm.SalesDeal.name,
        "currency": orm.SalesDeal.currency,
        "forecast_category": orm.SalesDeal.forecast_category,
        "department": orm.SalesDeal.department,
    },
    ints={"amount": orm.SalesDeal.amount, "probability": orm.SalesDeal.probability},
    ids={
        "account_id": (orm.SalesDeal.account_id, "Account"),
        "pipeline_id": (orm.SalesDeal.pipeline_id, "SalesPipeline"),
        "stage_id": (orm.SalesDeal.stage_id, "SalesStage"),
        "owner_id": (orm.SalesDeal.owner_id, "User"),
    },
    datetimes={"created_at": orm.SalesDeal.created_at},
    special={"stage_kind": lambda kind: orm.SalesDeal.stage_id.in_(select(orm.SalesStage.id).where(orm.SalesStage.kind == kind))},
)


@strawberry.enum
class SalesDealOrderField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    AMOUNT = "amount"
    NAME = "name"


@strawberry.input
class SalesDealOrder:
    field: SalesDealOrderField
    direction: OrderDirection = OrderDirection.DESC


DEAL_SORT = {
    SalesDealOrderField.CREATED_AT: SortKey(orm.SalesDeal.created_at, "datetime"),
    SalesDealOrderField.UPDATED_AT: SortKey(orm.SalesDeal.updated_at, "datetime"),
    SalesDealOrderField.AMOUNT: SortKey(orm.SalesDeal.amount, "int"),
    SalesDealOrderField.NAME: SortKey(orm.SalesDeal.name, "text"),
}
BY_ID = SortKey(orm.SalesDeal.id, "uuid")


async def deal_list(info: Info, statement, filter=None, order_by=None, first=None, after=None) -> Connection[SalesDeal]:
    info.context.require(READ)
    statement = statement.where(DEAL_FILTER.compile(filter), visible_deals(team_scope(info.context)))
    orders = order_by or [SalesDealOrder(field=SalesDealOrderField.CREATED_AT)]
    order = [(DEAL_SORT[o.field], o.direction == OrderDirection.DESC) for o in orders]
    order.append((BY_ID, order[-1][1]))
    return await paginate(info.context, statement, order, PageRequest(first, after, None, None), SalesDeal.from_row)


async def account_deals(root, info: Info, first: int | None = None, after: str | None = None) -> Connection[SalesDeal]:
    """`Account.deals`: the account's deals, newest first."""
    return await deal_list(info, select(orm.SalesDeal).where(orm.SalesDeal.account_id == root._row.id), first=first, after=after)


async def contact_deals(root, info: Info, first: int | None = None, after: str | None = None) -> Connection[SalesDeal]:
    """`Contact.deals`: the deals the contact has a role on, newest first."""
    on_deal = select(orm.SalesDealContact.deal_id).where(orm.SalesDealContact.contact_id == root._row.id)
    return await deal_list(info, select(orm.SalesDeal).where(orm.SalesDeal.id.in_(on_deal)), first=first, after=after)


# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input
class SalesStageInput:
    name: str
    probability: int
    kind: str = "open"
    rotting_days: int | None = None


@strawberry.input
class CreatePipelineInput:
    name: str
    stages: list[SalesStageInput]
    team_role: str | None = strawberry.field(
        default=None,
        description="The account team role whose member owns a deal created without an owner (default account_executive).",
    )


@strawberry.type
class CreatePipelinePayload:
    pipeline: SalesPipeline | None
    user_errors: list[UserErrorType]


@strawberry.input
class CreateDealInput:
    name: str
    account_id: strawberry.ID
    pipeline_id: strawberry.ID
    amount: MinorUnits
    currency: str | None = strawberry.UNSET
    stage_id: strawberry.ID | None = strawberry.UNSET
    probability: int | None = strawberry.UNSET
    forecast_category: str | None = strawberry.UNSET
    expected_close_date: dt.date | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Left out: the account team's member in the pipeline's team role for the department, else the creator.",
    )
    department: str | None = strawberry.field(default=strawberry.UNSET, description="The account's department the deal is with.")
    source: str | None = strawberry.UNSET
    competitors: list[str] | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input
class UpdateDealInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    account_id: strawberry.ID | None = strawberry.UNSET
    amount: MinorUnits | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    probability: int | None = strawberry.UNSET
    forecast_category: str | None = strawberry.UNSET
    expected_close_date: dt.date | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    department: str | None = strawberry.UNSET
    source: str | None = strawberry.UNSET
    competitors: list[str] | None = strawberry.UNSET
    next_step: str | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input
class MoveDealStageInput:
    id: strawberry.ID
    stage_id: strawberry.ID
    close_date: dt.date | None = None
    lost_reason: str | None = None
    competitor: str | None = None


@strawberry.input
class MarkDealWonInput:
    id: strawberry.ID
    close_date: dt.date
    stage_id: strawberry.ID | None = strawberry.field(default=None, description="A won stage; default: the pipeline's first.")


@strawberry.input
class MarkDealLostInput:
    id: strawberry.ID
    close_date: dt.date
    reason: str = strawberry.field(description="One of the configured lost reasons (`salesLostReasons`).")
    competitor: str | None = None
    stage_id: strawberry.ID | None = strawberry.field(default=None, description="A lost stage; default: the pipeline's first.")


@strawberry.type
class DealPayload:
    deal: SalesDeal | None
    user_errors: list[UserErrorType]


@strawberry.input
class SetDealContactRoleInput:
    deal_id: strawberry.ID
    contact_id: strawberry.ID
    role: str | None = strawberry.UNSET
    is_primary: bool | None = strawberry.UNSET
    note: str | None = strawberry.UNSET


@strawberry.type
class SetDealContactRolePayload:
    contact_role: SalesDealContactRole | None
    user_errors: list[UserErrorType]


@strawberry.input
class RemoveDealContactRoleInput:
    deal_id: strawberry.ID
    contact_id: strawberry.ID


@strawberry.input
class SetAccountTeamMemberInput:
    account_id: strawberry.ID
    user_id: strawberry.ID
    role: str | None = strawberry.UNSET
    department: str | None = strawberry.UNSET


@strawberry.type
class SetAccountTeamMemberPayload:
    member: SalesTeamMember | None
    user_errors: list[UserErrorType]


@strawberry.input
class RemoveAccountTeamMemberInput:
    account_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type
class RemovedPayload:
    removed: bool | None
    user_errors: list[UserErrorType]


DEAL_IDS = {"account_id": "Account", "pipeline_id": "SalesPipeline", "stage_id": "SalesStage", "owner_id": "User"}


@strawberry.type
class SalesQuery:
    @strawberry.field(description="Every pipeline with its stages, in order.")
    async def pipelines(self, info: Info) -> list[SalesPipeline]:
        info.context.require(READ)
        rows = await info.context.scalars(select(orm.SalesPipeline).order_by(orm.SalesPipeline.position))
        return [SalesPipeline.from_row(r) for r in rows]

    @strawberry.field(description="Deals this viewer may see (a `sales` rep: those of the accounts whose team they are on).")
    async def deals(
        self,
        info: Info,
        filter: SalesDealFilter | None = None,
        order_by: list[SalesDealOrder] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SalesDeal]:
        return await deal_list(info, select(orm.SalesDeal), filter, order_by, first, after)

    @strawberry.field(description="The reasons `markDealLost` accepts (configured: `[extra] sales_lost_reasons`).")
    def sales_lost_reasons(self, info: Info) -> list[str]:
        info.context.require(READ)
        return list(deals.lost_reasons(info.context.settings))


@strawberry.type
class SalesMutation:
    @strawberry.mutation(description="Create a pipeline with its stages (open, won and lost ones).")
    async def create_pipeline(self, info: Info, input: CreatePipelineInput) -> CreatePipelinePayload:
        async def work(uow):
            stages = [vars(s) for s in input.stages]
            return await pipelines.create_pipeline(uow, {"name": input.name, "stages": stages, "team_role": input.team_role})

        row, errors = await run_mutation(info, CONFIGURE, work)
        return CreatePipelinePayload(pipeline=SalesPipeline.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Create a deal in its pipeline's first open stage (or `stageId`).")
    async def create_deal(self, info: Info, input: CreateDealInput) -> DealPayload:
        scope = team_scope(info.context)

        async def work(uow):
            return await deals.create_deal(uow, input_values(input, ids=DEAL_IDS), scope)

        row, errors = await run_mutation(info, WRITE, work)
        return DealPayload(deal=SalesDeal.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Change a deal's fields (its stage moves with `moveDealStage`).")
    async def update_deal(self, info: Info, input: UpdateDealInput) -> DealPayload:
        scope = team_scope(info.context)

        async def work(uow):
            deal_id = parse_global_id(input.id, "SalesDeal", "id")
            return await deals.update_deal(uow, deal_id, input_values(input, ids=DEAL_IDS), scope)

        row, errors = await run_mutation(info, WRITE, work)
        return DealPayload(deal=SalesDeal.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Move a deal to another stage of its pipeline, recording the history.")
    async def move_deal_stage(self, info: Info, input: MoveDealStageInput) -> DealPayload:
        scope = team_scope(info.context)

        async def work(uow):
            deal_id = parse_global_id(input.id, "SalesDeal", "id")
            stage_id = parse_global_id(input.stage_id, "SalesStage", "stageId")
            return await deals.move_stage(
                uow,
                deal_id,
                stage_id,
                scope,
                close_date=input.close_date,
                lost_reason=input.lost_reason,
                competitor=input.competitor,
            )

        row, errors = await run_mutation(info, WRITE, work)
        return DealPayload(deal=SalesDeal.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Win a deal: move it to a won stage on its close date.")
    async def mark_deal_won(self, info: Info, input: MarkDealWonInput) -> DealPayload:
        scope = team_scope(info.context)

        async def work(uow):
            deal_id = parse_global_id(input.id, "SalesDeal", "id")
            stage_id = parse_global_id(input.stage_id, "SalesStage", "stageId") if input.stage_id else None
            return await deals.move_stage(uow, deal_id, stage_id, scope, kind="won", close_date=input.close_date)

        row, errors = await run_mutation(info, WRITE, work)
        return DealPayload(deal=SalesDeal.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Lose a deal: a lost stage, its close date, a reason, optionally the competitor.")
    async def mark_deal_lost(self, info: Info, input: MarkDealLostInput) -> DealPayload:
        scope = team_scope(info.context)

        async def work(uow):
            deal_id = parse_global_id(input.id, "SalesDeal", "id")
            stage_id = parse_global_id(input.stage_id, "SalesStage", "stageId") if input.stage_id else None
            return await deals.move_stage(
                uow,
                deal_id,
                stage_id,
                scope,
                kind="lost",
                close_date=input.close_date,
                lost_reason=input.reason,
                competitor=input.competitor,
            )

        row, errors = await run_mutation(info, WRITE, work)
        return DealPayload(deal=SalesDeal.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Give a contact a role on a deal (decision maker, influencer, …) with a note.")
    async def set_deal_contact_role(self, info: Info, input: SetDealContactRoleInput) -> SetDealContactRolePayload:
        scope = team_scope(info.context)

        async def work(uow):
            values = input_values(input, ids={"deal_id": "SalesDeal", "contact_id": "Contact"})
            return await deals.set_contact_role(uow, values.pop("deal_id"), values, scope)

        row, errors = await run_mutation(info, WRITE, work)
        role = SalesDealContactRole(role=row.role, is_primary=row.is_primary, _row=row) if row else None
        return SetDealContactRolePayload(contact_role=role, user_errors=errors)

    @strawberry.mutation(description="Take a contact's role off a deal.")
    async def remove_deal_contact_role(self, info: Info, input: RemoveDealContactRoleInput) -> RemovedPayload:
        scope = team_scope(info.context)

        async def work(uow):
            deal_id = parse_global_id(input.deal_id, "SalesDeal", "dealId")
            contact_id = parse_global_id(input.contact_id, "Contact", "contactId")
            return await deals.remove_contact_role(uow, deal_id, contact_id, scope)

        removed, errors = await run_mutation(info, WRITE, work)
        return RemovedPayload(removed=removed, user_errors=errors)

    @strawberry.mutation(description="Put a user on an account's team (or change their role and department there).")
    async def set_account_team_member(self, info: Info, input: SetAccountTeamMemberInput) -> SetAccountTeamMemberPayload:
        async def work(uow):
            return await teams.add_member(uow, input_values(input, ids={"account_id": "Account", "user_id": "User"}))

        row, errors = await run_mutation(info, TEAM_MANAGE, work)
        member = SalesTeamMember(role=row.role, department=row.department, _row=row) if row else None
        return SetAccountTeamMemberPayload(member=member, user_errors=errors)

    @strawberry.mutation(description="Take a user off an account's team.")
    async def remove_account_team_member(self, info: Info, input: RemoveAccountTeamMemberInput) -> RemovedPayload:
        async def work(uow):
            account_id = parse_global_id(input.account_id, "Account", "accountId")
            user_id = parse_global_id(input.user_id, "User", "userId")
            return await teams.remove_member(uow, account_id, user_id)

        removed, errors = await run_mutation(info, TEAM_MANAGE, work)
        return RemovedPayload(removed=removed, user_errors=errors)

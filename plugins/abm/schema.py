"""ABM's GraphQL: `Account.abm`, `targetAccounts`, and the mutations."""

from __future__ import annotations

import uuid
from enum import Enum

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import (
    Account,
    AccountNode,
    Connection,
    OrderDirection,
    PageRequest,
    SortKey,
    TaskNode,
    input_values,
    paginate,
    parse_global_id,
    run_mutation,
)

from . import audiences, committees, scoring, service, targets
from . import models as orm
from .types import (
    AbmAccount,
    AbmAccountPlan,
    AbmAudienceMember,
    AbmAudiencePayload,
    AbmConfigPayload,
    AbmDepartment,
    AbmDepartmentPayload,
    AbmEngagementConfig,
    AbmPlanPayload,
    AbmTargetFilter,
    AbmTargetOrder,
    AbmTargetOrderField,
    AbmTargetPayload,
    AbmTasksPayload,
    AbmUntargetPayload,
    AssignBuyingRoleInput,
    CreateCoverageTasksInput,
    CreateDepartmentInput,
    ExportAudienceInput,
    SetEngagementConfigInput,
    SetTargetAccountInput,
    UntargetAccountInput,
    UpsertAccountPlanInput,
)


def _abm(target) -> AbmAccount:
    return AbmAccount(
        tier=target.tier, stage=target.stage, icp_score=target.icp_score, rationale=target.rationale, _target=target
    )


async def account_abm(accounts: list[AccountNode], info: Info) -> list[AbmAccount | None]:
    """`Account.abm` of every account of a level (a batch field, one statement): null unless the
    account is a target account."""
    info.context.require("abm.read")
    ids = [account._row.id for account in accounts]
    targets = {
        t.account_id: t
        for t in await info.context.scalars(
            select(orm.AbmTargetAccount).where(orm.AbmTargetAccount.account_id.in_(list(set(ids))))
        )
    }
    return [_abm(targets[i]) if i in targets else None for i in ids]


SORT = {
    AbmTargetOrderField.SCORE: SortKey(orm.AbmTargetAccount.score, "float"),
    AbmTargetOrderField.ICP_SCORE: SortKey(orm.AbmTargetAccount.icp_score, "int"),
    AbmTargetOrderField.NAME: SortKey(Account.name, "text"),
}


@strawberry.type
class AbmQuery:
    @strawberry.field(description="Target accounts, highest engagement first unless ordered otherwise.")
    async def target_accounts(
        self,
        info: Info,
        filter: AbmTargetFilter | None = None,
        order_by: list[AbmTargetOrder] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AccountNode]:
        info.context.require("abm.read")
        statement = (
            select(Account)
            .join(orm.AbmTargetAccount, orm.AbmTargetAccount.account_id == Account.id)
            .where(Account.deleted_at.is_(None))
        )
        if filter is not None:
            if filter.tier is not None:
                statement = statement.where(orm.AbmTargetAccount.tier == filter.tier)
            if filter.stage is not None:
                statement = statement.where(orm.AbmTargetAccount.stage == filter.stage)
            if filter.owner_id is not None:
                statement = statement.where(orm.AbmTargetAccount.owner_id == parse_global_id(filter.owner_id, "User", "ownerId"))
        orders = order_by or [AbmTargetOrder(field=AbmTargetOrderField.SCORE)]
        order = [(SORT[o.field], o.direction == OrderDirection.DESC) for o in orders]
        order.append((SortKey(Account.id, "uuid"), order[-1][1]))
        return await paginate(info.context, statement, order, PageRequest(first, after, last, before), AccountNode.from_row)

    @strawberry.field(description="The engagement formula and ICP rules in force.")
    async def engagement_config(self, info: Info) -> AbmEngagementConfig:
        info.context.require("abm.read")
        async with info.context.runtime.read_session() as session:
            return AbmEngagementConfig.of(await service.get_config(session))


def _plain(value):
    """An input's value as the service takes it: input objects as dicts, enums as their values."""
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "__strawberry_definition__"):
        return {name: _plain(item) for name, item in vars(value).items()}
    return value


def _account_id(value) -> uuid.UUID:
    return parse_global_id(value, "Account", "accountId")


async def _target_account(info: Info, permission: str, work) -> AbmTargetPayload:
    async def run(uow):
        account_id = await work(uow)
        return await uow.session.get(Account, account_id)

    row, errors = await run_mutation(info, permission, run)
    return AbmTargetPayload(account=AccountNode.from_row(row) if row else None, user_errors=errors)


@strawberry.type
class AbmMutation:
    @strawberry.mutation(description="Make the account a target account, or change its tier, owner or rationale.")
    async def set_target_account(self, info: Info, input: SetTargetAccountInput) -> AbmTargetPayload:
        async def work(uow):
            account_id = _account_id(input.account_id)
            await targets.set_target(uow, account_id, input_values(input, {"owner_id": "User"}, skip=("account_id",)))
            return account_id

        return await _target_account(info, "abm.write", work)

    @strawberry.mutation
    async def untarget_account(self, info: Info, input: UntargetAccountInput) -> AbmUntargetPayload:
        done, errors = await run_mutation(info, "abm.write", lambda uow: targets.untarget(uow, _account_id(input.account_id)))
        return AbmUntargetPayload(account_id=input.account_id if done else None, user_errors=errors)

    @strawberry.mutation
    async def create_department(self, info: Info, input: CreateDepartmentInput) -> AbmDepartmentPayload:
        row, errors = await run_mutation(
            info,
            "abm.write",
            lambda uow: committees.create_department(
                uow, _account_id(input.account_id), input_values(input, {"parent_id": "AbmDepartment"}, skip=("account_id",))
            ),
        )
        return AbmDepartmentPayload(department=AbmDepartment.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Set a contact's role in the account's buying committee; a null role removes it.")
    async def assign_buying_role(self, info: Info, input: AssignBuyingRoleInput) -> AbmTargetPayload:
        async def work(uow):
            account_id = _account_id(input.account_id)
            await committees.assign_role(
                uow,
                account_id,
                parse_global_id(input.contact_id, "Contact", "contactId"),
                input_values(input, {"department_id": "AbmDepartment"}, skip=("account_id", "contact_id")),
            )
            return account_id

        return await _target_account(info, "abm.write", work)

    @strawberry.mutation
    async def upsert_account_plan(self, info: Info, input: UpsertAccountPlanInput) -> AbmPlanPayload:
        row, errors = await run_mutation(
            info,
            "abm.write",
            lambda uow: targets.upsert_plan(uow, _account_id(input.account_id), input_values(input, skip=("account_id",))),
        )
        return AbmPlanPayload(plan=AbmAccountPlan.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Change the engagement formula or ICP rules; every target account is rescored.")
    async def set_engagement_config(self, info: Info, input: SetEngagementConfigInput) -> AbmConfigPayload:
        async def work(uow):
            values = {name: _plain(value) for name, value in input_values(input).items()}
            config = await service.set_config(uow, values)
            ids = (await uow.session.execute(select(orm.AbmTargetAccount.account_id))).scalars().all()
            await scoring.recompute(uow, ids)
            return config

        config, errors = await run_mutation(info, "abm.configure", work)
        return AbmConfigPayload(config=AbmEngagementConfig.of(config) if config else None, user_errors=errors)

    @strawberry.mutation(description="A core task for each buying role the account's tier requires and nobody holds.")
    async def create_coverage_tasks(self, info: Info, input: CreateCoverageTasksInput) -> AbmTasksPayload:
        tasks, errors = await run_mutation(
            info, "abm.write", lambda uow: committees.create_coverage_tasks(uow, _account_id(input.account_id))
        )
        return AbmTasksPayload(tasks=[TaskNode.from_row(t) for t in tasks or []], user_errors=errors)

    @strawberry.mutation(description="Contacts of matching target accounts, without those lacking consent (privacy plugin).")
    async def export_audience(self, info: Info, input: ExportAudienceInput) -> AbmAudiencePayload:
        result, errors = await run_mutation(
            info,
            "abm.export",
            lambda uow: audiences.export_audience(
                uow,
                tier=input.tier,
                stage=input.stage,
                roles=input.roles,
                destination=input.destination,
                third_party=input.third_party,
                purpose=input.purpose,
                owner_id=parse_global_id(input.owner_id, "User", "ownerId") if input.owner_id else None,
                segment_id=parse_global_id(input.segment_id, "InsightsSegment", "segmentId") if input.segment_id else None,
            ),
        )
        members, excluded = result if result else ([], 0)
        return AbmAudiencePayload(
            members=[AbmAudienceMember(role=m.role, _member=m) for m in members],
            excluded_without_consent=excluded,
            user_errors=errors,
        )

"""Contracts in GraphQL: the term type, `Account.contracts`, `contracts`, `createContract` and
`renewContract`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from enishi.plugin import (
    Account,
    AccountNode,
    Connection,
    MinorUnits,
    PageRequest,
    RowsByColumn,
    SortKey,
    UserErrorType,
    UserNode,
    input_values,
    load_row,
    paginate,
    parse_global_id,
    run_mutation,
)

from . import contracts
from . import models as orm
from .teams import READ, WRITE, team_scope, visible_deals
from .types import SalesDeal, team_accounts, team_node_resolver, user_node

TERMS = RowsByColumn(orm.SalesContract, orm.SalesContract.account_id, orm.SalesContract.start_date, orm.SalesContract.term)
BY_END = [(SortKey(orm.SalesContract.created_at, "datetime"), True), (SortKey(orm.SalesContract.id, "uuid"), True)]


@strawberry.type(description="One term of a contract (sales plugin). `value` is per billing period, in minor units.")
class SalesContract(relay.Node):
    id: relay.NodeID[str]
    name: str
    term: int = strawberry.field(description="1 for the first term, 2 after one renewal, …")
    start_date: dt.date
    end_date: dt.date
    value: MinorUnits
    currency: str
    billing_cycle: str = strawberry.field(description="monthly, quarterly, semiannual, annual or one_time.")
    auto_renew: bool
    notice_days: int
    notice_deadline: dt.date = strawberry.field(description="The last day to give notice: end date − notice days.")
    status: str = strawberry.field(description="active, renewed (a later term follows) or expired.")
    department: str | None = strawberry.field(description="The account's department it is with.")
    created_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.SalesContract) -> SalesContract:
        return cls(
            id=str(row.id),
            name=row.name,
            term=row.term,
            start_date=row.start_date,
            end_date=row.end_date,
            value=MinorUnits(row.value),
            currency=row.currency,
            billing_cycle=row.billing_cycle,
            auto_renew=row.auto_renew,
            notice_days=row.notice_days,
            notice_deadline=row.notice_deadline,
            status=row.status,
            department=row.department,
            created_at=row.created_at,
            _row=row,
        )

    resolve_nodes = team_node_resolver(orm.SalesContract)

    @strawberry.field
    async def account(self, info: Info) -> AccountNode | None:
        row = await load_row(info.context, Account, self._row.account_id)
        return AccountNode.from_row(row) if row else None

    @strawberry.field(description="Who renewal alerts go to.")
    async def owner(self, info: Info) -> UserNode | None:
        return await user_node(info, self._row.owner_id)

    @strawberry.field(description="The won deal the contract came from.")
    async def deal(self, info: Info) -> SalesDeal | None:
        row = await load_row(info.context, orm.SalesDeal, self._row.deal_id) if self._row.deal_id else None
        return SalesDeal.from_row(row) if row else None

    @strawberry.field(description="The term this one renewed.")
    async def previous_term(self, info: Info) -> SalesContract | None:
        row = await load_row(info.context, orm.SalesContract, self._row.previous_id) if self._row.previous_id else None
        return SalesContract.from_row(row) if row else None


async def account_contracts(root, info: Info) -> list[SalesContract]:
    """`Account.contracts`: every term, oldest first."""
    info.context.require(READ)
    scope = team_scope(info.context)
    if scope is not None and root._row.id not in await team_accounts(info, scope):
        return []
    return [SalesContract.from_row(r) for r in await TERMS.load(info.context, root._row.id)]


@strawberry.input
class CreateContractInput:
    name: str
    account_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Default: the deal's.")
    deal_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="A won deal.")
    start_date: dt.date | None = strawberry.UNSET
    end_date: dt.date | None = strawberry.UNSET
    value: MinorUnits | None = strawberry.field(
        default=strawberry.UNSET, description="Per billing period. Default: the deal's amount."
    )
    currency: str | None = strawberry.UNSET
    billing_cycle: str | None = strawberry.UNSET
    auto_renew: bool | None = strawberry.UNSET
    notice_days: int | None = strawberry.UNSET
    department: str | None = strawberry.field(
        default=strawberry.UNSET, description="The account's department it is with. Default: the deal's."
    )
    owner_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Who the renewal alerts go to. Left out: the account team's customer success (else account executive) "
        "for the department, else the deal's owner, else the creator.",
    )


@strawberry.input
class RenewContractInput:
    id: strawberry.ID
    end_date: dt.date | None = strawberry.field(default=None, description="Default: as long as the term renewed.")
    value: MinorUnits | None = None
    billing_cycle: str | None = None
    auto_renew: bool | None = None
    notice_days: int | None = None


@strawberry.type
class ContractPayload:
    contract: SalesContract | None
    user_errors: list[UserErrorType]


@strawberry.type
class ContractQuery:
    @strawberry.field(description="Contract terms this viewer may see, newest first.")
    async def contracts(
        self, info: Info, status: str | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[SalesContract]:
        info.context.require(READ)
        statement = select(orm.SalesContract).where(visible_deals(team_scope(info.context), orm.SalesContract.account_id))
        if status is not None:
            statement = statement.where(orm.SalesContract.status == status)
        return await paginate(info.context, statement, BY_END, PageRequest(first, after, None, None), SalesContract.from_row)


@strawberry.type
class ContractMutation:
    @strawberry.mutation(description="Write a contract's first term, from a won deal or directly.")
    async def create_contract(self, info: Info, input: CreateContractInput) -> ContractPayload:
        scope = team_scope(info.context)

        async def work(uow):
            values = input_values(input, ids={"account_id": "Account", "deal_id": "SalesDeal", "owner_id": "User"})
            return await contracts.create_contract(uow, values, scope)

        row, errors = await run_mutation(info, WRITE, work)
        return ContractPayload(contract=SalesContract.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Write the next term of a contract, linked to the one it renews.")
    async def renew_contract(self, info: Info, input: RenewContractInput) -> ContractPayload:
        scope = team_scope(info.context)

        async def work(uow):
            contract_id = parse_global_id(input.id, "SalesContract", "id")
            return await contracts.renew_contract(uow, contract_id, input_values(input), scope)

        row, errors = await run_mutation(info, WRITE, work)
        return ContractPayload(contract=SalesContract.from_row(row) if row else None, user_errors=errors)

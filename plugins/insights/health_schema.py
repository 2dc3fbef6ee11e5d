"""Customer health in GraphQL: `Contact.health`, `Account.health` and `customersAtRisk` (the call
list, riskiest first). Reading needs `insights.read`, as every insight does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import Account as AccountRow
from enishi.plugin import AccountNode, Connection, ContactNode, PageRequest, SortKey, node_resolver, paginate, then
from enishi.plugin import Contact as ContactRow

from . import health
from .health_models import InsightsHealth
from .types import READ, InsightsCustomer, _visible


@strawberry.enum(description="Churn-risk bands; the lowest score of each is configured (insights plugin README).")
class InsightsRiskBand(Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@strawberry.type(description="Why a churn risk is what it is: a typed code, its values, and the sentence.")
class InsightsHealthReason:
    code: str = strawberry.field(
        description="NO_PURCHASE, NO_ACTIVITY, SLA_BREACHES, TICKETS, NPS or NO_LOYALTY_ACTIVITY (README lists their params)."
    )
    params: JSON
    text: str = strawberry.field(description='In English: "no purchase for 45 days (usual 10)".')
    text_ja: str = strawberry.field(description="In Japanese: 「45日間購入なし（通常10日ごと）」.")


@strawberry.type(name="InsightsHealth", description="A customer's churn risk, 0 (healthy) to 100, with its reasons.")
class InsightsHealthType(relay.Node):
    id: relay.NodeID[str]
    score: int = strawberry.field(description="Churn risk: Σ weight × signal risk (insights plugin README).")
    band: InsightsRiskBand
    reasons: list[InsightsHealthReason] = strawberry.field(description="The signals that weigh, the heaviest first.")
    computed_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: InsightsHealth) -> InsightsHealthType:
        return cls(
            id=str(row.id),
            score=row.score,
            band=InsightsRiskBand(row.band),
            reasons=[
                InsightsHealthReason(
                    code=r["code"],
                    params=r["params"],
                    text=health.render(r["code"], r["params"], "en"),
                    text_ja=health.render(r["code"], r["params"], "ja"),
                )
                for r in row.reasons
            ],
            computed_at=row.computed_at,
            _row=row,
        )

    @strawberry.field(graphql_type=ContactNode | None)
    def contact(self, info: Info) -> Awaitable[ContactNode | None] | None:
        return _visible(info, ContactNode, ContactRow, self._row.contact_id)

    @strawberry.field(graphql_type=AccountNode | None)
    def account(self, info: Info) -> Awaitable[AccountNode | None] | None:
        return _visible(info, AccountNode, AccountRow, self._row.account_id)

    resolve_nodes = node_resolver(InsightsHealth, READ)


def _health_by(column):
    def factory(ctx):
        async def load(owner_ids):
            rows = await ctx.scalars(select(InsightsHealth).where(column.in_(owner_ids)))
            found = {getattr(row, column.key): row for row in rows}
            return [found.get(owner) for owner in owner_ids]

        return load

    return factory


def _health_field(kind: str):
    def resolve(root, info: Info) -> Awaitable[InsightsHealthType | None]:
        info.context.require(READ)
        return then(
            info.context.loader(f"insights.health_by_{kind}", _health_by(health.health_column(kind))).load(root._row.id),
            lambda row: InsightsHealthType.from_row(row) if row else None,
        )

    return resolve


def type_fields():
    description = "Churn risk with its reasons, None until first scored (insights plugin)."
    return [
        (
            node,
            strawberry.field(
                resolver=_health_field(kind), name="health", graphql_type=InsightsHealthType | None, description=description
            ),
        )
        for node, kind in (("Contact", "contact"), ("Account", "account"))
    ]


RISK_ORDER = ((SortKey(InsightsHealth.score, "int"), True), (SortKey(InsightsHealth.id, "uuid"), True))


@strawberry.type
class HealthQuery:
    @strawberry.field(description="The call list: scored customers, riskiest first; optionally one band's.")
    async def customers_at_risk(
        self,
        info: Info,
        customer: InsightsCustomer = InsightsCustomer.CONTACT,
        band: InsightsRiskBand | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[InsightsHealthType]:
        info.context.require(READ)
        statement = select(InsightsHealth).where(health.health_column(customer.value).is_not(None))
        if band is not None:
            statement = statement.where(InsightsHealth.band == band.value)
        return await paginate(
            info.context, statement, RISK_ORDER, PageRequest(first, after, None, None), InsightsHealthType.from_row
        )

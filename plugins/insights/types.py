"""The insights plugin's GraphQL types: an RFM score, the segment distribution, the KPIs of a
period and the cohort retention table. Rates are fractions (0.05 is 5 %); money is in minor units
of the configured currency."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from enum import Enum
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from enishi.plugin import Account as AccountRow
from enishi.plugin import AccountNode, ContactNode, MinorUnits, load_row, node_resolver, then
from enishi.plugin import Contact as ContactRow

from . import kpis
from . import models as orm

READ = "insights.read"


@strawberry.enum(description="Who a score or a KPI counts: people, or the accounts they buy for.")
class InsightsCustomer(Enum):
    CONTACT = "contact"
    ACCOUNT = "account"


def _visible(info: Info, node_type, model, record_id):
    if record_id is None:
        return None
    return then(
        load_row(info.context, model, record_id),
        lambda row: node_type.from_row(row) if row is not None and row.deleted_at is None else None,
    )


@strawberry.type(name="InsightsRfm", description="A customer's RFM over the configured window (insights plugin).")
class InsightsRfmType(relay.Node):
    id: relay.NodeID[str]
    last_purchase_at: dt.datetime
    frequency: int = strawberry.field(description="Orders in the window.")
    monetary: MinorUnits = strawberry.field(description="Spent in the window, in minor units of `currency`.")
    currency: str
    recency_score: int
    frequency_score: int
    monetary_score: int
    segment: str = strawberry.field(description="The first configured segment rule the scores match.")
    computed_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.InsightsRfm, currency: str = "") -> InsightsRfmType:
        return cls(
            id=str(row.id),
            last_purchase_at=row.last_purchase_at,
            frequency=row.frequency,
            monetary=MinorUnits(row.monetary),
            currency=currency,
            recency_score=row.recency_score,
            frequency_score=row.frequency_score,
            monetary_score=row.monetary_score,
            segment=row.segment,
            computed_at=row.computed_at,
            _row=row,
        )

    @strawberry.field(description='The three scores as one code, recency first: "555" is the best.')
    def score(self) -> str:
        return f"{self.recency_score}{self.frequency_score}{self.monetary_score}"

    @strawberry.field(description="Whole days since the last purchase, now.")
    def recency_days(self, info: Info) -> int:
        return (info.context.runtime.clock.now() - self.last_purchase_at).days

    @strawberry.field(graphql_type=ContactNode | None)
    def contact(self, info: Info) -> Awaitable[ContactNode | None] | None:
        return _visible(info, ContactNode, ContactRow, self._row.contact_id)

    @strawberry.field(graphql_type=AccountNode | None)
    def account(self, info: Info) -> Awaitable[AccountNode | None] | None:
        return _visible(info, AccountNode, AccountRow, self._row.account_id)

    resolve_nodes = node_resolver(orm.InsightsRfm, READ)


@strawberry.type(description="How many scored customers one RFM segment holds: a bar of a chart.")
class InsightsSegmentCount:
    segment: str
    customers: int


@strawberry.type(description="Customer KPIs of a period; README.md of the insights plugin defines each.")
class InsightsKpis:
    first_day: dt.date
    last_day: dt.date
    currency: str
    customers_at_start: int = strawberry.field(description="Active (a purchase in the active window) when the period began.")
    customers_at_end: int = strawberry.field(description="Active when the period ended.")
    new_customers: int = strawberry.field(description="Whose first purchase ever fell in the period.")
    lost_customers: int = strawberry.field(description="Active at the start, no longer at the end.")
    churn_rate: float | None = strawberry.field(description="lostCustomers ÷ customersAtStart.")
    retention_rate: float | None = strawberry.field(description="1 − churnRate.")
    revenue: MinorUnits
    orders: int
    purchasers: int = strawberry.field(description="Customers with an order in the period.")
    repeat_purchase_rate: float | None = strawberry.field(description="Purchasers with two orders or more ÷ purchasers.")
    arpu: MinorUnits | None = strawberry.field(description="revenue ÷ purchasers, rounded down.")
    average_order_value: MinorUnits | None = strawberry.field(description="revenue ÷ orders (客単価), rounded down.")
    revenue_churn_rate: float | None = strawberry.field(
        description="Revenue lost or shrunk from customers active at the start, against the period before."
    )
    gross_margin_percent: float | None
    ltv: MinorUnits | None = strawberry.field(description="arpu × gross margin ÷ churnRate (needs the margin configured).")
    acquisition_spend: MinorUnits | None
    cac: MinorUnits | None = strawberry.field(description="acquisitionSpend ÷ newCustomers.")
    cac_payback_months: float | None = strawberry.field(description="cac ÷ (monthly arpu × gross margin).")
    expansion_revenue: MinorUnits = strawberry.field(
        description="Upsell and cross-sell: revenue in the period from customers already active at its start."
    )
    expansion_deal_revenue: MinorUnits | None = strawberry.field(
        description="Won deals in the period of accounts that were customers before it (None: no plugin reports deals)."
    )

    @classmethod
    def of(cls, period: kpis.Period, v: kpis.Kpis, deal_revenue: int | None) -> InsightsKpis:
        return cls(
            first_day=period.first_day,
            last_day=period.last_day,
            currency=v.currency,
            customers_at_start=v.customers_at_start,
            customers_at_end=v.customers_at_end,
            new_customers=v.new_customers,
            lost_customers=v.lost_customers,
            churn_rate=v.churn_rate,
            retention_rate=v.retention_rate,
            revenue=MinorUnits(v.revenue),
            orders=v.orders,
            purchasers=v.purchasers,
            repeat_purchase_rate=v.repeat_purchase_rate,
            arpu=_money(v.arpu),
            average_order_value=_money(v.average_order_value),
            revenue_churn_rate=v.revenue_churn_rate,
            gross_margin_percent=v.gross_margin_percent,
            ltv=_money(v.ltv),
            acquisition_spend=_money(v.acquisition_spend),
            cac=_money(v.cac),
            cac_payback_months=v.cac_payback_months,
            expansion_revenue=MinorUnits(v.expansion_revenue),
            expansion_deal_revenue=_money(deal_revenue),
        )


def _money(value: int | None) -> MinorUnits | None:
    return None if value is None else MinorUnits(value)


@strawberry.type(description="Customers whose first purchase fell in one month, and who of them came back.")
class InsightsCohort:
    month: dt.date = strawberry.field(description="The cohort's month (its first day, in the configured time zone).")
    size: int
    retained_within: float | None = strawberry.field(
        description="Share with another purchase within `months` of their first (None until that is known)."
    )
    by_month: list[float | None] = strawberry.field(
        description="Share buying in each following calendar month, 1 to `months` (None for months not over yet)."
    )

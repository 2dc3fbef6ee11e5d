"""Insights in GraphQL: `Contact.rfm` / `Account.rfm`, `rfmCustomers` (a call list by segment),
`rfmSegments` (the distribution), `customerKpis` and `cohortRetention`. Reading needs
`insights.read`; the types are in types.py."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable

import strawberry
from sqlalchemy import func, select
from strawberry.types import Info

from enishi.plugin import Connection, InvalidArgument, PageRequest, Purchase, SortKey, paginate, then

from . import config, kpis
from . import models as orm
from .rfm import rfm_column
from .types import READ, InsightsCohort, InsightsCustomer, InsightsKpis, InsightsRfmType, InsightsSegmentCount

MAX_PERIOD_DAYS = 3660
MAX_COHORT_MONTHS = 120
RFM_ORDER = (
    (SortKey(orm.InsightsRfm.monetary, "int"), True),
    (SortKey(orm.InsightsRfm.id, "uuid"), True),
)


def _rfm_by(column):
    def factory(ctx):
        async def load(owner_ids):
            found = {
                getattr(row, column.key): row for row in await ctx.scalars(select(orm.InsightsRfm).where(column.in_(owner_ids)))
            }
            return [found.get(owner) for owner in owner_ids]

        return load

    return factory


def _rfm_field(column, loader_name: str):
    def resolve(root, info: Info) -> Awaitable[InsightsRfmType | None]:
        info.context.require(READ)
        currency = config.currency(info.context.runtime.settings)
        return then(
            info.context.loader(loader_name, _rfm_by(column)).load(root._row.id),
            lambda row: InsightsRfmType.from_row(row, currency) if row else None,
        )

    return resolve


contact_rfm = _rfm_field(orm.InsightsRfm.contact_id, "insights.rfm_by_contact")
account_rfm = _rfm_field(orm.InsightsRfm.account_id, "insights.rfm_by_account")


def _period(first_day: dt.date, last_day: dt.date, zone) -> kpis.Period:
    if last_day < first_day:
        raise InvalidArgument("`lastDay` must not be before `firstDay`")
    if (last_day - first_day).days >= MAX_PERIOD_DAYS:
        raise InvalidArgument(f"a period is at most {MAX_PERIOD_DAYS} days")
    return kpis.Period.of(first_day, last_day, zone)


async def _deal_revenue(info: Info, session, period: kpis.Period, currency: str) -> int | None:
    """Won deals in the period of accounts that were customers before it: who had bought (a core
    purchase) or won a deal before the period. None when no plugin reports deals."""
    plugins = info.context.runtime.plugins
    if not plugins.has_hook("enishi_won_deals") or not plugins.implementations("enishi_won_deals"):
        return None
    until = period.last_day + dt.timedelta(days=1)
    deals = [deal for _, found in await plugins.call("enishi_won_deals", session=session, until=until) for deal in found or []]
    deals = [deal for deal in deals if deal.currency == currency]
    earlier = {deal.account_id for deal in deals if deal.closed_on < period.first_day}
    in_period = [deal for deal in deals if deal.closed_on >= period.first_day]
    bought: set[uuid.UUID] = set(
        (
            await session.execute(
                select(Purchase.account_id)
                .where(
                    Purchase.account_id.in_({deal.account_id for deal in in_period}),
                    Purchase.refunded_at.is_(None),
                    Purchase.purchased_at < period.start,
                )
                .distinct()
            )
        ).scalars()
    )
    return sum(deal.amount for deal in in_period if deal.account_id in earlier | bought)


@strawberry.type
class InsightsQuery:
    @strawberry.field(description="Customers with an RFM score, the biggest spenders first; optionally one segment's.")
    async def rfm_customers(
        self,
        info: Info,
        customer: InsightsCustomer = InsightsCustomer.CONTACT,
        segment: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[InsightsRfmType]:
        info.context.require(READ)
        statement = select(orm.InsightsRfm).where(rfm_column(customer.value).is_not(None))
        if segment is not None:
            statement = statement.where(orm.InsightsRfm.segment == segment)
        currency = config.currency(info.context.runtime.settings)
        return await paginate(
            info.context,
            statement,
            RFM_ORDER,
            PageRequest(first, after, None, None),
            lambda row: InsightsRfmType.from_row(row, currency),
        )

    @strawberry.field(description="How many scored customers each segment holds, in the order of the segment rules.")
    async def rfm_segments(self, info: Info, customer: InsightsCustomer = InsightsCustomer.CONTACT) -> list[InsightsSegmentCount]:
        info.context.require(READ)
        rows = await info.context.execute(
            select(orm.InsightsRfm.segment, func.count())
            .where(rfm_column(customer.value).is_not(None))
            .group_by(orm.InsightsRfm.segment)
        )
        counts = dict(rows.all())
        names = [rule.name for rule in config.segment_rules(info.context.runtime.settings)]
        names += sorted(set(counts) - set(names))  # scored under rules since changed, until the next run
        return [InsightsSegmentCount(segment=name, customers=counts.get(name, 0)) for name in names]

    @strawberry.field(description="Churn, retention, revenue, ARPU, LTV, CAC and expansion of a period (both days included).")
    async def customer_kpis(
        self, info: Info, first_day: dt.date, last_day: dt.date, customer: InsightsCustomer = InsightsCustomer.CONTACT
    ) -> InsightsKpis:
        info.context.require(READ)
        runtime = info.context.runtime
        period = _period(first_day, last_day, runtime.settings.zone)
        async with runtime.replica_session() as session:  # reports may lag: the replica, if any
            values = await kpis.compute(session, runtime.settings, customer.value, period)
            deals = await _deal_revenue(info, session, period, values.currency) if customer == InsightsCustomer.ACCOUNT else None
        return InsightsKpis.of(period, values, deals)

    @strawberry.field(
        description="Cohorts by the month of their first purchase, from `firstMonth` to `lastMonth`, and who came back "
        "within `months` (12: one-year retention; 36: three-year)."
    )
    async def cohort_retention(
        self,
        info: Info,
        first_month: dt.date,
        last_month: dt.date,
        months: int = 12,
        customer: InsightsCustomer = InsightsCustomer.CONTACT,
    ) -> list[InsightsCohort]:
        info.context.require(READ)
        if not 1 <= months <= MAX_COHORT_MONTHS:
            raise InvalidArgument(f"`months` is between 1 and {MAX_COHORT_MONTHS}")
        first_month, last_month = first_month.replace(day=1), last_month.replace(day=1)
        _period(first_month, last_month, info.context.runtime.settings.zone)
        runtime = info.context.runtime
        async with runtime.replica_session() as session:  # reports may lag: the replica, if any
            found = await kpis.cohorts(
                session, runtime.settings, customer.value, first_month, last_month, months, runtime.clock.now()
            )
        return [InsightsCohort(month=c.month, size=c.size, retained_within=c.retained_within, by_month=c.by_month) for c in found]

"""Forecast and metrics in GraphQL: `salesForecast` (a chart-ready series of periods, each broken
down per owner), `salesMetrics` (win rate, deal size, cycle, stage conversion, quota attainment,
and the same measures as a series per day, week, month or quarter), `setSalesQuota`."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from enishi.plugin import (
    InvalidArgument,
    MinorUnits,
    UserErrorType,
    UserNode,
    input_values,
    parse_global_id,
    run_mutation,
)

from . import forecast
from .teams import CONFIGURE, READ, team_scope
from .types import SalesStage, user_node

MAX_RANGE_DAYS = 3660


@strawberry.enum
class SalesPeriod(Enum):
    MONTH = "month"
    QUARTER = "quarter"


@strawberry.enum(description="A chart's step: a day, an ISO week (Monday to Sunday), a month or a quarter.")
class SalesInterval(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@strawberry.type(description="A forecast's figures for a period. Amounts in minor units of the forecast's currency.")
class SalesForecastFigures:
    closed_won: MinorUnits = strawberry.field(description="Deals won with a close date in the period.")
    committed: MinorUnits = strawberry.field(description="Open deals at ≥ 90 % or in forecast category commit.")
    best_case: MinorUnits = strawberry.field(description="Committed plus open deals in category best_case.")
    pipeline: MinorUnits = strawberry.field(description="Every open deal expected to close in the period (but omitted ones).")
    weighted: MinorUnits = strawberry.field(description="Σ amount × probability / 100 of those, rounded down once.")


def _figures(figures: forecast.Figures) -> dict:
    return {
        "closed_won": MinorUnits(figures.closed_won),
        "committed": MinorUnits(figures.committed),
        "best_case": MinorUnits(figures.best_case),
        "pipeline": MinorUnits(figures.pipeline),
        "weighted": MinorUnits(figures.weighted),
    }


@strawberry.type(description="One owner's figures in a period of a forecast.")
class SalesForecastOwner(SalesForecastFigures):
    _owner_id: strawberry.Private[object]

    @strawberry.field(description="Null for the deals without an owner.")
    async def owner(self, info: Info) -> UserNode | None:
        return await user_node(info, self._owner_id)


@strawberry.type(description="One period of a forecast. Amounts in minor units of the forecast's currency.")
class SalesForecastPeriod(SalesForecastFigures):
    label: str = strawberry.field(description="2025-03 for a month, 2025-Q1 for a quarter.")
    start: dt.date
    end: dt.date
    by_owner: list[SalesForecastOwner] = strawberry.field(
        description="The same figures per owner: every owner with a figure anywhere in the forecast, in every period "
        "(zeros where they have none), by name, the deals without an owner last. Each owner's weighted sum is rounded "
        "down on its own."
    )


@strawberry.type
class SalesStageConversion:
    stage: SalesStage
    reached: int = strawberry.field(description="Deals created in the range that reached this stage or went past it.")
    converted_percent: int | None = strawberry.field(description="Of those, the share that reached the next stage (or won).")


@strawberry.type(description="What one owner should win in a period, and what they won.")
class SalesQuotaAttainment:
    period: str
    period_start: dt.date
    quota: MinorUnits
    won: MinorUnits
    attainment_percent: int | None = strawberry.field(description="won × 100 / quota, rounded down; null for a zero quota.")
    _owner_id: strawberry.Private[object]

    @strawberry.field
    async def owner(self, info: Info) -> UserNode | None:
        return await user_node(info, self._owner_id)


@strawberry.type(description="Measures of the deals closed and created in a date range. Rates are whole percent, rounded down.")
class SalesMeasures:
    created_count: int = strawberry.field(description="Deals created in the range (their creation day in the configured zone).")
    created_amount: MinorUnits = strawberry.field(description="What those deals amount to.")
    won_count: int = strawberry.field(description="Deals won with a close date in the range.")
    lost_count: int
    win_rate_percent: int | None = strawberry.field(description="Won among won and lost; null when none closed.")
    won_amount: MinorUnits
    average_deal_size: MinorUnits | None = strawberry.field(description="Mean amount of the won deals, rounded down.")
    sales_cycle_median_days: int | None = strawberry.field(description="Creation day to close date of won deals.")
    sales_cycle_mean_days: int | None = strawberry.field(description="Rounded down.")


def _measures(result: forecast.Metrics) -> dict:
    average = result.average_deal_size
    return {
        "created_count": len(result.created),
        "created_amount": MinorUnits(sum(amount for _, amount in result.created)),
        "won_count": len(result.won),
        "lost_count": result.lost_count,
        "win_rate_percent": result.win_rate_percent,
        "won_amount": MinorUnits(result.won_amount),
        "average_deal_size": MinorUnits(average) if average is not None else None,
        "sales_cycle_median_days": result.cycle_median_days,
        "sales_cycle_mean_days": result.cycle_mean_days,
    }


@strawberry.type(description="The measures of one day, week, month or quarter of a `salesMetrics` range.")
class SalesMetricsPoint(SalesMeasures):
    label: str = strawberry.field(description="2025-03-20, 2025-W12 (ISO week), 2025-03 or 2025-Q1.")
    start: dt.date = strawberry.field(description="The period's first day, or the range's when it starts within the period.")
    end: dt.date = strawberry.field(description="The period's last day, or the range's when it ends within the period.")


@strawberry.type(description="Sales metrics over a date range. Rates are whole percent, rounded down.")
class SalesMetrics(SalesMeasures):
    stage_conversion: list[SalesStageConversion] = strawberry.field(description="Empty without `pipelineId`.")
    quota_attainment: list[SalesQuotaAttainment] = strawberry.field(description="Quotas whose period starts in the range.")
    _result: strawberry.Private[forecast.Metrics]
    _range: strawberry.Private[tuple[dt.date, dt.date]]

    @strawberry.field(
        description="The same measures per day, week, month or quarter of the range (in the configured zone), "
        "every period present, zero where nothing happened: chart-ready."
    )
    def series(self, interval: SalesInterval) -> list[SalesMetricsPoint]:
        return [
            SalesMetricsPoint(label=name, start=start, end=end, **_measures(part))
            for name, start, end, part in self._result.series(interval.value, *self._range)
        ]


def _range(first: dt.date, last: dt.date) -> None:
    if last < first or (last - first).days > MAX_RANGE_DAYS:
        raise InvalidArgument(f"`to` must be on or after `from`, at most {MAX_RANGE_DAYS} days later")


@strawberry.input
class SetSalesQuotaInput:
    owner_id: strawberry.ID
    period: SalesPeriod
    period_start: dt.date = strawberry.field(description="The first day of the month or quarter.")
    amount: MinorUnits
    currency: str | None = None


@strawberry.type
class SetSalesQuotaPayload:
    quota: SalesQuotaAttainment | None
    user_errors: list[UserErrorType]


@strawberry.type
class ForecastQuery:
    @strawberry.field(description="Forecast per month or quarter over [from, to] (deals in `currency`, default JPY).")
    async def sales_forecast(
        self,
        info: Info,
        period: SalesPeriod,
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
        owner_id: strawberry.ID | None = None,
        currency: str = "JPY",
    ) -> list[SalesForecastPeriod]:
        info.context.require(READ)
        _range(from_, to)
        owner = parse_global_id(owner_id, "User", "ownerId") if owner_id else None
        async with info.context.runtime.read_session() as session:
            buckets = await forecast.forecast(session, period.value, from_, to, currency, owner, team_scope(info.context))
        return [
            SalesForecastPeriod(
                label=b.label,
                start=b.start,
                end=b.end,
                by_owner=[SalesForecastOwner(_owner_id=owner, **_figures(f)) for owner, f in b.by_owner.items()],
                **_figures(b.total),
            )
            for b in buckets
        ]

    @strawberry.field(
        description="Deals created, win rate, deal size, sales cycle, stage conversion and quota attainment over [from, to], "
        "and `series` for a chart."
    )
    async def sales_metrics(
        self,
        info: Info,
        from_: Annotated[dt.date, strawberry.argument(name="from")],
        to: dt.date,
        owner_id: strawberry.ID | None = None,
        pipeline_id: strawberry.ID | None = None,
        currency: str = "JPY",
    ) -> SalesMetrics:
        info.context.require(READ)
        _range(from_, to)
        owner = parse_global_id(owner_id, "User", "ownerId") if owner_id else None
        pipeline = parse_global_id(pipeline_id, "SalesPipeline", "pipelineId") if pipeline_id else None
        scope, zone = team_scope(info.context), info.context.runtime.settings.zone
        async with info.context.runtime.read_session() as session:
            result = await forecast.metrics(session, from_, to, currency, owner, scope, zone, pipeline)
            quotas = await forecast.attainment(session, from_, to, currency, owner, scope)
        return SalesMetrics(
            **_measures(result),
            _result=result,
            _range=(from_, to),
            stage_conversion=[
                SalesStageConversion(stage=SalesStage.from_row(c.stage), reached=c.reached, converted_percent=c.converted_percent)
                for c in result.conversions
            ],
            quota_attainment=[_attainment(quota, won) for quota, won in quotas],
        )


def _attainment(quota, won: int) -> SalesQuotaAttainment:
    return SalesQuotaAttainment(
        period=quota.period,
        period_start=quota.period_start,
        quota=MinorUnits(quota.amount),
        won=MinorUnits(won),
        attainment_percent=won * 100 // quota.amount if quota.amount else None,
        _owner_id=quota.owner_id,
    )


@strawberry.type
class ForecastMutation:
    @strawberry.mutation(description="Set an owner's quota for a month or a quarter (replacing the one set before).")
    async def set_sales_quota(self, info: Info, input: SetSalesQuotaInput) -> SetSalesQuotaPayload:
        async def work(uow):
            values = input_values(input, ids={"owner_id": "User"})
            values["period"] = input.period.value
            return await forecast.set_quota(uow, values)

        row, errors = await run_mutation(info, CONFIGURE, work)
        return SetSalesQuotaPayload(quota=_attainment(row, 0) if row else None, user_errors=errors)

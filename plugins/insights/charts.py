"""Chart-ready series: `insightsSeries(metric, firstDay, lastDay, interval, customer)`, one point
per day, ISO week or month of the range in the configured time zone (Asia/Tokyo by default),
every period present. A KPI's point is the KPI of that period (README's definitions; counts and
money are 0 in a period without purchases, a rate is None when it is undefined there). A band's
point is how many customers the band held at the end of the period, as the daily health job last
recorded it on or before that day (a day the job did not run carries the last count forward; 0
before the first record); an RFM segment's point likewise, as the daily RFM job recorded it.
A survey metric's point is the NPS, CSAT or CES of the answers given in that period
(survey_scores.py; None in a period nobody answered, like an undefined rate)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import InvalidArgument, period_spans

from . import kpis, survey_scores
from .health_models import InsightsHealthCount
from .models import InsightsRfmCount
from .types import READ, InsightsCustomer

MAX_POINTS = 400
MAX_RANGE_DAYS = 3660


@strawberry.enum(
    description="What a series measures: a customer KPI per period, a churn-risk band's size, or an RFM segment's "
    "size (`RFM_SEGMENT`, the segment named by `rfmSegment`)."
)
class InsightsMetric(Enum):
    REVENUE = "revenue"
    ORDERS = "orders"
    PURCHASERS = "purchasers"
    NEW_CUSTOMERS = "new_customers"
    LOST_CUSTOMERS = "lost_customers"
    CUSTOMERS_AT_START = "customers_at_start"
    CUSTOMERS_AT_END = "customers_at_end"
    CHURN_RATE = "churn_rate"
    RETENTION_RATE = "retention_rate"
    REPEAT_PURCHASE_RATE = "repeat_purchase_rate"
    ARPU = "arpu"
    AVERAGE_ORDER_VALUE = "average_order_value"
    REVENUE_CHURN_RATE = "revenue_churn_rate"
    EXPANSION_REVENUE = "expansion_revenue"
    LTV = "ltv"
    ACQUISITION_SPEND = "acquisition_spend"
    CAC = "cac"
    CAC_PAYBACK_MONTHS = "cac_payback_months"
    HEALTH_HIGH = "high"
    HEALTH_MEDIUM = "medium"
    HEALTH_LOW = "low"
    RFM_SEGMENT = "rfm_segment"
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


# The KPIs of sales alone, read for every period of a series at once (kpis.sales_by_period).
SALES_METRICS = {InsightsMetric.REVENUE, InsightsMetric.ORDERS, InsightsMetric.AVERAGE_ORDER_VALUE}
BAND_METRICS = {InsightsMetric.HEALTH_HIGH, InsightsMetric.HEALTH_MEDIUM, InsightsMetric.HEALTH_LOW}
SURVEY_METRICS = {InsightsMetric.NPS, InsightsMetric.CSAT, InsightsMetric.CES}


@strawberry.enum
class InsightsInterval(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@strawberry.type(description="One period of a series: its label (2025-03-20, 2025-W12, 2025-03), days and value.")
class InsightsSeriesPoint:
    label: str
    first_day: dt.date
    last_day: dt.date
    value: float | None = strawberry.field(description="Rates are fractions; money is in minor units.")


async def _recorded_sizes(session, model, group, kind: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, int]]:
    """A group's (a band's, a segment's) daily recorded sizes in [first, last], ascending, led by
    the last one before `first`."""
    columns = (model.day, model.customers)
    mine = (model.customer == kind, group)
    before = await session.execute(select(*columns).where(*mine, model.day < first).order_by(model.day.desc()).limit(1))
    within = await session.execute(select(*columns).where(*mine, model.day >= first, model.day <= last).order_by(model.day))
    return [tuple(row) for row in [*before.all(), *within.all()]]


async def series(
    session, settings, metric: InsightsMetric, kind: str, interval: str, first: dt.date, last: dt.date, rfm_segment=None
):
    periods = [(name, max(start, first), min(end, last)) for name, start, end in period_spans(interval, first, last)]
    if len(periods) > MAX_POINTS:
        raise InvalidArgument(f"a series has at most {MAX_POINTS} points: shorten the range or widen the interval")
    points = []
    if metric in BAND_METRICS or metric is InsightsMetric.RFM_SEGMENT:
        if metric is InsightsMetric.RFM_SEGMENT:
            sizes = await _recorded_sizes(session, InsightsRfmCount, InsightsRfmCount.segment == rfm_segment, kind, first, last)
        else:
            group = InsightsHealthCount.band == metric.value
            sizes = await _recorded_sizes(session, InsightsHealthCount, group, kind, first, last)
        for name, start, end in periods:
            value = next((size for day, size in reversed(sizes) if day <= end), 0)
            points.append(InsightsSeriesPoint(label=name, first_day=start, last_day=end, value=value))
        return points
    if metric in SURVEY_METRICS:
        zone = settings.zone
        found = await survey_scores.answers(
            session, metric.value, kpis.Period.of(first, last, zone), survey_scores.Audience(), None
        )
        for name, start, end in periods:
            given = [score for when, score in found if start <= when.astimezone(zone).date() <= end]
            score = survey_scores.figures(metric.value, given).score
            points.append(InsightsSeriesPoint(label=name, first_day=start, last_day=end, value=score))
        return points
    spans = [kpis.Period.of(start, end, settings.zone) for _, start, end in periods]
    if metric in SALES_METRICS:
        values: list = await kpis.sales_by_period(session, settings, kind, spans)
    else:
        values = [await kpis.compute(session, settings, kind, span) for span in spans]
    for (name, start, end), value in zip(periods, values, strict=True):
        found = getattr(value, metric.value)
        points.append(
            InsightsSeriesPoint(label=name, first_day=start, last_day=end, value=None if found is None else float(found))
        )
    return points


@strawberry.type
class ChartQuery:
    @strawberry.field(
        description="A chart-ready series from `firstDay` to `lastDay` per DAY, WEEK or MONTH in the configured time zone, "
        "every period present (the first and last cut to the range)."
    )
    async def insights_series(
        self,
        info: Info,
        metric: InsightsMetric,
        first_day: dt.date,
        last_day: dt.date,
        interval: InsightsInterval = InsightsInterval.MONTH,
        customer: InsightsCustomer = InsightsCustomer.CONTACT,
        rfm_segment: Annotated[
            str | None,
            strawberry.argument(description="With `RFM_SEGMENT`, and only with it: the segment's name (see `rfmSegments`)."),
        ] = None,
    ) -> list[InsightsSeriesPoint]:
        info.context.require(READ)
        if not 0 <= (last_day - first_day).days < MAX_RANGE_DAYS:
            raise InvalidArgument(f"`lastDay` is from `firstDay` to {MAX_RANGE_DAYS - 1} days after it")
        if (metric is InsightsMetric.RFM_SEGMENT) != (rfm_segment is not None):
            raise InvalidArgument("`rfmSegment` names the segment of `RFM_SEGMENT`, and goes with no other metric")
        runtime = info.context.runtime
        async with runtime.read_session() as session:
            return await series(
                session, runtime.settings, metric, customer.value, interval.value, first_day, last_day, rfm_segment
            )

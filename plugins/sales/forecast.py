"""Forecasts and metrics, in integers: amounts in minor units, rates in whole percent (rounded
down), durations in whole days. Reads only; the caller passes the team scope."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import Checker, UnitOfWork, User, WonDeal

from .models import QUOTA_PERIODS, SalesDeal, SalesQuota, SalesStage, SalesStageChange
from .tax import CURRENCY_DIGITS
from .teams import visible_deals

COMMIT_PROBABILITY = 90  # an open deal at or above it counts as committed, whatever its category
MAX_PERIODS = 120


def period_start(day: dt.date, period: str) -> dt.date:
    month = day.month if period == "month" else 3 * ((day.month - 1) // 3) + 1
    return day.replace(month=month, day=1)


def next_period(start: dt.date, period: str) -> dt.date:
    months = 1 if period == "month" else 3
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1, day=1)


def label(start: dt.date, period: str) -> str:
    return f"{start:%Y-%m}" if period == "month" else f"{start.year}-Q{(start.month - 1) // 3 + 1}"


@dataclass
class ForecastPeriod:
    label: str
    start: dt.date
    end: dt.date
    closed_won: int = 0
    committed: int = 0
    best_case: int = 0
    pipeline: int = 0
    weighted_sum: int = 0  # Σ amount × probability, divided by 100 once at the end

    @property
    def weighted(self) -> int:
        return self.weighted_sum // 100


def periods(period: str, first: dt.date, last: dt.date) -> list[ForecastPeriod]:
    """The periods covering [first, last], each as [start, end]."""
    result: list[ForecastPeriod] = []
    start = period_start(first, period)
    while start <= last and len(result) < MAX_PERIODS:
        following = next_period(start, period)
        result.append(ForecastPeriod(label(start, period), start, following - dt.timedelta(days=1)))
        start = following
    return result


def _deals(scope: uuid.UUID | None, currency: str, owner_id: uuid.UUID | None):
    statement = (
        select(SalesDeal, SalesStage.kind)
        .join(SalesStage, SalesStage.id == SalesDeal.stage_id)
        .where(SalesDeal.currency == currency, visible_deals(scope))
    )
    return statement.where(SalesDeal.owner_id == owner_id) if owner_id is not None else statement


async def forecast(
    session: AsyncSession, period: str, first: dt.date, last: dt.date, currency: str, owner_id, scope
) -> list[ForecastPeriod]:
    """Per period: won deals by close date; open deals by expected close date as committed
    (probability ≥ 90 % or category `commit`), best case (committed and category `best_case`),
    pipeline (every open deal but `omitted` ones) and weighted (Σ amount × probability / 100)."""
    buckets = periods(period, first, last)
    if not buckets:
        return []
    lo, hi = buckets[0].start, buckets[-1].end
    by_start = {b.start: b for b in buckets}
    in_range = or_(SalesDeal.close_date.between(lo, hi), SalesDeal.expected_close_date.between(lo, hi))
    rows = await session.execute(_deals(scope, currency, owner_id).where(in_range))
    for deal, kind in rows:
        day = deal.close_date if kind == "won" else deal.expected_close_date if kind == "open" else None
        if day is None or not lo <= day <= hi:
            continue
        bucket = by_start[period_start(day, period)]
        if kind == "won":
            bucket.closed_won += deal.amount
            continue
        if deal.forecast_category == "omitted":
            continue
        committed = deal.probability >= COMMIT_PROBABILITY or deal.forecast_category == "commit"
        bucket.pipeline += deal.amount
        bucket.weighted_sum += deal.amount * deal.probability
        bucket.committed += deal.amount if committed else 0
        bucket.best_case += deal.amount if committed or deal.forecast_category == "best_case" else 0
    return buckets


@dataclass
class StageConversion:
    stage: SalesStage
    reached: int
    converted_percent: int | None  # to the next open stage (or to won, from the last open one)


@dataclass
class Metrics:
    won: int = 0
    lost: int = 0
    won_amount: int = 0
    cycle_days: list[int] = field(default_factory=list)
    conversions: list[StageConversion] = field(default_factory=list)

    @property
    def win_rate_percent(self) -> int | None:
        return self.won * 100 // (self.won + self.lost) if self.won + self.lost else None

    @property
    def average_deal_size(self) -> int | None:
        return self.won_amount // self.won if self.won else None

    @property
    def cycle_mean_days(self) -> int | None:
        return sum(self.cycle_days) // len(self.cycle_days) if self.cycle_days else None

    @property
    def cycle_median_days(self) -> int | None:
        days, n = sorted(self.cycle_days), len(self.cycle_days)
        if not n:
            return None
        return days[n // 2] if n % 2 else (days[n // 2 - 1] + days[n // 2]) // 2


async def metrics(
    session: AsyncSession, first: dt.date, last: dt.date, currency: str, owner_id, scope, zone, pipeline_id=None
) -> Metrics:
    """Deals closed in [first, last]: win rate, average won amount, sales cycle (the day a deal
    was created, in the configured zone, to its close date). Stage conversion over the deals of
    `pipeline_id` created in [first, last]."""
    result = Metrics()
    closed = _deals(scope, currency, owner_id).where(SalesDeal.close_date >= first, SalesDeal.close_date <= last)
    for deal, kind in await session.execute(closed):
        if kind == "won":
            result.won += 1
            result.won_amount += deal.amount
            result.cycle_days.append((deal.close_date - deal.created_at.astimezone(zone).date()).days)
        elif kind == "lost":
            result.lost += 1
    if pipeline_id is not None:
        result.conversions = await _conversions(session, pipeline_id, first, last, currency, owner_id, scope, zone)
    return result


async def _conversions(session, pipeline_id, first, last, currency, owner_id, scope, zone) -> list[StageConversion]:
    """A deal reached an open stage when it was ever in it or in a later open stage, or won."""
    stages = list(
        await session.scalars(select(SalesStage).where(SalesStage.pipeline_id == pipeline_id).order_by(SalesStage.position))
    )
    position = {s.id: s.position for s in stages}
    kinds = {s.id: s.kind for s in stages}
    deals = _deals(scope, currency, owner_id).where(SalesDeal.pipeline_id == pipeline_id)
    created = [deal.id for deal, _ in await session.execute(deals) if first <= deal.created_at.astimezone(zone).date() <= last]
    furthest: dict = {}
    won: set = set()
    history = select(SalesStageChange.deal_id, SalesStageChange.to_stage_id).where(SalesStageChange.deal_id.in_(created))
    for deal_id, stage_id in await session.execute(history):
        if kinds[stage_id] == "won":
            won.add(deal_id)
        elif kinds[stage_id] == "open":
            furthest[deal_id] = max(furthest.get(deal_id, -1), position[stage_id])
    opens = [s for s in stages if s.kind == "open"]
    reached = [sum(1 for d in created if d in won or furthest.get(d, -1) >= s.position) for s in opens]
    reached.append(len(won))
    return [
        StageConversion(stage, reached[i], reached[i + 1] * 100 // reached[i] if reached[i] else None)
        for i, stage in enumerate(opens)
    ]


async def set_quota(uow: UnitOfWork, data: dict) -> SalesQuota:
    check = Checker()
    period = check.choice(data, "period", QUOTA_PERIODS)
    start = data["period_start"]
    if period is not None and start != period_start(start, period):
        check.fail("period_start", f"must be the first day of a {period}", "NOT_PERIOD_START")
    if not data["amount"] >= 0:
        check.fail("amount", "must be zero or more (minor units)", "OUT_OF_RANGE")
    currency = data.get("currency") or "JPY"
    if currency not in CURRENCY_DIGITS:
        check.fail("currency", f"must be an ISO 4217 code among: {', '.join(CURRENCY_DIGITS)}", "INVALID_CHOICE")
    if await uow.session.get(User, data["owner_id"]) is None:
        check.fail("owner_id", "no such user", "NOT_FOUND")
    check.done()
    quota = await uow.session.scalar(
        select(SalesQuota).where(
            SalesQuota.owner_id == data["owner_id"],
            SalesQuota.period == period,
            SalesQuota.period_start == start,
            SalesQuota.currency == currency,
        )
    )
    if quota is None:
        quota = SalesQuota(owner_id=data["owner_id"], period=period, period_start=start, currency=currency)
        uow.session.add(quota)
    quota.amount, quota.updated_at = data["amount"], uow.clock.now()
    await uow.session.flush()
    return quota


async def attainment(
    session: AsyncSession, first: dt.date, last: dt.date, currency: str, owner_id, scope
) -> list[tuple[SalesQuota, int]]:
    """Each quota whose period starts in [first, last], with what its owner won in that period."""
    statement = select(SalesQuota).where(
        SalesQuota.currency == currency, SalesQuota.period_start >= first, SalesQuota.period_start <= last
    )
    if owner_id is not None:
        statement = statement.where(SalesQuota.owner_id == owner_id)
    quotas = list(await session.scalars(statement.order_by(SalesQuota.period_start, SalesQuota.owner_id)))
    won = [
        (deal.owner_id, deal.close_date, deal.amount)
        for deal, kind in await session.execute(_deals(scope, currency, owner_id).where(SalesDeal.close_date.is_not(None)))
        if kind == "won"
    ]
    result = []
    for quota in quotas:
        end = next_period(quota.period_start, quota.period)
        result.append(
            (quota, sum(amount for owner, day, amount in won if owner == quota.owner_id and quota.period_start <= day < end))
        )
    return result


async def won_deals(session: AsyncSession, until: dt.date) -> list[WonDeal]:
    """`enishi_won_deals`: every deal won with a close date before `until`, for revenue reports
    (the insights plugin's expansion revenue). Every team's: reports aggregate, they list no deal."""
    rows = await session.execute(
        select(SalesDeal.account_id, SalesDeal.amount, SalesDeal.currency, SalesDeal.close_date)
        .join(SalesStage, SalesStage.id == SalesDeal.stage_id)
        .where(SalesStage.kind == "won", SalesDeal.close_date < until)
    )
    # A won deal always has its close date (`move_stage` refuses one without).
    return [WonDeal(account, amount, currency, closed_on) for account, amount, currency, closed_on in rows if closed_on]

"""Forecasts and metrics, in integers: amounts in minor units, rates in whole percent (rounded
down), durations in whole days. Reads only; the caller passes the team scope."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import Checker, UnitOfWork, User, WonDeal, next_period, period_spans, period_start

from .models import QUOTA_PERIODS, SalesDeal, SalesQuota, SalesStage, SalesStageChange
from .tax import CURRENCY_DIGITS
from .teams import visible_deals

COMMIT_PROBABILITY = 90  # an open deal at or above it counts as committed, whatever its category


@dataclass
class Figures:
    """A forecast's figures for a period, overall or for one owner."""

    closed_won: int = 0
    committed: int = 0
    best_case: int = 0
    pipeline: int = 0
    weighted_sum: int = 0  # Σ amount × probability, divided by 100 once at the end

    @property
    def weighted(self) -> int:
        return self.weighted_sum // 100

    def add(self, deal: SalesDeal, won: bool) -> None:
        if won:
            self.closed_won += deal.amount
            return
        committed = deal.probability >= COMMIT_PROBABILITY or deal.forecast_category == "commit"
        self.pipeline += deal.amount
        self.weighted_sum += deal.amount * deal.probability
        self.committed += deal.amount if committed else 0
        self.best_case += deal.amount if committed or deal.forecast_category == "best_case" else 0


@dataclass
class ForecastPeriod:
    label: str
    start: dt.date
    end: dt.date
    total: Figures = field(default_factory=Figures)
    # Every owner with a figure anywhere in the forecast, in every period (zeros where they have
    # none), ordered by name, unowned deals (None) last: one series per owner for a chart.
    by_owner: dict[uuid.UUID | None, Figures] = field(default_factory=dict)


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
    """Per period, overall and per owner: won deals by close date; open deals by expected close
    date as committed (probability ≥ 90 % or category `commit`), best case (committed and
    category `best_case`), pipeline (every open deal but `omitted` ones) and weighted
    (Σ amount × probability / 100)."""
    buckets = [ForecastPeriod(*span) for span in period_spans(period, first, last)]
    lo, hi = buckets[0].start, buckets[-1].end
    by_start = {b.start: b for b in buckets}
    in_range = or_(SalesDeal.close_date.between(lo, hi), SalesDeal.expected_close_date.between(lo, hi))
    rows = await session.execute(_deals(scope, currency, owner_id).where(in_range))
    for deal, kind in rows:
        day = deal.close_date if kind == "won" else deal.expected_close_date if kind == "open" else None
        if day is None or not lo <= day <= hi or (kind == "open" and deal.forecast_category == "omitted"):
            continue
        bucket = by_start[period_start(day, period)]
        for figures in (bucket.total, bucket.by_owner.setdefault(deal.owner_id, Figures())):
            figures.add(deal, kind == "won")
    owners = {owner for bucket in buckets for owner in bucket.by_owner}
    users = await session.execute(select(User.id, User.display_name).where(User.id.in_(owners - {None})))
    names = {user.id: user.display_name for user in users}
    ordered = sorted(owners, key=lambda owner: (owner is None, names.get(owner, ""), str(owner)))
    for bucket in buckets:
        bucket.by_owner = {owner: bucket.by_owner.get(owner) or Figures() for owner in ordered}
    return buckets


@dataclass
class StageConversion:
    stage: SalesStage
    reached: int
    converted_percent: int | None  # to the next open stage (or to won, from the last open one)


@dataclass(frozen=True)
class ClosedDeal:
    close_date: dt.date
    won: bool
    amount: int
    cycle_days: int  # the creation day, in the configured zone, to the close date


@dataclass
class Metrics:
    """Deals closed in a range, and deals created in it (by their creation day in the zone)."""

    closed: list[ClosedDeal] = field(default_factory=list)
    created: list[tuple[dt.date, int]] = field(default_factory=list)  # (creation day, amount)
    conversions: list[StageConversion] = field(default_factory=list)

    @property
    def won(self) -> list[ClosedDeal]:
        return [deal for deal in self.closed if deal.won]

    @property
    def lost_count(self) -> int:
        return len(self.closed) - len(self.won)

    @property
    def won_amount(self) -> int:
        return sum(deal.amount for deal in self.won)

    @property
    def win_rate_percent(self) -> int | None:
        return len(self.won) * 100 // len(self.closed) if self.closed else None

    @property
    def average_deal_size(self) -> int | None:
        return self.won_amount // len(self.won) if self.won else None

    @property
    def cycle_mean_days(self) -> int | None:
        days = [deal.cycle_days for deal in self.won]
        return sum(days) // len(days) if days else None

    @property
    def cycle_median_days(self) -> int | None:
        days = sorted(deal.cycle_days for deal in self.won)
        n = len(days)
        if not n:
            return None
        return days[n // 2] if n % 2 else (days[n // 2 - 1] + days[n // 2]) // 2

    def series(self, interval: str, first: dt.date, last: dt.date) -> list[tuple[str, dt.date, dt.date, Metrics]]:
        """The same measures per day, ISO week, month or quarter of [first, last], every period
        present (zero where nothing happened); the first and the last are cut to the range."""
        points = {
            start: (name, max(start, first), min(end, last), Metrics())
            for name, start, end in period_spans(interval, first, last)
        }
        for deal in self.closed:
            points[period_start(deal.close_date, interval)][3].closed.append(deal)
        for day, amount in self.created:
            points[period_start(day, interval)][3].created.append((day, amount))
        return list(points.values())


async def metrics(
    session: AsyncSession, first: dt.date, last: dt.date, currency: str, owner_id, scope, zone, pipeline_id=None
) -> Metrics:
    """Deals closed in [first, last] (win rate, average won amount, sales cycle from the day a
    deal was created, in the configured zone, to its close date) and deals created in it. Stage
    conversion over the deals of `pipeline_id` created in [first, last]."""
    result = Metrics()
    closed = _deals(scope, currency, owner_id).where(SalesDeal.close_date >= first, SalesDeal.close_date <= last)
    for deal, kind in await session.execute(closed):
        if kind in ("won", "lost"):
            cycle = (deal.close_date - deal.created_at.astimezone(zone).date()).days
            result.closed.append(ClosedDeal(deal.close_date, kind == "won", deal.amount, cycle))
    since = dt.datetime.combine(first, dt.time(), tzinfo=zone)
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    created = _deals(scope, currency, owner_id).where(SalesDeal.created_at >= since, SalesDeal.created_at < until)
    result.created = [(deal.created_at.astimezone(zone).date(), deal.amount) for deal, _ in await session.execute(created)]
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

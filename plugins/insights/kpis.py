"""Customer KPIs over a period, from the core's purchases (refunds left out, the configured
currency only). Each definition is in README.md; the names here follow it. A customer is a contact
or an account (`kind`). Periods are whole days in the configured time zone, both ends included."""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import BigInteger, cast, func, select

from enishi.plugin import Purchase

from . import config
from .rfm import owner_column

DAYS_PER_MONTH = 365.25 / 12
# Every time zone's offset from UTC is a whole number of quarter hours, so a quarter hour counted
# from a local midnight lies within one local day, summer time or not.
QUARTER_HOUR = 900  # seconds


@dataclass(frozen=True)
class Period:
    start: dt.datetime  # inclusive
    end: dt.datetime  # exclusive
    first_day: dt.date
    last_day: dt.date

    @classmethod
    def of(cls, first_day: dt.date, last_day: dt.date, zone) -> Period:
        def midnight(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)

        return cls(midnight(first_day), midnight(last_day + dt.timedelta(days=1)), first_day, last_day)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclass(frozen=True)
class Kpis:
    currency: str
    customers_at_start: int
    customers_at_end: int
    new_customers: int
    lost_customers: int
    churn_rate: float | None
    retention_rate: float | None
    revenue: int
    orders: int
    purchasers: int
    repeat_purchase_rate: float | None
    arpu: int | None
    average_order_value: int | None
    revenue_churn_rate: float | None
    gross_margin_percent: float | None
    ltv: int | None
    acquisition_spend: int | None
    cac: int | None
    cac_payback_months: float | None
    expansion_revenue: int


def _counted(settings, kind: str):
    column = owner_column(kind)
    return column, (column.is_not(None), Purchase.refunded_at.is_(None), Purchase.currency == config.currency(settings))


async def _active(session, settings, kind: str, at: dt.datetime) -> set[uuid.UUID]:
    """Customers active at `at`: a purchase in the active window just before it."""
    column, counted = _counted(settings, kind)
    since = at - config.active_window(settings)
    rows = await session.execute(
        select(column).where(*counted, Purchase.purchased_at >= since, Purchase.purchased_at < at).distinct()
    )
    return set(rows.scalars())


async def _revenue_by_customer(session, settings, kind: str, start: dt.datetime, end: dt.datetime) -> dict:
    """customer → (orders, revenue) in [start, end)."""
    column, counted = _counted(settings, kind)
    rows = await session.execute(
        select(column, func.count(), func.sum(Purchase.amount))
        .where(*counted, Purchase.purchased_at >= start, Purchase.purchased_at < end)
        .group_by(column)
    )
    return {owner: (orders, int(revenue)) for owner, orders, revenue in rows}


async def _new_customers(session, settings, kind: str, period: Period) -> int:
    column, counted = _counted(settings, kind)
    firsts = select(func.min(Purchase.purchased_at).label("first")).where(*counted).group_by(column).subquery()
    return (
        await session.execute(
            select(func.count()).select_from(firsts).where(firsts.c.first >= period.start, firsts.c.first < period.end)
        )
    ).scalar_one()


def _whole_seconds_since(session, instant_column, start: dt.datetime):
    """SQL: the whole seconds from `start` to an instant column, rounded down."""
    if session.get_bind().dialect.name == "postgresql":
        since_epoch = cast(func.floor(func.extract("epoch", instant_column)), BigInteger)
    else:
        # SQLite stores UTC text ("2025-06-01 14:59:59.999999") and its date functions round it to
        # the millisecond — into the next day at 23:59:59.9995: the fraction is cut off first.
        since_epoch = cast(func.strftime("%s", func.substr(instant_column, 1, 19)), BigInteger)
    return since_epoch - int(start.timestamp())


@dataclass(frozen=True)
class Sales:
    revenue: int
    orders: int

    @property
    def average_order_value(self) -> int | None:
        return self.revenue // self.orders if self.orders else None


async def sales_by_period(session, settings, kind: str, periods: list[Period]) -> list[Sales]:
    """`compute`'s revenue and orders of each of `periods` (consecutive, ascending) by one grouped
    statement rather than a computation per period: the counted purchases summed per quarter hour
    since the first period's start (QUARTER_HOUR), each quarter hour added to the period it starts in."""
    _, counted = _counted(settings, kind)
    start = periods[0].start
    quarter = (_whole_seconds_since(session, Purchase.purchased_at, start) // QUARTER_HOUR).label("quarter")
    rows = await session.execute(
        select(quarter, func.sum(Purchase.amount), func.count())
        .where(*counted, Purchase.purchased_at >= start, Purchase.purchased_at < periods[-1].end)
        .group_by(quarter)
    )
    ends = [period.end for period in periods]
    revenue, orders = [0] * len(periods), [0] * len(periods)
    for quarters, amount, count in rows:
        index = bisect.bisect_right(ends, start + dt.timedelta(seconds=quarters * QUARTER_HOUR))
        revenue[index] += int(amount)
        orders[index] += count
    return [Sales(*figures) for figures in zip(revenue, orders, strict=True)]


def _share(part: int | float, whole: int | float) -> float | None:
    return part / whole if whole else None


def spend_in(spend: dict[str, int], period: Period) -> int:
    """The configured monthly spend, each month's prorated by the days of it inside the period."""
    total = 0
    for month, amount in spend.items():
        first = dt.date.fromisoformat(f"{month}-01")
        days_in_month = calendar.monthrange(first.year, first.month)[1]
        last = first + dt.timedelta(days=days_in_month - 1)
        overlap = (min(last, period.last_day) - max(first, period.first_day)).days + 1
        if overlap > 0:
            total += amount * overlap // days_in_month
    return total


async def compute(session, settings, kind: str, period: Period) -> Kpis:
    at_start = await _active(session, settings, kind, period.start)
    at_end = await _active(session, settings, kind, period.end)
    lost = at_start - at_end
    current = await _revenue_by_customer(session, settings, kind, period.start, period.end)
    previous = await _revenue_by_customer(session, settings, kind, period.start - (period.end - period.start), period.start)
    revenue = sum(r for _, r in current.values())
    orders = sum(n for n, _ in current.values())
    purchasers = len(current)
    churn = _share(len(lost), len(at_start))
    arpu = revenue // purchasers if purchasers else None
    before = sum(previous.get(c, (0, 0))[1] for c in at_start)
    contraction = sum(max(0, previous.get(c, (0, 0))[1] - current.get(c, (0, 0))[1]) for c in at_start)
    margin = config.gross_margin_percent(settings)
    spend_config = config.acquisition_spend(settings)
    new = await _new_customers(session, settings, kind, period)
    spend = spend_in(spend_config, period) if spend_config else None
    cac = spend // new if spend is not None and new else None
    monthly_margin = arpu * margin / 100 * DAYS_PER_MONTH / period.days if arpu and margin else None
    return Kpis(
        currency=config.currency(settings),
        customers_at_start=len(at_start),
        customers_at_end=len(at_end),
        new_customers=new,
        lost_customers=len(lost),
        churn_rate=churn,
        retention_rate=None if churn is None else 1 - churn,
        revenue=revenue,
        orders=orders,
        purchasers=purchasers,
        repeat_purchase_rate=_share(sum(1 for n, _ in current.values() if n >= 2), purchasers),
        arpu=arpu,
        average_order_value=revenue // orders if orders else None,
        revenue_churn_rate=_share(contraction, before),
        gross_margin_percent=margin,
        ltv=int(arpu * margin / 100 / churn) if arpu is not None and margin and churn else None,
        acquisition_spend=spend,
        cac=cac,
        cac_payback_months=cac / monthly_margin if cac is not None and monthly_margin else None,
        expansion_revenue=sum(current[c][1] for c in at_start if c in current),
    )


# --- cohorts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    month: dt.date  # its first day, in the configured zone
    size: int
    retained_within: float | None  # another purchase within `months` of the first (None: not yet known)
    by_month: list[float | None]  # share buying in each following calendar month (None: not over yet)


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _add_months_exact(instant: dt.datetime, months: int, zone) -> dt.datetime:
    local = instant.astimezone(zone)
    target = add_months(local.date().replace(day=1), months)
    day = min(local.day, calendar.monthrange(target.year, target.month)[1])
    return local.replace(year=target.year, month=target.month, day=day).astimezone(dt.UTC)


async def cohorts(session, settings, kind: str, first_month: dt.date, last_month: dt.date, months: int, now) -> list[Cohort]:
    """Customers grouped by the month (in the zone) of their first purchase, from `first_month`
    to `last_month`, and who of them bought again. A figure is None until the time it covers is
    over (`now`)."""
    zone = settings.zone
    column, counted = _counted(settings, kind)

    def month_start(month: dt.date, offset: int = 0) -> dt.datetime:
        return Period.of(add_months(month, offset), add_months(month, offset), zone).start

    firsts = (
        select(column.label("owner"), func.min(Purchase.purchased_at).label("first")).where(*counted).group_by(column).subquery()
    )
    in_range = select(firsts).where(firsts.c.first >= month_start(first_month), firsts.c.first < month_start(last_month, 1))
    first_of: dict[uuid.UUID, dt.datetime] = dict((await session.execute(in_range)).all())
    cohort = in_range.subquery()
    later: dict[uuid.UUID, list[dt.datetime]] = defaultdict(list)
    for owner, when in await session.execute(
        select(cohort.c.owner, Purchase.purchased_at)
        .join(Purchase, column == cohort.c.owner)
        .where(*counted, Purchase.purchased_at > cohort.c.first)
    ):
        later[owner].append(when)
    members: dict[dt.date, list[uuid.UUID]] = defaultdict(list)
    for owner, first in first_of.items():
        members[first.astimezone(zone).date().replace(day=1)].append(owner)
    result = []
    month = first_month
    while month <= last_month:
        owners = members.get(month, [])
        bought: Counter[int] = Counter()
        within = 0
        for owner in owners:
            horizon = _add_months_exact(first_of[owner], months, zone)
            within += any(when <= horizon for when in later[owner])
            bought.update({_months_between(month, when.astimezone(zone).date()) for when in later[owner]})
        by_month = [
            _share(bought[offset], len(owners)) if month_start(month, offset + 1) <= now else None
            for offset in range(1, months + 1)
        ]
        known = month_start(month, months + 1) <= now  # the last member's horizon has passed
        result.append(Cohort(month, len(owners), _share(within, len(owners)) if known else None, by_month))
        month = add_months(month, 1)
    return result


def _months_between(month: dt.date, day: dt.date) -> int:
    return (day.year - month.year) * 12 + day.month - month.month

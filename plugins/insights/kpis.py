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

from sqlalchemy import BigInteger, and_, case, cast, func, select

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


@dataclass(frozen=True)
class _Customers:
    """What `compute` needs of the customers around a period, counted in the database."""

    at_start: int  # active at the period's start
    at_end: int
    lost: int  # active at the start, not at the end
    revenue: int
    orders: int
    purchasers: int
    repeaters: int  # purchasers with 2 orders or more
    before: int  # the revenue, in the equally long period before, of those active at the start
    contraction: int  # their Σ max(0, revenue before − revenue now)
    expansion: int  # their revenue now


async def _customers(session, settings, kind: str, period: Period) -> _Customers:
    """One statement: per customer (grouped), whether active at either end and the orders and revenue
    of the period and the one before it; then those summed — no customer's row leaves the database."""
    column, counted = _counted(settings, kind)
    window, at, amount = config.active_window(settings), Purchase.purchased_at, Purchase.amount
    previous_start = period.start - (period.end - period.start)

    def within(start: dt.datetime, end: dt.datetime):
        return and_(at >= start, at < end)

    now = within(period.start, period.end)
    per_customer = (
        select(
            func.max(case((within(period.start - window, period.start), 1), else_=0)).label("at_start"),
            func.max(case((within(period.end - window, period.end), 1), else_=0)).label("at_end"),
            func.sum(case((within(previous_start, period.start), amount), else_=0)).label("before"),
            func.sum(case((now, 1), else_=0)).label("orders"),
            func.sum(case((now, amount), else_=0)).label("revenue"),
        )
        .where(*counted, at >= min(period.start - window, previous_start), at < period.end)
        .group_by(column)
        .subquery()
    )
    c = per_customer.c

    def total(value, where=None):
        return func.coalesce(func.sum(value if where is None else case((where, value), else_=0)), 0)

    was_active = c.at_start == 1
    found = await session.execute(
        select(
            total(c.at_start),
            total(c.at_end),
            total(1, and_(was_active, c.at_end == 0)),
            total(c.revenue),
            total(c.orders),
            total(1, c.orders > 0),
            total(1, c.orders >= 2),
            total(c.before, was_active),
            total(c.before - c.revenue, and_(was_active, c.before > c.revenue)),
            total(c.revenue, was_active),
        )
    )
    return _Customers(*(int(value) for value in found.one()))


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
    customers = await _customers(session, settings, kind, period)
    revenue, orders, purchasers = customers.revenue, customers.orders, customers.purchasers
    churn = _share(customers.lost, customers.at_start)
    arpu = revenue // purchasers if purchasers else None
    margin = config.gross_margin_percent(settings)
    spend_config = config.acquisition_spend(settings)
    new = await _new_customers(session, settings, kind, period)
    spend = spend_in(spend_config, period) if spend_config else None
    cac = spend // new if spend is not None and new else None
    monthly_margin = arpu * margin / 100 * DAYS_PER_MONTH / period.days if arpu and margin else None
    return Kpis(
        currency=config.currency(settings),
        customers_at_start=customers.at_start,
        customers_at_end=customers.at_end,
        new_customers=new,
        lost_customers=customers.lost,
        churn_rate=churn,
        retention_rate=None if churn is None else 1 - churn,
        revenue=revenue,
        orders=orders,
        purchasers=purchasers,
        repeat_purchase_rate=_share(customers.repeaters, purchasers),
        arpu=arpu,
        average_order_value=revenue // orders if orders else None,
        revenue_churn_rate=_share(customers.contraction, customers.before),
        gross_margin_percent=margin,
        ltv=int(arpu * margin / 100 / churn) if arpu is not None and margin and churn else None,
        acquisition_spend=spend,
        cac=cac,
        cac_payback_months=cac / monthly_margin if cac is not None and monthly_margin else None,
        expansion_revenue=customers.expansion,
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

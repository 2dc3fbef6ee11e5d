"""Customers' rhythms, reduced in the database: for each customer with two purchases (or timeline
activities) or more, the last one and the middle gaps between consecutive ones — all the churn
risk's `_overdue` needs of them.

Why in SQL: the `insights.health` job used to read every purchase and activity instant of every
customer into Python (half a million rows at 100,000 customers) to take a median there; one
grouped statement per source now returns a row per customer (bench/README.md, "the churn-risk
recompute"). How it stays exactly the median `statistics.median` took of the gaps in seconds:

* each instant becomes whole microseconds since the epoch (`epoch_microseconds`), so the gaps are
  exact integers on both databases (no `julianday` rounding, no float interpolation);
* `ROW_NUMBER` over the gaps in order and their `COUNT` pick the middle one (an odd number) or the
  two middle ones (an even number), as the bench's floor does; SQLite has no `percentile_cont`;
* the two come back as integers and `Rhythm.usual_seconds` averages them in Python as
  `statistics.median` did (`µs / 10⁶` is `timedelta.total_seconds()`, bit for bit);
* the last instant comes back as microseconds too (`Rhythm.seconds_since`), the same integer
  arithmetic as a `datetime` subtraction, without converting 100,000 timestamps to `datetime`.

`customer_rhythms` reads who is live and both rhythms in one statement (`customer_rhythms_sql`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, Select, cast, extract, func, select

from enishi.plugin import Activity, ActivityTarget, Purchase

from .rfm import owner_column

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Rhythm:
    """A customer's purchases or activities as `_overdue` sees them."""

    last: int  # microseconds since 1970 (`epoch_microseconds`)
    middle_gaps: tuple[int, int]  # microseconds; the same one twice when the gaps are odd in number

    def seconds_since(self, now: dt.datetime) -> float:
        """Seconds from the last instant to `now`, bit for bit `(now - last).total_seconds()`:
        both are a whole number of microseconds divided by 10⁶ (the subtraction is exact)."""
        return ((now - EPOCH) // MICROSECOND - self.last) / 1_000_000

    @property
    def usual_seconds(self) -> float:
        """The median gap in seconds, bit for bit `statistics.median` of every gap's
        `total_seconds()`: the mean of the two middle ones, (a + b) / 2 in floats (x itself when
        both are x). Spelled out: `statistics.median` of two values costs ten times as much, and
        the daily job asks 100,000 customers."""
        low, high = self.middle_gaps
        return (low / 1_000_000 + high / 1_000_000) / 2


def epoch_microseconds(dialect: str, instant):
    """An instant as whole microseconds since 1970, exactly: PostgreSQL's `EXTRACT(EPOCH …)` is a
    numeric; SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC), whole seconds and the digits after
    the dot read apart. The seconds from the text without its fraction: SQLite's `strftime` rounds
    a fraction to the millisecond, so .9995 and later would gain a second."""
    if dialect == "postgresql":
        return cast(extract("epoch", instant) * 1_000_000, BigInteger)
    whole_seconds = func.strftime("%s", func.substr(instant, 1, 19))
    return cast(whole_seconds, Integer) * 1_000_000 + cast(func.substr(instant, 21, 6), Integer)


def purchase_instants(kind: str, now: dt.datetime):
    """(owner, at) of every purchase of a customer of `kind` not refunded, up to `now` (any
    currency: a purchase is a visit whatever it was paid in)."""
    owner = owner_column(kind)
    return select(owner.label("owner"), Purchase.purchased_at.label("at")).where(
        owner.is_not(None), Purchase.refunded_at.is_(None), Purchase.purchased_at <= now
    )


def activity_instants(kind: str, now: dt.datetime):
    """(owner, at) of every timeline activity of a customer of `kind` up to `now`."""
    target = ActivityTarget.contact_id if kind == "contact" else ActivityTarget.account_id
    return (
        select(target.label("owner"), Activity.occurred_at.label("at"))
        .join(Activity, Activity.id == ActivityTarget.activity_id)
        .where(target.is_not(None), Activity.occurred_at <= now)
    )


def rhythms_sql(dialect: str, instants):
    """(owner, last, low, high) per owner with two instants or more in `instants` (a select of
    owner and at): the last instant and the middle gaps in microseconds, low ≤ high, equal for
    an odd number."""
    source = instants.subquery()
    micro = epoch_microseconds(dialect, source.c.at)
    steps = select(
        source.c.owner,
        micro.label("at"),
        (micro - func.lag(micro).over(partition_by=source.c.owner, order_by=micro)).label("gap"),
    ).subquery()
    owner = steps.c.owner
    ranked = (
        select(
            steps.c.owner,
            steps.c.gap,
            func.max(steps.c.at).over(partition_by=owner).label("last"),
            func.row_number().over(partition_by=owner, order_by=steps.c.gap).label("n"),
            func.count().over(partition_by=owner).label("gaps"),
        )
        .where(steps.c.gap.is_not(None))  # every instant but each owner's first
        .subquery()
    )
    middle = ranked.c.n.in_([(ranked.c.gaps + 1) // 2, (ranked.c.gaps + 2) // 2])
    return (
        select(
            ranked.c.owner,
            func.max(ranked.c.last).label("last"),
            func.min(ranked.c.gap).label("low"),
            func.max(ranked.c.gap).label("high"),
        )
        .where(middle)
        .group_by(ranked.c.owner)
    )


def customer_rhythms_sql(dialect: str, customers: Select, kind: str, now: dt.datetime, owners: list[uuid.UUID] | None):
    """Each customer of `customers` (a select of their `id`s) with its purchase and activity
    rhythms, NULLs for a rhythm it has not: (id, last, low, high, last, low, high). With
    `owners`, the customers and the instants read are those ids only."""
    purchases, activities = purchase_instants(kind, now), activity_instants(kind, now)
    if owners is not None:
        customers = customers.where(customers.selected_columns.id.in_(owners))
        purchases = purchases.where(purchases.selected_columns.owner.in_(owners))
        activities = activities.where(activities.selected_columns.owner.in_(owners))
    customer = customers.subquery()
    bought, met = rhythms_sql(dialect, purchases).subquery(), rhythms_sql(dialect, activities).subquery()
    return (
        select(customer.c.id, bought.c.last, bought.c.low, bought.c.high, met.c.last, met.c.low, met.c.high)
        .outerjoin(bought, bought.c.owner == customer.c.id)
        .outerjoin(met, met.c.owner == customer.c.id)
    )


def _rhythm(last, low, high) -> Rhythm | None:
    """A rhythm from its three columns; None from the LEFT JOIN's NULLs (no rhythm)."""
    return None if last is None else Rhythm(int(last), (int(low), int(high)))


async def customer_rhythms(
    connection, customers: Select, kind: str, now: dt.datetime, owners: list[uuid.UUID] | None, batch: int
) -> dict[uuid.UUID, tuple[Rhythm | None, Rhythm | None]]:
    """Every customer of `customers` (of `owners` only when given, `batch` at a time) with its
    purchase and activity rhythms (None below two instants), from `customer_rhythms_sql`.

    Why one statement: the daily job read the live ids, then each source's rhythms, on their
    own — three round trips and 100,000 ids converted to UUIDs twice over; the customers'
    LEFT JOINs cost the database little (bench/README.md, "the churn-risk recompute" of the
    ninth session). The rows are fetched whole (`all()`), not one `fetchone` at a time."""
    dialect = connection.dialect.name
    chunks = [None] if owners is None else [owners[n : n + batch] for n in range(0, len(owners), batch)]
    found: dict[uuid.UUID, tuple[Rhythm | None, Rhythm | None]] = {}
    for chunk in chunks:
        result = await connection.execute(customer_rhythms_sql(dialect, customers, kind, now, chunk))
        for customer, *both in result.all():
            found[customer] = (_rhythm(*both[:3]), _rhythm(*both[3:]))
    return found

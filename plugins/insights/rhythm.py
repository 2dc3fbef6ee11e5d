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
  `statistics.median` did (`µs / 10⁶` is `timedelta.total_seconds()`, bit for bit).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, cast, extract, func, select

from enishi.plugin import Activity, ActivityTarget, Purchase

from .rfm import owner_column


@dataclass(frozen=True)
class Rhythm:
    """A customer's purchases or activities as `_overdue` sees them."""

    last: dt.datetime
    middle_gaps: tuple[int, int]  # microseconds; the same one twice when the gaps are odd in number

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
    owner and at): the last instant and the middle gaps, low ≤ high, equal for an odd number."""
    source = instants.subquery()
    micro = epoch_microseconds(dialect, source.c.at)
    steps = select(
        source.c.owner,
        source.c.at,
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
        select(ranked.c.owner, func.max(ranked.c.last), func.min(ranked.c.gap), func.max(ranked.c.gap))
        .where(middle)
        .group_by(ranked.c.owner)
    )


async def rhythms(connection, instants, owners: list[uuid.UUID] | None, batch: int) -> dict[uuid.UUID, Rhythm]:
    """`rhythms_sql` of `owners` (everyone's when None, in one statement; else `batch` at a time)."""
    dialect = connection.dialect.name
    owner = instants.selected_columns.owner
    chunks = [None] if owners is None else [owners[n : n + batch] for n in range(0, len(owners), batch)]
    found: dict[uuid.UUID, Rhythm] = {}
    for chunk in chunks:
        statement = rhythms_sql(dialect, instants if chunk is None else instants.where(owner.in_(chunk)))
        for customer, last, low, high in await connection.execute(statement):
            found[customer] = Rhythm(last, (int(low), int(high)))
    return found

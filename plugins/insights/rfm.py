"""RFM: recency, frequency and monetary value per customer (a contact, or an account) over the
configured window, scored 1-5 by tie-safe quintiles and named by segment rules.

A score is `1 + ⌊5·L/N⌋`, where N is the number of customers scored and L the number with a
strictly worse value (an earlier last purchase, fewer orders, less spent): equal values always get
equal scores, the score of the first of them (ten customers alike all score 1, as does one
customer alone: nobody is worse). Only customers with at least one
purchase (not refunded, in the configured currency) inside the window are scored; the others have
no RFM row.

`recompute_all` (the `insights.rfm` job) scores everyone again from the purchases and records how
many customers each segment holds that day (`InsightsRfmCount`, for charts). A purchase or a
refund rescoring its customer at once (`recompute_customer`): their values are exact, and their
scores are ranked against everyone else's stored values, which may lag by the window's passing or
by this one customer's move until the next full run."""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select

from enishi.plugin import Purchase, UnitOfWork, new_id, one_at_a_time

from . import config
from .models import InsightsRfm, InsightsRfmCount

KINDS = ("contact", "account")
BATCH = 5000


def lock_name(kind: str) -> str:
    """Held alone by the full run replacing a kind's RFM rows, shared by rescorings of one
    customer (`lock_customers`) (PostgreSQL; SQLite's writer is alone anyway)."""
    return f"insights.rfm.{kind}"


async def lock_customers(uow: UnitOfWork, kind_lock: str, owner_ids: Iterable[uuid.UUID]) -> None:
    """Before rewriting customers' rows under `kind_lock` (RFM's or health's `lock_name`):
    alongside other customers' rescorings, never while the full run replaces every row (it holds
    the kind's lock alone), and one transaction at a time per customer (two would both insert
    their row). Not the kind's lock alone, as before: every activity logged rescores its
    customers' health, so every activity in the system, ticket replies among them, waited for
    the one before it to commit (bench/README.md, "ticket replies under load")."""
    await one_at_a_time(uow, kind_lock, shared=True)
    # In id order (two such calls on the same customers cannot deadlock), in one statement.
    await one_at_a_time(uow, *(f"{kind_lock}:{owner_id}" for owner_id in sorted(set(owner_ids))))


def quintile(worse: int, scored: int) -> int:
    """`1 + ⌊5·L/N⌋`: L customers strictly worse than this one among the N scored."""
    return 1 + (5 * worse) // scored


def owner_column(kind: str):
    return Purchase.contact_id if kind == "contact" else Purchase.account_id


def rfm_column(kind: str):
    return InsightsRfm.contact_id if kind == "contact" else InsightsRfm.account_id


def _purchases_in_window(settings, now, kind: str):
    column = owner_column(kind)
    return (
        select(column, func.max(Purchase.purchased_at), func.count(), func.sum(Purchase.amount))
        .where(
            column.is_not(None),
            Purchase.refunded_at.is_(None),
            Purchase.currency == config.currency(settings),
            Purchase.purchased_at > now - config.rfm_window(settings),
            Purchase.purchased_at <= now,
        )
        .group_by(column)
    )


def segment_of(rules: Sequence[config.SegmentRule], r: int, f: int, m: int) -> str:
    return next((rule.name for rule in rules if rule.matches(r, f, m)), "")


@dataclass(frozen=True)
class Values:
    last_purchase_at: dt.datetime
    frequency: int
    monetary: int


def _scored_rows(values: dict[uuid.UUID, Values], kind: str, rules, now) -> list[dict]:
    """Every customer's scores, ranked with sorted value lists (L by bisection)."""
    scored = len(values)
    lasts = sorted(v.last_purchase_at for v in values.values())
    frequencies = sorted(v.frequency for v in values.values())
    monetaries = sorted(v.monetary for v in values.values())
    column = rfm_column(kind).key
    rows = []
    for owner, v in values.items():
        r = quintile(bisect.bisect_left(lasts, v.last_purchase_at), scored)
        f = quintile(bisect.bisect_left(frequencies, v.frequency), scored)
        m = quintile(bisect.bisect_left(monetaries, v.monetary), scored)
        rows.append(
            {
                "id": new_id(),
                column: owner,
                "last_purchase_at": v.last_purchase_at,
                "frequency": v.frequency,
                "monetary": v.monetary,
                "recency_score": r,
                "frequency_score": f,
                "monetary_score": m,
                "segment": segment_of(rules, r, f, m),
                "computed_at": now,
            }
        )
    return rows


async def recompute_all(runtime) -> int:
    """The scheduled job: every contact and every account scored again from their purchases, in
    one transaction per kind (a reader sees the old scores or the new, never half). Idempotent."""
    settings, rules, now = runtime.settings, config.segment_rules(runtime.settings), runtime.clock.now()
    day, total = now.astimezone(settings.zone).date(), 0
    for kind in KINDS:
        # Core statements on the connection: the ORM's row and bulk machinery cost half the run.
        async with runtime.read_session() as session:
            found = await (await session.connection()).execute(_purchases_in_window(settings, now, kind))
            values = {owner: Values(last, count, int(amount)) for owner, last, count, amount in found}
        rows = _scored_rows(values, kind, rules, now)
        segments = Counter(row["segment"] for row in rows)
        async with runtime.unit_of_work() as uow:
            await one_at_a_time(uow, lock_name(kind))  # no customer's rescoring inserts its row meanwhile
            connection = await uow.session.connection()
            await connection.execute(delete(InsightsRfm).where(rfm_column(kind).is_not(None)))
            for start in range(0, len(rows), BATCH):
                await connection.execute(insert(InsightsRfm), rows[start : start + BATCH])
            # The day's distribution, every rule's segment (0 included: an emptied segment is not
            # carried forward by the chart); a second run the same day replaces it.
            await connection.execute(
                delete(InsightsRfmCount).where(InsightsRfmCount.day == day, InsightsRfmCount.customer == kind)
            )
            await connection.execute(
                insert(InsightsRfmCount),
                [
                    {"id": new_id(), "day": day, "customer": kind, "segment": name, "customers": segments[name]}
                    for name in dict.fromkeys(rule.name for rule in rules)  # two rules may share a name
                ],
            )
        total += len(rows)
    return total


async def recompute_customer(uow: UnitOfWork, kind: str, owner_id: uuid.UUID) -> InsightsRfm | None:
    """One customer's RFM after a purchase or a refund of theirs (see the module's docstring)."""
    await lock_customers(uow, lock_name(kind), [owner_id])
    settings, now = uow.settings, uow.clock.now()
    column = rfm_column(kind)
    found = (
        await uow.session.execute(_purchases_in_window(settings, now, kind).where(owner_column(kind) == owner_id))
    ).one_or_none()
    row = (await uow.session.execute(select(InsightsRfm).where(column == owner_id))).scalar_one_or_none()
    if found is None:
        if row is not None:
            await uow.session.delete(row)
        return None
    _, last, frequency, monetary = found
    others = select(InsightsRfm).where(column.is_not(None), column != owner_id).subquery()
    counts = (
        await uow.session.execute(
            select(
                func.count(),
                func.count().filter(others.c.last_purchase_at < last),
                func.count().filter(others.c.frequency < frequency),
                func.count().filter(others.c.monetary < monetary),
            ).select_from(others)
        )
    ).one()
    scored = counts[0] + 1
    r, f, m = (quintile(worse, scored) for worse in counts[1:])
    if row is None:
        row = InsightsRfm(**{column.key: owner_id})
        uow.session.add(row)
    row.last_purchase_at, row.frequency, row.monetary = last, frequency, int(monetary)
    row.recency_score, row.frequency_score, row.monetary_score = r, f, m
    row.segment = segment_of(config.segment_rules(settings), r, f, m)
    row.computed_at = now
    await uow.session.flush()
    return row

"""RFM: recency, frequency and monetary value per customer (a contact, or an account) over the
configured window, scored 1-5 by tie-safe quintiles and named by segment rules.

A score is `1 + ⌊5·L/N⌋`, where N is the number of customers scored and L the number with a
strictly worse value (an earlier last purchase, fewer orders, less spent): equal values always get
equal scores, the score of the first of them (ten customers alike all score 1, as does one
customer alone: nobody is worse). Only customers with at least one
purchase (not refunded, in the configured currency) inside the window are scored; the others have
no RFM row.

`recompute_all` (the `insights.rfm` job) scores everyone again from the purchases and records how
many customers each segment holds that day (`InsightsRfmCount`, for charts): in the database, one
`INSERT … SELECT` ranking every customer (`RANK()`: 1 + L), naming segments (`CASE` over the
rules) and storing the rows, so no customer crosses into Python and back. A purchase or a
refund rescoring its customer at once (`recompute_customer`): their values are exact, and their
scores are ranked against everyone else's stored values, which may lag by the window's passing or
by this one customer's move until the next full run."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import and_, case, delete, func, insert, literal, select

from enishi.plugin import Purchase, UnitOfWork, UTCDateTime, new_id, one_at_a_time

from . import config
from .models import InsightsRfm, InsightsRfmCount

KINDS = ("contact", "account")


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
        select(
            column.label("owner"),
            func.max(Purchase.purchased_at).label("last_purchase_at"),
            func.count().label("frequency"),
            func.sum(Purchase.amount).label("monetary"),
        )
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


def _segment_sql(rules: Sequence[config.SegmentRule], r, f, m):
    """`segment_of` in SQL."""
    if not rules:
        return literal("")
    return case(
        *((and_(r.between(*rule.r), f.between(*rule.f), m.between(*rule.m)), literal(rule.name)) for rule in rules),
        else_=literal(""),
    )


def random_id_sql(dialect: str):
    """A random (version 4) UUID per row, as `new_id` gives, in its stored form: PostgreSQL's own;
    on SQLite 32 hex digits (how SQLAlchemy stores a `Uuid` there), version and variant set."""
    if dialect == "postgresql":
        return func.gen_random_uuid()

    def digits(count: int):
        return func.lower(func.hex(func.randomblob(count // 2)))

    variant = func.substr("89ab", 1 + func.abs(func.random()) % 4, 1)
    three = func.substr(digits(4), 2)
    return digits(12).concat("4").concat(three).concat(variant).concat(func.substr(digits(4), 2)).concat(digits(12))


def _store_scores(dialect: str, settings, kind: str, rules, now):
    """INSERT … SELECT: every customer with purchases in the window, scored and named."""
    window = _purchases_in_window(settings, now, kind).subquery()
    scored = func.count().over()

    def score(value):  # quintile(): L, the customers strictly worse, is the rank less one
        return 1 + 5 * (func.rank().over(order_by=value) - 1) // scored

    ranked = select(
        window,
        score(window.c.last_purchase_at).label("r"),
        score(window.c.frequency).label("f"),
        score(window.c.monetary).label("m"),
    ).subquery()
    columns = {
        "id": random_id_sql(dialect),
        rfm_column(kind).key: ranked.c.owner,
        "last_purchase_at": ranked.c.last_purchase_at,
        "frequency": ranked.c.frequency,
        "monetary": ranked.c.monetary,
        "recency_score": ranked.c.r,
        "frequency_score": ranked.c.f,
        "monetary_score": ranked.c.m,
        "segment": _segment_sql(rules, ranked.c.r, ranked.c.f, ranked.c.m),
        "computed_at": literal(now, UTCDateTime()),
    }
    return insert(InsightsRfm).from_select(list(columns), select(*columns.values()))


async def recompute_all(runtime) -> int:
    """The scheduled job: every contact and every account scored again from their purchases, in
    one transaction per kind (a reader sees the old scores or the new, never half). Idempotent."""
    settings, rules, now = runtime.settings, config.segment_rules(runtime.settings), runtime.clock.now()
    day, total = now.astimezone(settings.zone).date(), 0
    for kind in KINDS:
        async with runtime.unit_of_work() as uow:
            await one_at_a_time(uow, lock_name(kind))  # no customer's rescoring inserts its row meanwhile
            connection = await uow.session.connection()
            await connection.execute(delete(InsightsRfm).where(rfm_column(kind).is_not(None)))
            await connection.execute(_store_scores(connection.dialect.name, settings, kind, rules, now))
            stored = await connection.execute(
                select(InsightsRfm.segment, func.count()).where(rfm_column(kind).is_not(None)).group_by(InsightsRfm.segment)
            )
            segments = Counter(dict(stored.all()))
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
        total += segments.total()
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

"""Churn-risk recomputation for N customers, against a floor measured in the same run.

Data (bulk-inserted): N contacts with 1-6 purchases each over the past year (a tenth refunded)
and, for half of them, 1-5 timeline activities. Enishi: the `insights.health` job (every live
contact and account: purchases and activities read, the installed plugins asked for their
signals, scored with reasons, rows replaced, the band distribution recorded). Floor: one
hand-written SQL statement computing the same purchase and activity risks (the median gap by
window functions), nothing stored; checked equal (to rounding) to Enishi's stored scores before
timing. Rounds interleave; each times the wall and this process's CPU (on SQLite all the work), and
the ratios are per round, with ranges. Writes bench/results/insights_health.json.

    python bench/insights_health.py [--customers 100000] [--rounds 2]
    scripts/with-postgres sh -c 'ENISHI_BENCH_DATABASE_URL=$ENISHI_TEST_DATABASE_URL python bench/insights_health.py'
"""

import argparse
import asyncio
import datetime as dt
import random
import statistics
import time
import uuid
from collections import defaultdict
from pathlib import Path

from report import database_url, describe_ratios, paired_ratios, save_result
from sqlalchemy import bindparam, insert, select, text

from enishi.clock import ManualClock
from enishi.db import UTCDateTime, analyze
from enishi.db.migrate import upgrade
from enishi.models import Activity, ActivityTarget, Contact, Purchase
from enishi.plugins.insights.health import recompute_all
from enishi.plugins.insights.health_models import InsightsHealth
from enishi.runtime import Runtime
from enishi.settings import Settings

HERE = Path(__file__).resolve().parent
NOW = dt.datetime(2025, 6, 10, tzinfo=dt.UTC)
BATCH = 5000
SECONDS = {
    "sqlite": "(julianday({later}) - julianday({earlier})) * 86400.0",
    "postgresql": "EXTRACT(EPOCH FROM {later} - {earlier})",
}
# One overdue risk per source (purchases, activities): the median gap between consecutive
# instants (the middle one or the mean of the two middle ones), at least a day, and
# clamp((since ÷ usual − 1.5) ÷ 2, 0, 1) times the source's weight (40, 15).
FLOOR_SQL = """
WITH instants AS (
  SELECT contact_id AS owner, purchased_at AS at, 40.0 AS weight, 'p' AS source
    FROM core_purchase WHERE contact_id IS NOT NULL AND refunded_at IS NULL AND purchased_at <= :now
  UNION ALL
  SELECT t.contact_id, a.occurred_at, 15.0, 'a'
    FROM core_activity_target t JOIN core_activity a ON a.id = t.activity_id
   WHERE t.contact_id IS NOT NULL AND a.occurred_at <= :now
), steps AS (
  SELECT owner, source, weight, at, LAG(at) OVER (PARTITION BY owner, source ORDER BY at) AS previous FROM instants
), gaps AS (
  SELECT owner, source, weight, {gap} AS gap,
         ROW_NUMBER() OVER (PARTITION BY owner, source ORDER BY {gap}) AS n,
         COUNT(*) OVER (PARTITION BY owner, source) AS gaps
    FROM steps WHERE previous IS NOT NULL
), usual AS (
  SELECT owner, source, MAX(weight) AS weight, MAX(AVG(gap) / 86400.0, 1.0) AS days
    FROM gaps WHERE n IN ((gaps + 1) / 2, (gaps + 2) / 2) GROUP BY owner, source
), latest AS (
  SELECT owner, source, MAX(at) AS at FROM instants GROUP BY owner, source
), risks AS (
  SELECT u.owner, u.weight * MIN(MAX(({since} / 86400.0 / u.days - 1.5) / 2.0, 0.0), 1.0) AS points
    FROM usual u JOIN latest l ON l.owner = u.owner AND l.source = u.source
)
SELECT c.id, COALESCE(SUM(r.points), 0) FROM core_contact c LEFT JOIN risks r ON r.owner = c.id
 WHERE c.deleted_at IS NULL GROUP BY c.id
"""


def floor_sql(database: str) -> str:
    seconds = SECONDS[database]
    statement = FLOOR_SQL.format(
        gap=seconds.format(later="at", earlier="previous"), since=seconds.format(later=":now", earlier="l.at")
    )
    if database == "postgresql":  # two-argument MIN/MAX are SQLite's; PostgreSQL spells them LEAST/GREATEST
        statement = statement.replace("MAX(AVG(gap) / 86400.0, 1.0)", "GREATEST(AVG(gap) / 86400.0, 1.0)")
        statement = statement.replace("MIN(MAX((", "LEAST(GREATEST((").replace(", 0.0), 1.0)", ", 0.0), 1.0)")
    return statement


async def load(runtime, customers: int) -> tuple[int, int]:
    rng = random.Random(24)
    contacts, purchases, activities, targets = [], [], [], []
    for _ in range(customers):
        contact_id = uuid.uuid4()
        contacts.append({"id": contact_id, "created_at": NOW, "updated_at": NOW, "kana_sort": "", "name_sort": ""})
        for _ in range(rng.randint(1, 6)):
            when = NOW - dt.timedelta(days=rng.uniform(0, 365))
            purchases.append(
                {
                    "id": uuid.uuid4(),
                    "contact_id": contact_id,
                    "channel": "direct",
                    "amount": rng.randrange(500, 50000),
                    "currency": "JPY",
                    "items": [],
                    "purchased_at": when,
                    "recorded_at": when,
                    "refunded_at": when if rng.random() < 0.1 else None,
                }
            )
        for _ in range(rng.randint(1, 5) if rng.random() < 0.5 else 0):
            activity_id = uuid.uuid4()
            when = NOW - dt.timedelta(days=rng.uniform(0, 365))
            activities.append(
                {
                    "id": activity_id,
                    "type": "call",
                    "direction": "outbound",
                    "occurred_at": when,
                    "sealed_summary": b"",
                    "source_plugin": "core",
                    "created_at": when,
                }
            )
            targets.append({"id": uuid.uuid4(), "activity_id": activity_id, "contact_id": contact_id})
    async with runtime.unit_of_work() as uow:
        for model, rows in ((Contact, contacts), (Purchase, purchases), (Activity, activities), (ActivityTarget, targets)):
            for start in range(0, len(rows), BATCH):
                await uow.session.execute(insert(model), rows[start : start + BATCH])
    return len(purchases), len(activities)


async def _floor(runtime, database: str) -> dict:
    async with runtime.read_session() as session:
        statement = text(floor_sql(database)).bindparams(bindparam("now", NOW, type_=UTCDateTime()))
        rows = await session.execute(statement)
        return {uuid.UUID(str(owner)): float(points) for owner, points in rows}


async def _stored(runtime) -> dict:
    async with runtime.read_session() as session:
        rows = await session.execute(
            select(InsightsHealth.contact_id, InsightsHealth.score).where(InsightsHealth.contact_id.is_not(None))
        )
        return dict(rows.all())


async def run(customers: int, rounds: int, url: str) -> dict:
    runtime = Runtime(
        Settings(database_url=url, environment="production", key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="),
        clock=ManualClock(NOW),
    )
    database = "postgresql" if "postgresql" in url else "sqlite"
    await asyncio.to_thread(upgrade, runtime)
    started = time.perf_counter()
    purchases, activities = await load(runtime, customers)
    load_seconds = time.perf_counter() - started
    await analyze(runtime.engine)  # PostgreSQL only: see its docstring
    await recompute_all(runtime)
    floor_points, stored = await _floor(runtime, database), await _stored(runtime)
    disagree = [owner for owner, points in floor_points.items() if abs(stored[owner] - points) > 0.5 + 1e-6]
    assert len(floor_points) == len(stored) == customers and not disagree, f"the floor and Enishi disagree on {len(disagree)}"
    timings: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, work in (("floor", _floor(runtime, database)), ("enishi", recompute_all(runtime))):
            started, cpu_started = time.perf_counter(), time.process_time()
            done = await work
            timings[name].append(time.perf_counter() - started)
            timings[f"{name}_cpu"].append(time.process_time() - cpu_started)  # on SQLite all the work
        scored = done
    await runtime.close()
    return {
        "purchases": purchases,
        "activities": activities,
        "scored": scored,
        "load_seconds": load_seconds,
        "timings": dict(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = database_url("insights_health")
    result = asyncio.run(run(args.customers, args.rounds, url))
    timings = result["timings"]
    floor, enishi = (statistics.median(timings[k]) for k in ("floor", "enishi"))
    wall, cpu = paired_ratios(timings["enishi"], timings["floor"]), paired_ratios(timings["enishi_cpu"], timings["floor_cpu"])
    database = "postgresql" if "postgresql" in url else "sqlite"
    print(
        f"Churn risk of {args.customers} customers ({result['purchases']} purchases, {result['activities']} activities, "
        f"{result['scored']} scored), {database}"
    )
    print(
        f"  floor (one SQL statement, nothing stored): {floor:.2f} s   enishi (signals, score, reasons, store): {enishi:.2f} s"
        f"   ({result['scored'] / enishi:.0f} customers/s)"
    )
    print(f"  wall: {describe_ratios(wall)}")
    print(f"  process CPU: {describe_ratios(cpu)}")
    save_result("insights_health", {"database": database, "customers": args.customers, **result, "wall": wall, "cpu": cpu})


if __name__ == "__main__":
    main()

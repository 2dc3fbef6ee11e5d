"""RFM recomputation for N customers, against a floor measured in the same run.

Data (bulk-inserted): N contacts with 1-6 purchases each over the past two years (a tenth of them
refunded, a few in another currency). Enishi: the `insights.rfm` job (every contact and account
scored again, segments named, rows replaced). Floor: one hand-written SQL statement computing the
same three scores with window functions (`RANK()`: 1 + the customers strictly worse), nothing
stored; checked equal to Enishi's stored scores before timing. Rounds interleave; each times the
wall and this process's CPU (on SQLite all the work), and the ratios are per round, with ranges.
Writes bench/results/insights_rfm.json.

    python bench/insights_rfm.py [--customers 100000] [--rounds 2]
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
from sqlalchemy import insert, select, text

from enishi.clock import ManualClock
from enishi.db import analyze
from enishi.db.migrate import upgrade
from enishi.models import Contact, Purchase
from enishi.plugins.insights.models import InsightsRfm
from enishi.plugins.insights.rfm import recompute_all
from enishi.runtime import Runtime
from enishi.settings import Settings

HERE = Path(__file__).resolve().parent
NOW = dt.datetime(2025, 6, 10, tzinfo=dt.UTC)
BATCH = 5000
FLOOR_SQL = """
WITH per_customer AS (
  SELECT contact_id, MAX(purchased_at) AS last_at, COUNT(*) AS orders, SUM(amount) AS spent
    FROM core_purchase
   WHERE contact_id IS NOT NULL AND refunded_at IS NULL AND currency = 'JPY'
     AND purchased_at > :start AND purchased_at <= :now
   GROUP BY contact_id
), scored AS (SELECT COUNT(*) AS n FROM per_customer)
SELECT contact_id,
       1 + 5 * (RANK() OVER (ORDER BY last_at) - 1) / n,
       1 + 5 * (RANK() OVER (ORDER BY orders) - 1) / n,
       1 + 5 * (RANK() OVER (ORDER BY spent) - 1) / n
  FROM per_customer, scored
"""


async def load(runtime, customers: int) -> int:
    rng = random.Random(24)
    contacts, purchases = [], []
    for _ in range(customers):
        contact_id = uuid.uuid4()
        contacts.append({"id": contact_id, "created_at": NOW, "updated_at": NOW, "kana_sort": "", "name_sort": ""})
        for _ in range(rng.randint(1, 6)):
            when = NOW - dt.timedelta(days=rng.uniform(0, 730))
            purchases.append(
                {
                    "id": uuid.uuid4(),
                    "contact_id": contact_id,
                    "channel": "direct",
                    "amount": rng.randrange(500, 50000),
                    "currency": "JPY" if rng.random() > 0.02 else "USD",
                    "items": [],
                    "purchased_at": when,
                    "recorded_at": when,
                    "refunded_at": when if rng.random() < 0.1 else None,
                }
            )
    async with runtime.unit_of_work() as uow:
        for model, rows in ((Contact, contacts), (Purchase, purchases)):
            for start in range(0, len(rows), BATCH):
                await uow.session.execute(insert(model), rows[start : start + BATCH])
    return len(purchases)


async def _floor(runtime) -> dict:
    async with runtime.read_session() as session:
        rows = await session.execute(text(FLOOR_SQL), {"start": NOW - dt.timedelta(days=365), "now": NOW})
        return {uuid.UUID(str(row[0])): tuple(row[1:]) for row in rows}


async def _stored(runtime) -> dict:
    async with runtime.read_session() as session:
        rows = await session.execute(
            select(InsightsRfm.contact_id, InsightsRfm.recency_score, InsightsRfm.frequency_score, InsightsRfm.monetary_score)
        )
        return {row[0]: tuple(row[1:]) for row in rows}


async def run(customers: int, rounds: int, url: str) -> dict:
    runtime = Runtime(
        Settings(database_url=url, environment="production", key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="),
        clock=ManualClock(NOW),
    )
    await asyncio.to_thread(upgrade, runtime)
    started = time.perf_counter()
    purchases = await load(runtime, customers)
    load_seconds = time.perf_counter() - started
    await analyze(runtime.engine)  # PostgreSQL only: see its docstring
    await recompute_all(runtime)
    floor_scores = await _floor(runtime)
    assert floor_scores == await _stored(runtime), "the floor and Enishi disagree"
    timings: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, work in (("floor", _floor(runtime)), ("enishi", recompute_all(runtime))):
            started, cpu_started = time.perf_counter(), time.process_time()
            done = await work
            timings[name].append(time.perf_counter() - started)
            timings[f"{name}_cpu"].append(time.process_time() - cpu_started)  # on SQLite all the work
        scored = done
    await runtime.close()
    return {"purchases": purchases, "scored": scored, "load_seconds": load_seconds, "timings": dict(timings)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = database_url("insights_rfm")
    result = asyncio.run(run(args.customers, args.rounds, url))
    timings = result["timings"]
    floor, enishi = (statistics.median(timings[k]) for k in ("floor", "enishi"))
    wall, cpu = paired_ratios(timings["enishi"], timings["floor"]), paired_ratios(timings["enishi_cpu"], timings["floor_cpu"])
    database = "postgresql" if "postgresql" in url else "sqlite"
    print(f"RFM of {args.customers} customers ({result['purchases']} purchases, {result['scored']} scored), {database}")
    print(
        f"  floor (one SQL statement, nothing stored): {floor:.2f} s   enishi (score, segment, store): {enishi:.2f} s"
        f"   ({result['scored'] / enishi:.0f} customers/s)"
    )
    print(f"  wall: {describe_ratios(wall)}")
    print(f"  process CPU: {describe_ratios(cpu)}")
    save_result("insights_rfm", {"database": database, "customers": args.customers, **result, "wall": wall, "cpu": cpu})


if __name__ == "__main__":
    main()

"""The sales plugin's deal board over N deals, against a hand-written SQL floor in the same run.

Data (bulk-inserted): one pipeline of five stages, N deals on N/20 accounts spread over its
stages (a tenth in USD). Enishi: `dealBoard(pipelineId)` through the GraphQL schema in process,
each column with count, sums and weighted sums per currency and its first 20 deals (name, amount,
probability, isStale, account name, owner). Floor: the same figures by two hand-written SQL
statements (a grouped aggregate, and the first 20 deals per stage ranked by a window function
joined to accounts and users), serialised to JSON. Rounds interleave. Writes
bench/results/deal_board.json.

    python bench/deal_board.py [--deals 10000] [--rounds 3] [--iterations 20]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://… python bench/deal_board.py
"""

import argparse
import asyncio
import datetime as dt
import json
import random
import statistics
import time
import uuid
from pathlib import Path

from report import database_url, round_ratios, save_result
from sqlalchemy import Uuid, bindparam, column, insert, select, text

from enishi.auth import Viewer
from enishi.clock import ManualClock
from enishi.db import UTCDateTime, analyze
from enishi.db.migrate import upgrade
from enishi.graphql.context import Context
from enishi.graphql.relay import to_global_id
from enishi.graphql.schema import build_schema
from enishi.models import Account, User
from enishi.plugins.sales.models import SalesDeal, SalesStage
from enishi.plugins.sales.pipelines import create_pipeline
from enishi.runtime import Runtime
from enishi.settings import Settings

HERE = Path(__file__).resolve().parent
NOW = dt.datetime(2024, 6, 10, tzinfo=dt.UTC)
PAGE = 20
BOARD = """query($p: ID!) { dealBoard(pipelineId: $p) {
  stage { name probability } count totals { currency amount weightedAmount }
  deals(first: 20) { totalCount edges { node { name amount currency probability isStale
    account { name } owner { displayName } } } } } }"""
FLOOR_STAGES = (
    text("SELECT id, name, probability, kind, rotting_days FROM sales_stage WHERE pipeline_id = :p ORDER BY position")
    .bindparams(bindparam("p", type_=Uuid))
    .columns(column("id", Uuid), column("name"), column("probability"), column("kind"), column("rotting_days"))
)
FLOOR_SUMS = (
    text("""SELECT stage_id, currency, COUNT(*) AS count, SUM(amount) AS amount, SUM(amount * probability) AS weighted
  FROM sales_deal WHERE pipeline_id = :p GROUP BY stage_id, currency""")
    .bindparams(bindparam("p", type_=Uuid))
    .columns(column("stage_id", Uuid), column("currency"), column("count"), column("amount"), column("weighted"))
)
FLOOR_PAGES = (
    text("""SELECT r.stage_id, r.name, r.amount, r.currency, r.probability, r.last_activity_at,
       a.name AS account, u.display_name AS owner
  FROM (SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.stage_id ORDER BY d.created_at DESC, d.id DESC) AS rank
          FROM sales_deal d WHERE d.pipeline_id = :p) r
  JOIN core_account a ON a.id = r.account_id LEFT JOIN core_user u ON u.id = r.owner_id
 WHERE r.rank <= :n ORDER BY r.stage_id, r.rank""")
    .bindparams(bindparam("p", type_=Uuid))
    .columns(
        column("stage_id", Uuid),
        *(column(name) for name in ("name", "amount", "currency", "probability")),
        column("last_activity_at", UTCDateTime()),
        column("account"),
        column("owner"),
    )
)


async def load(runtime, deals: int) -> uuid.UUID:
    rng = random.Random(23)
    async with runtime.unit_of_work() as uow:
        pipeline = await create_pipeline(
            uow,
            {
                "name": "新規",
                "stages": [
                    {"name": "リード", "probability": 10, "kind": "open", "rotting_days": 14},
                    {"name": "提案", "probability": 40, "kind": "open", "rotting_days": 14},
                    {"name": "交渉", "probability": 80, "kind": "open", "rotting_days": None},
                    {"name": "受注", "probability": 100, "kind": "won", "rotting_days": None},
                    {"name": "失注", "probability": 0, "kind": "lost", "rotting_days": None},
                ],
            },
        )
        stages = list((await uow.session.execute(select(SalesStage.id, SalesStage.probability))).all())
        owners = [{"id": uuid.uuid4(), "display_name": f"営業 {n}", "roles": ["sales"], "created_at": NOW} for n in range(10)]
        accounts = [
            {
                "id": uuid.uuid4(),
                "name": f"株式会社サンプル{n}",
                "match_name": f"サンプル{n}",
                "lifecycle_stage": "customer",
                "custom_fields": {},
                "search_text": "",
                "created_at": NOW,
                "updated_at": NOW,
            }
            for n in range(max(1, deals // 20))
        ]
        rows = []
        for n in range(deals):
            stage_id, probability = rng.choice(stages)
            created = NOW - dt.timedelta(minutes=rng.randrange(0, 200_000))
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "name": f"案件 {n}",
                    "account_id": rng.choice(accounts)["id"],
                    "pipeline_id": pipeline.id,
                    "stage_id": stage_id,
                    "amount": rng.randrange(1, 500) * 10_000,
                    "currency": "USD" if n % 10 == 0 else "JPY",
                    "probability": probability,
                    "forecast_category": "pipeline",
                    "owner_id": rng.choice(owners)["id"],
                    "competitors": [],
                    "custom_fields": {},
                    "created_at": created,
                    "updated_at": created,
                    "stage_entered_at": created,
                    "last_activity_at": created,
                }
            )
        for model, batch in ((User, owners), (Account, accounts), (SalesDeal, rows)):
            for start in range(0, len(batch), 5000):
                await uow.session.execute(insert(model), batch[start : start + 5000])
        return pipeline.id


async def enishi(runtime, schema, viewer, pipeline_id: str) -> str:
    context = Context(runtime, viewer)
    try:
        result = await schema.execute(BOARD, variable_values={"p": pipeline_id}, context_value=context)
    finally:
        await context.close()
    assert not result.errors, result.errors
    return json.dumps(result.data, ensure_ascii=False)


async def floor(runtime, pipeline_id: uuid.UUID) -> str:
    now = runtime.clock.now()
    async with runtime.read_session() as session:
        stages = (await session.execute(FLOOR_STAGES, {"p": pipeline_id})).all()
        sums = (await session.execute(FLOOR_SUMS, {"p": pipeline_id})).all()
        pages = (await session.execute(FLOOR_PAGES, {"p": pipeline_id, "n": PAGE})).all()
    by_stage: dict = {}
    for stage_id, currency, count, amount, weighted in sums:
        entry = by_stage.setdefault(stage_id, {"count": 0, "totals": []})
        entry["count"] += count
        entry["totals"].append({"currency": currency, "amount": int(amount), "weightedAmount": int(weighted) // 100})
    deals: dict = {}
    rotting = {stage.id: stage for stage in stages}
    for stage_id, name, amount, currency, probability, last_activity, account, owner in pages:
        stage = rotting[stage_id]
        stale = (
            stage.kind == "open"
            and stage.rotting_days is not None
            and now - last_activity > dt.timedelta(days=stage.rotting_days)
        )
        deals.setdefault(stage_id, []).append(
            {
                "name": name,
                "amount": amount,
                "currency": currency,
                "probability": probability,
                "isStale": stale,
                "account": {"name": account},
                "owner": {"displayName": owner},
            }
        )
    return json.dumps(
        [
            {
                "stage": {"name": stage.name, "probability": stage.probability},
                **by_stage.get(stage.id, {"count": 0, "totals": []}),
                "deals": deals.get(stage.id, []),
            }
            for stage in stages
        ],
        ensure_ascii=False,
    )


async def timed(work, iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def run(deals: int, rounds: int, iterations: int, url: str) -> dict:
    runtime = Runtime(
        Settings(database_url=url, environment="production", key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="),
        clock=ManualClock(NOW),
    )
    await asyncio.to_thread(upgrade, runtime)
    started = time.perf_counter()
    pipeline_id = await load(runtime, deals)
    await analyze(runtime.engine)  # PostgreSQL only: see its docstring
    load_seconds = time.perf_counter() - started
    schema = build_schema(runtime)
    viewer = Viewer(user_id=None, roles=frozenset({"admin"}), permissions=frozenset(runtime.permissions.for_roles(["admin"])))
    global_id = to_global_id("SalesPipeline", pipeline_id)
    board = json.loads(await enishi(runtime, schema, viewer, global_id))["dealBoard"]
    assert sum(stage["count"] for stage in board) == deals
    assert all(len(stage["deals"]["edges"]) == min(PAGE, stage["count"]) for stage in board)
    # The floor computes the same board: same counts, sums and deals in each column.
    by_hand = json.loads(await floor(runtime, pipeline_id))
    for stage, hand in zip(board, by_hand, strict=True):
        assert (stage["count"], sorted(map(str, stage["totals"]))) == (hand["count"], sorted(map(str, hand["totals"])))
        assert [edge["node"] for edge in stage["deals"]["edges"]] == hand["deals"]
    samples: dict[str, list[float]] = {"floor": [], "enishi": []}
    for _ in range(rounds):
        samples["floor"] += await timed(lambda: floor(runtime, pipeline_id), iterations)
        samples["enishi"] += await timed(lambda: enishi(runtime, schema, viewer, global_id), iterations)
    await runtime.close()
    return {"load_seconds": round(load_seconds, 1), "samples_ms": samples}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    url = database_url("deal_board")
    result = asyncio.run(run(args.deals, args.rounds, args.iterations, url))
    floor_ms, enishi_ms = (statistics.median(result["samples_ms"][k]) for k in ("floor", "enishi"))
    rounds = round_ratios(result["samples_ms"]["enishi"], result["samples_ms"]["floor"], args.rounds)
    database = "postgresql" if "postgresql" in url else "sqlite"
    print(f"deal board over {args.deals} deals (5 columns, first {PAGE} each), {database}, {args.rounds} × {args.iterations}")
    print(
        f"  floor (hand-written SQL): {floor_ms:.1f} ms   enishi (dealBoard): {enishi_ms:.1f} ms"
        f"   ratio {enishi_ms / floor_ms:.2f}× (rounds {min(rounds):.2f}–{max(rounds):.2f}×)"
    )
    save_result(
        "deal_board",
        {
            "database": database,
            "deals": args.deals,
            **result,
            "p50_ms": {"floor": floor_ms, "enishi": enishi_ms},
            "ratio": enishi_ms / floor_ms,
            "round_ratios": rounds,
        },
    )


if __name__ == "__main__":
    main()

"""ABM engagement recompute for N target accounts, against a floor measured in the same run.

Data (bulk-inserted): N accounts, 3 contacts each with buying roles in two departments, and 5
activities per account in the scoring window. Enishi: the `abm.recompute` job (every target
account rescored and stored, in chunks). Floor: one hand-written SQL aggregate of activity weights
per account over the same rows (no multipliers, no departments, nothing stored): the scan any
implementation must pay. Every round starts from unscored targets (score 0, stage `target`,
untimed), so each times a first scoring: every target stored and its two events raised. The
tables are analyzed once loaded, as a live database's are. Rounds
interleave; each Enishi round is compared with the floor's beside it. Writes
bench/results/abm_recompute.json.

    python bench/abm_recompute.py [--accounts 10000] [--rounds 3]
"""

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import time
import uuid
from pathlib import Path

from report import database_url, describe_ratios, paired_ratios, save_result
from sqlalchemy import insert, text, update

from enishi.clock import ManualClock
from enishi.db.migrate import upgrade
from enishi.models import Account, Activity, ActivityKey, ActivityTarget, Contact, ContactAccount, ContactSearchToken, SubjectKey
from enishi.plugins.abm.models import AbmBuyingRole, AbmDepartment, AbmTargetAccount
from enishi.plugins.abm.scoring import recompute_all
from enishi.runtime import Runtime
from enishi.services.contacts import bulk_contact_rows
from enishi.settings import Settings

HERE = Path(__file__).resolve().parent
NOW = dt.datetime(2024, 6, 10, tzinfo=dt.UTC)
FLOOR_SQL = """
SELECT owner, SUM(w) FROM (
  SELECT t.account_id AS owner, a.id AS activity,
         CASE a.type WHEN 'meeting' THEN 10 WHEN 'event' THEN 8 WHEN 'call' THEN 5 ELSE 3 END AS w
    FROM core_activity_target t JOIN core_activity a ON a.id = t.activity_id
   WHERE t.account_id IS NOT NULL AND a.occurred_at >= :start
  UNION
  SELECT ca.account_id, a.id, CASE a.type WHEN 'meeting' THEN 10 WHEN 'event' THEN 8 WHEN 'call' THEN 5 ELSE 3 END
    FROM core_contact_account ca JOIN core_activity_target t ON t.contact_id = ca.contact_id
    JOIN core_activity a ON a.id = t.activity_id
   WHERE a.occurred_at >= :start
) per_activity GROUP BY owner
"""


async def load(runtime, accounts: int) -> None:
    rng = random.Random(7)
    rows: dict[str, list[dict]] = {
        name: []
        for name in (
            "accounts",
            "targets",
            "departments",
            "contacts",
            "keys",
            "tokens",
            "links",
            "roles",
            "activities",
            "activity_keys",
            "act_targets",
        )
    }
    for i in range(accounts):
        account_id = uuid.uuid4()
        rows["accounts"].append(
            {
                "id": account_id,
                "name": f"Account {i}",
                "match_name": f"account{i}",
                "lifecycle_stage": "prospect",
                "custom_fields": {},
                "search_text": "",
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        rows["targets"].append(
            {
                "id": uuid.uuid4(),
                "account_id": account_id,
                "tier": "tier_1",
                "tier_set_by_hand": True,
                "icp_score": 90,
                "stage": "target",
                "score": 0.0,
                "raw": 0.0,
                "created_at": NOW,
            }
        )
        departments = [uuid.uuid4(), uuid.uuid4()]
        for n, department in enumerate(departments):
            rows["departments"].append({"id": department, "account_id": account_id, "name": f"D{n}", "kind": "other"})
        contacts = []
        for n, role in enumerate(("decision_maker", "champion", "end_user")):
            contact_id = uuid.uuid4()
            contacts.append(contact_id)
            sealed = bulk_contact_rows(
                {"id": contact_id, "custom_fields": {}, "created_at": NOW, "updated_at": NOW},
                {"family_name": f"C{i}-{n}"},
                [],
                [],
            )
            for name, sealed_model in (("contacts", Contact), ("keys", SubjectKey), ("tokens", ContactSearchToken)):
                rows[name] += sealed[sealed_model]
            rows["links"].append({"id": uuid.uuid4(), "contact_id": contact_id, "account_id": account_id, "is_primary": True})
            rows["roles"].append(
                {
                    "id": uuid.uuid4(),
                    "account_id": account_id,
                    "contact_id": contact_id,
                    "role": role,
                    "department_id": departments[n % 2],
                }
            )
        for _ in range(5):
            activity_id = uuid.uuid4()
            sealed = Activity.bulk_rows(
                {
                    "id": activity_id,
                    "type": rng.choice(["meeting", "event", "call", "email"]),
                    "direction": "inbound",
                    "occurred_at": NOW - dt.timedelta(days=rng.randrange(0, 45)),
                    "duration_seconds": 60,
                    "source_plugin": "core",
                    "created_at": NOW,
                },
                summary="x",
            )
            rows["activities"] += sealed[Activity]
            rows["activity_keys"] += sealed[ActivityKey]
            rows["act_targets"].append({"id": uuid.uuid4(), "activity_id": activity_id, "contact_id": rng.choice(contacts)})
    async with runtime.unit_of_work() as uow:
        for model, key in (
            (Account, "accounts"),
            (AbmTargetAccount, "targets"),
            (AbmDepartment, "departments"),
            (Contact, "contacts"),
            (SubjectKey, "keys"),
            (ContactSearchToken, "tokens"),
            (ContactAccount, "links"),
            (AbmBuyingRole, "roles"),
            (Activity, "activities"),
            (ActivityKey, "activity_keys"),
            (ActivityTarget, "act_targets"),
        ):
            for start in range(0, len(rows[key]), 5000):
                await uow.session.execute(insert(model), rows[key][start : start + 5000])


async def run(accounts: int, rounds: int, url: str) -> dict:
    runtime = Runtime(
        Settings(database_url=url, environment="production", key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="),
        clock=ManualClock(NOW),
    )
    await asyncio.to_thread(upgrade, runtime)
    started = time.perf_counter()
    await load(runtime, accounts)
    async with runtime.unit_of_work() as uow:
        # The statistics a live database has (PostgreSQL's autovacuum analyzes a table this
        # changed within a minute): without them the planner takes the freshly loaded tables
        # for empty and runs the job's aggregate as a parallel hash over every row, per chunk.
        await uow.session.execute(text("ANALYZE"))
    load_seconds = time.perf_counter() - started
    load_average_at_start = os.getloadavg()[0]
    # wall seconds, and this process's CPU seconds (on SQLite the whole work; on PostgreSQL the
    # client's share, the server's being another process)
    timings: dict[str, list[float]] = {"floor": [], "enishi": [], "floor_cpu": [], "enishi_cpu": []}
    for _ in range(rounds):
        async with runtime.unit_of_work() as uow:
            await uow.session.execute(update(AbmTargetAccount).values(score=0.0, raw=0.0, stage="target", scored_at=None))
        started, started_cpu = time.perf_counter(), time.process_time()
        async with runtime.read_session() as session:
            rows = (await session.execute(text(FLOOR_SQL), {"start": NOW - dt.timedelta(days=30)})).all()
        timings["floor"].append(time.perf_counter() - started)
        timings["floor_cpu"].append(time.process_time() - started_cpu)
        started, started_cpu = time.perf_counter(), time.process_time()
        scored = await recompute_all(runtime)
        timings["enishi"].append(time.perf_counter() - started)
        timings["enishi_cpu"].append(time.process_time() - started_cpu)
    await runtime.close()
    assert scored == accounts and len(rows) > 0
    return {"load_seconds": load_seconds, "load_average_at_start": load_average_at_start, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = database_url("abm_recompute")
    result = asyncio.run(run(args.accounts, args.rounds, url))
    floor, enishi = (statistics.median(result["timings"][k]) for k in ("floor", "enishi"))
    per_round = paired_ratios(result["timings"]["enishi"], result["timings"]["floor"])
    per_round_cpu = paired_ratios(result["timings"]["enishi_cpu"], result["timings"]["floor_cpu"])
    database = "postgresql" if "postgresql" in url else "sqlite"
    print(
        f"ABM recompute of {args.accounts} target accounts ({args.accounts * 5} activities), {database}, {args.rounds} rounds, "
        f"load average {result['load_average_at_start']:.1f} at the first round, {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"  floor (one SQL aggregate): {floor:.2f} s   enishi (score, stage, store, events): {enishi:.2f} s"
        f"   ({args.accounts / enishi:.0f} accounts/s)"
    )
    print(f"  enishi / floor: {describe_ratios(per_round)}")
    print(
        f"  this process's CPU, floor {statistics.median(result['timings']['floor_cpu']):.2f} s, "
        f"enishi {statistics.median(result['timings']['enishi_cpu']):.2f} s: {describe_ratios(per_round_cpu)}"
    )
    save_result(
        "abm_recompute",
        {"database": database, "accounts": args.accounts, **result, "per_round": per_round, "per_round_cpu": per_round_cpu},
    )


if __name__ == "__main__":
    main()

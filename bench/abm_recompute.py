"""ABM engagement recompute for N target accounts, against a floor measured in the same run.

Data (bulk-inserted): N accounts, 3 contacts each with buying roles in two departments, and 5
activities per account in the scoring window. Enishi: the `abm.recompute` job (every target
account rescored and stored, in chunks). Two floors over the same rows: the same-work floor
(`same_work_floor`: the job's reads, scoring and writes by hand with SQLAlchemy Core, in the job's
chunks, checked equal to what the job stores before timing), and the aggregate-only floor (one
hand-written SQL aggregate of activity weights per account; no multipliers, no departments,
nothing stored). Every round starts from unscored targets (score 0, stage `target`, untimed), so
each times a first scoring: every target stored and its two events raised. The tables are
analyzed once loaded on PostgreSQL, as autovacuum would (`enishi.db.analyze`; SQLite's plans
need no statistics). Each Enishi round is compared with the floors' rounds just before it.
Writes bench/results/abm_recompute.json.

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
from typing import Any

from report import database_url, describe_ratios, paired_ratios, save_result
from sqlalchemy import Float, String, Table, Uuid, bindparam, column, insert, select, text, update

from enishi.clock import ManualClock
from enishi.db import UTCDateTime, analyze, insert_rows
from enishi.db.migrate import upgrade
from enishi.models import (
    Account,
    Activity,
    ActivityKey,
    ActivityTarget,
    Contact,
    ContactAccount,
    ContactSearchToken,
    OutboxEvent,
    SubjectKey,
)
from enishi.plugins.abm.models import AbmBuyingRole, AbmDepartment, AbmTargetAccount
from enishi.plugins.abm.scoring import MQA_ROLES, RECOMPUTE_CHUNK, Engagement, recompute_all, settle_score, stage_for
from enishi.plugins.abm.service import DEFAULT_CONFIG
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
# The same-work floor's aggregate: the one above for one chunk of accounts, per account, buying role
# and department (what the multipliers and the departments' bonus need), the last activity within
# the horizon (what marks an account aware). The bench's activities have one participant each, so
# the hand-written query needs none of the job's per-activity ranking of roles. The activities are
# joined after the chunk's paths to them are collected: with the time filter beside the paths,
# SQLite walks every activity of the horizon for each chunk (0.3 s a chunk at 1,000 accounts).
CHUNK_SQL = (
    text("""
SELECT owner, role, department,
       SUM(CASE WHEN a.occurred_at >= :window_start
                THEN CASE a.type WHEN 'meeting' THEN 10 WHEN 'event' THEN 8 WHEN 'call' THEN 5 ELSE 3 END END) AS points,
       MAX(a.occurred_at) AS last_at
  FROM (
    SELECT t.account_id AS owner, t.activity_id AS activity_id, NULL AS role, NULL AS department
      FROM core_activity_target t
     WHERE t.account_id IN :accounts
    UNION
    SELECT ca.account_id, t.activity_id, r.role, d.name
      FROM core_contact_account ca JOIN core_activity_target t ON t.contact_id = ca.contact_id
      LEFT JOIN abm_buying_role r ON r.contact_id = ca.contact_id AND r.account_id = ca.account_id
      LEFT JOIN abm_department d ON d.id = r.department_id
     WHERE ca.account_id IN :accounts
  ) paths JOIN core_activity a ON a.id = paths.activity_id
 WHERE a.occurred_at >= :horizon AND a.occurred_at <= :now
 GROUP BY owner, role, department
""")
    .bindparams(
        bindparam("accounts", expanding=True, type_=Uuid),
        *(bindparam(name, type_=UTCDateTime) for name in ("window_start", "horizon", "now")),
    )
    .columns(
        column("owner", Uuid),
        column("role", String),
        column("department", String),
        column("points", Float),
        column("last_at", UTCDateTime),
    )
)
# SQLAlchemy types a model's __table__ as a FromClause; it is its Table
TARGETS: Table = AbmTargetAccount.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
STORE = (
    update(TARGETS)
    .where(TARGETS.c.id == bindparam("target_id"))
    .values({column: bindparam(column) for column in ("score", "raw", "stage", "scored_at")})
)


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


async def same_work_floor(runtime) -> None:
    """The job's work written by hand with SQLAlchemy Core, in transactions of the job's chunk: the
    chunk's targets read and locked, the aggregate, each account's score and stage (the plugin's
    own `settle_score` and `stage_for`, default configuration, no deal plugin), the moved targets
    stored with one executemany, and the outbox rows the job writes (its event types, payloads
    and order) with another."""
    config: dict[str, Any] = DEFAULT_CONFIG
    window_start = NOW - dt.timedelta(days=config["window_days"])
    horizon = min(window_start, NOW - dt.timedelta(days=config["aware_days"]))
    async with runtime.engine.connect() as connection:
        ids = list((await connection.execute(select(TARGETS.c.account_id).order_by(TARGETS.c.account_id))).scalars())
    for start in range(0, len(ids), RECOMPUTE_CHUNK):
        async with runtime.engine.begin() as connection:
            chunk = ids[start : start + RECOMPUTE_CHUNK]
            targets = (
                await connection.execute(
                    select(TARGETS.c.id, TARGETS.c.account_id, TARGETS.c.score, TARGETS.c.stage)
                    .where(TARGETS.c.account_id.in_(chunk))
                    .order_by(TARGETS.c.account_id)
                    .with_for_update()
                )
            ).all()
            engagements: dict = {target.account_id: Engagement() for target in targets}
            params = {"accounts": chunk, "window_start": window_start, "horizon": horizon, "now": NOW}
            for account_id, role, department, points, last_at in await connection.execute(CHUNK_SQL, params):
                engagement = engagements[account_id]
                engagement.last_activity_at = max(filter(None, (engagement.last_activity_at, last_at)))
                if points:
                    engagement.raw += points * config["role_multipliers"].get(role, 1.0)
                    if department is not None:
                        engagement.departments.add(department)
                    engagement.decision_maker_engaged |= role in MQA_ROLES
            stored, score_events, stage_events = [], [], []
            for target in targets:
                engagement = engagements[target.account_id]
                settle_score(engagement, config)
                stage = stage_for(engagement, None, config)
                stored.append(
                    {"target_id": target.id, "score": engagement.score, "raw": engagement.raw, "stage": stage, "scored_at": NOW}
                )
                if engagement.score != target.score:
                    score_events.append(_outbox_row("abm.score_changed", target.account_id, target.score, engagement.score))
                if stage != target.stage:
                    stage_events.append(_outbox_row("abm.stage_changed", target.account_id, target.stage, stage))
            await connection.execute(STORE, stored)
            await insert_rows(connection, OUTBOX, score_events + stage_events)


def _outbox_row(event_type: str, account_id, moved_from, moved_to) -> dict:
    return {
        "id": uuid.uuid4(),
        "type": event_type,
        "entity": "account",
        "entity_id": account_id,
        "payload": {"from": moved_from, "to": moved_to},
        "actor_id": None,
        "occurred_at": NOW,
    }


async def unscore_targets(runtime) -> None:
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(update(AbmTargetAccount).values(score=0.0, raw=0.0, stage="target", scored_at=None))


async def stored_scores(runtime) -> tuple[dict, dict]:
    """What a recompute left: each target's score, raw and stage, and the outbox's events per type and account."""
    async with runtime.engine.begin() as connection:
        scores = {
            row[0]: tuple(row[1:])
            for row in await connection.execute(select(TARGETS.c.account_id, TARGETS.c.score, TARGETS.c.raw, TARGETS.c.stage))
        }
        abm_events = OUTBOX.c.type.like("abm.%")
        events = {
            (row.type, row.entity_id): row.payload
            for row in await connection.execute(select(OUTBOX.c.type, OUTBOX.c.entity_id, OUTBOX.c.payload).where(abm_events))
        }
        await connection.execute(OUTBOX.delete().where(abm_events))  # each check starts from an empty outbox
    return scores, events


async def run(accounts: int, rounds: int, url: str) -> dict:
    runtime = Runtime(
        Settings(database_url=url, environment="production", key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="),
        clock=ManualClock(NOW),
    )
    await asyncio.to_thread(upgrade, runtime)
    started = time.perf_counter()
    await load(runtime, accounts)
    # The statistics a live PostgreSQL database has (autovacuum analyzes a table this changed
    # within a minute): without them the planner takes the freshly loaded tables for empty and
    # runs the job's aggregate as a parallel hash over every row, per chunk. SQLite's plans are
    # the same without them (the function's docstring).
    await analyze(runtime.engine)
    load_seconds = time.perf_counter() - started
    await unscore_targets(runtime)
    await same_work_floor(runtime)
    by_floor = await stored_scores(runtime)
    await unscore_targets(runtime)
    scored = await recompute_all(runtime)
    by_enishi = await stored_scores(runtime)
    # the same work: every score, raw, stage and event alike (checked once, untimed)
    assert scored == accounts and by_floor == by_enishi and len(by_enishi[1]) > accounts, (
        "the same-work floor differs from the job"
    )
    load_average_at_start = os.getloadavg()[0]
    # wall seconds, and this process's CPU seconds (on SQLite the whole work; on PostgreSQL the
    # client's share, the server's being another process)
    timings: dict[str, list[float]] = {
        name: [] for name in ("aggregate", "floor", "enishi", "aggregate_cpu", "floor_cpu", "enishi_cpu")
    }

    async def timed(name: str, work) -> None:
        started, started_cpu = time.perf_counter(), time.process_time()
        await work()
        timings[name].append(time.perf_counter() - started)
        timings[f"{name}_cpu"].append(time.process_time() - started_cpu)

    async def aggregate() -> None:
        async with runtime.read_session() as session:
            assert (await session.execute(text(FLOOR_SQL), {"start": NOW - dt.timedelta(days=30)})).all()

    for _ in range(rounds):
        await timed("aggregate", aggregate)
        await unscore_targets(runtime)
        await timed("floor", lambda: same_work_floor(runtime))
        await unscore_targets(runtime)
        await timed("enishi", lambda: recompute_all(runtime))
    await runtime.close()
    return {"load_seconds": load_seconds, "load_average_at_start": load_average_at_start, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = database_url("abm_recompute")
    result = asyncio.run(run(args.accounts, args.rounds, url))
    timings = result["timings"]
    database = "postgresql" if "postgresql" in url else "sqlite"
    print(
        f"ABM recompute of {args.accounts} target accounts ({args.accounts * 5} activities), {database}, {args.rounds} rounds, "
        f"load average {result['load_average_at_start']:.1f} at the first round, {os.getloadavg()[0]:.1f} at the end"
    )
    enishi = statistics.median(timings["enishi"])
    print(f"  enishi (score, stage, store, events): {enishi:.2f} s ({args.accounts / enishi:.0f} accounts/s)")
    ratios = {}
    for floor, label in (
        ("floor", "same-work floor (chunked SQL, stored, events)"),
        ("aggregate", "aggregate-only floor (one SQL aggregate, nothing stored)"),
    ):
        ratios[floor] = paired_ratios(timings["enishi"], timings[floor])
        ratios[f"{floor}_cpu"] = paired_ratios(timings["enishi_cpu"], timings[f"{floor}_cpu"])
        floor_cpu, enishi_cpu = (statistics.median(timings[name]) for name in (f"{floor}_cpu", "enishi_cpu"))
        print(
            f"  {label}: {statistics.median(timings[floor]):.2f} s; enishi / floor, wall {describe_ratios(ratios[floor])}; "
            f"this process's CPU {floor_cpu:.2f} / {enishi_cpu:.2f} s: {describe_ratios(ratios[f'{floor}_cpu'])}"
        )
    save_result("abm_recompute", {"database": database, "accounts": args.accounts, **result, "ratios": ratios})


if __name__ == "__main__":
    main()

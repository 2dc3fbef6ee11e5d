"""Workflow steps per second (plugin `automation`), one and two worker processes, against a floor
measured in the same run.

Data: a workflow of three steps (`add_tag`, `add_tag`, `remove_tag`: effects of their own, no
core service) and N runs bulk-inserted, due now. Enishi: worker processes, started and then
released together, each running the `automation.workflows` job's `run_due` until no step is due
(lock a run, write the step's idempotency key, apply it, log it, move the run on: one transaction
per step); the time is from the release to the last worker's end. Floor: the same tag writes, one
transaction per step, from one process with no workflow engine — what a transaction per step costs
at the least. Rounds interleave; between rounds the runs are reset. Writes
bench/results/workflows.json.

    python bench/workflows.py [--runs 1000] [--rounds 2]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://… python bench/workflows.py
"""

import argparse
import asyncio
import sys
import time
import uuid

from report import database_url, save_result, timed_workers
from sqlalchemy import delete, func, insert, select, update

from enishi.clock import SystemClock
from enishi.db import new_id
from enishi.db.migrate import upgrade
from enishi.plugins.automation import workflow_engine, workflow_service
from enishi.plugins.automation.workflow_models import (
    AutomationRecordTag,
    AutomationWorkflowEffect,
    AutomationWorkflowRun,
    AutomationWorkflowStep,
    AutomationWorkflowVersion,
)
from enishi.runtime import Runtime
from enishi.settings import Settings

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
STEPS = [
    {"id": "first", "type": "add_tag", "tag": "a"},
    {"id": "second", "type": "add_tag", "tag": "b"},
    {"id": "third", "type": "remove_tag", "tag": "a"},
]
DEFINITION = {"trigger": {"type": "event", "event": "account.created"}, "steps": STEPS}


def settings(url: str) -> Settings:
    return Settings(database_url=url, environment="development", key_encryption_key=KEK)


async def load(runtime: Runtime, runs: int) -> list[uuid.UUID]:
    async with runtime.unit_of_work() as uow:
        workflow = await workflow_service.create_workflow(uow, runtime, {"name": "bench", "definition": DEFINITION})
        workflow_id = workflow.id
    async with runtime.read_session() as session:
        version_id = await session.scalar(
            select(AutomationWorkflowVersion.id).where(AutomationWorkflowVersion.workflow_id == workflow_id)
        )
    now = runtime.clock.now()
    records = [new_id() for _ in range(runs)]
    rows: list[dict] = [
        {
            "id": new_id(),
            "workflow_id": workflow_id,
            "version_id": version_id,
            "occurrence": new_id(),
            "event_type": "account.created",
            "entity": "account",
            "record_id": record,
            "payload": {},
            "depth": 0,
            "status": "pending",
            "step_id": STEPS[0]["id"],
            "due_at": now,
            "attempts": 0,
            "taken": 0,
            "created_at": now,
        }
        for record in records
    ]
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(insert(AutomationWorkflowRun), rows)
    return records


async def reset(runtime: Runtime) -> None:
    async with runtime.unit_of_work() as uow:
        for table in (AutomationWorkflowStep, AutomationWorkflowEffect, AutomationRecordTag):
            await uow.session.execute(delete(table))
        await uow.session.execute(
            update(AutomationWorkflowRun).values(
                status="pending", step_id=STEPS[0]["id"], due_at=runtime.clock.now(), taken=0, finished_at=None
            )
        )


async def floor(runtime: Runtime, records: list[uuid.UUID]) -> float:
    """One transaction per step writing what the step writes, with no engine around it."""
    started = time.perf_counter()
    for record in records:
        for tag in ("a", "b"):
            async with runtime.unit_of_work() as uow:
                uow.session.add(AutomationRecordTag(entity="account", record_id=record, tag=tag, created_at=uow.clock.now()))
        async with runtime.unit_of_work() as uow:
            await uow.session.execute(
                delete(AutomationRecordTag).where(AutomationRecordTag.record_id == record, AutomationRecordTag.tag == "a")
            )
    return time.perf_counter() - started


async def worker(url: str) -> None:
    runtime = Runtime(settings(url), clock=SystemClock())
    await succeeded(runtime)  # connected and warmed up before the release, not after
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await workflow_engine.run_due(runtime)
    await runtime.close()


async def succeeded(runtime: Runtime) -> int:
    async with runtime.read_session() as session:
        return (await session.execute(select(func.count()).where(AutomationWorkflowRun.status == "succeeded"))).scalar_one()


async def run(runs: int, rounds: int, url: str) -> dict:
    runtime = Runtime(settings(url), clock=SystemClock())
    await asyncio.to_thread(upgrade, runtime)
    records = await load(runtime, runs)
    steps = runs * len(STEPS)
    samples: dict[str, list[float]] = {"floor": [], "one worker": [], "two workers": []}
    for _ in range(rounds):
        await reset(runtime)
        samples["floor"].append(await floor(runtime, records))
        for name, count in (("one worker", 1), ("two workers", 2)):
            await reset(runtime)
            samples[name].append(await asyncio.to_thread(timed_workers, __file__, url, count))
            assert await succeeded(runtime) == runs
            async with runtime.read_session() as session:  # exactly once: one key per run and step
                assert (await session.execute(select(func.count()).select_from(AutomationWorkflowEffect))).scalar_one() == steps
    await runtime.close()
    best = {name: min(values) for name, values in samples.items()}
    return {
        "runs": runs,
        "steps": steps,
        "rounds": rounds,
        "database": url.split(":")[0],
        "steps_per_second": {name: round(steps / seconds) for name, seconds in best.items()},
        "ratio_to_floor": {name: round(seconds / best["floor"], 2) for name, seconds in best.items() if name != "floor"},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker))
        return
    url = database_url("workflows")
    result = asyncio.run(run(args.runs, args.rounds, url))
    print(result)
    save_result("workflows", result)


if __name__ == "__main__":
    main()

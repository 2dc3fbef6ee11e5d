"""Workflow steps per second (plugin `automation`), one and (on PostgreSQL) two worker processes,
against a floor measured in the same run.

Data: a workflow of three steps (`add_tag`, `add_tag`, `remove_tag`: effects of their own, no
core service) and N runs bulk-inserted, due now. Enishi: worker processes, started and then
released together, each running the `automation.workflows` job's `run_due` until no step is due
(lock a run, apply its step, log it, move the run on: one transaction per step); the time is
from the release to the last worker's end. Floor: the same work by hand from one process, one
transaction per step — the run due first locked, its step's tag written, the run moved on, the
step logged — as plain statements, with no engine (the ratio the table reports). Bare floor: the
tag writes alone, one transaction per step — what a transaction per step costs at the least,
with no run to lock, move or log. Every timing is checked after it (every run succeeded, one log
entry per step, tag b alone on each record). Rounds interleave; between rounds the runs are
reset. Writes bench/results/workflows.json.

`--email`: the `send_email` step, mails per second through the outbox, in one process. Data: N
contacts with a primary address, and a run each of a one-step workflow mailing the run's contact
(templates with the contact's name and the run's payload). Enishi: `run_due` (lock the contact,
count and record the send, emit `automation.workflow_email`), then the outbox's delivery (read the
address and names, render, write the message with the file transport). Floor: the same messages
read, rendered and written by the file transport, one contact after another, with no engine and
no outbox. Each round mails new runs into a fresh folder. Writes bench/results/workflow_email.json.

    python bench/workflows.py [--runs 1000] [--rounds 2] [--email]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://… python bench/workflows.py
"""

import argparse
import asyncio
import sys
import time
import uuid

from report import database_url, paired_ratios, rounds_against_floor, save_result, scratch_folder, timed_workers
from sqlalchemy import bindparam, delete, func, insert, select, update

from enishi import mail
from enishi.clock import SystemClock
from enishi.db import insert_rows, is_sqlite, new_id
from enishi.db.migrate import upgrade
from enishi.models import Contact, ContactEmail
from enishi.plugins.automation import workflow_engine, workflow_service
from enishi.plugins.automation.email_templates import render
from enishi.plugins.automation.workflow_models import (
    AutomationRecordTag,
    AutomationWorkflowRun,
    AutomationWorkflowStep,
    AutomationWorkflowVersion,
)
from enishi.runtime import Runtime
from enishi.services.contacts import bulk_contact_rows
from enishi.settings import Settings
from enishi.worker import deliver_waiting_events

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
STEPS = [
    {"id": "first", "type": "add_tag", "tag": "a"},
    {"id": "second", "type": "add_tag", "tag": "b"},
    {"id": "third", "type": "remove_tag", "tag": "a"},
]
DEFINITION = {"trigger": {"type": "event", "event": "account.created"}, "steps": STEPS}


MAIL = {
    "id": "mail",
    "type": "send_email",
    "to": "contact",
    "purpose": "service",
    "subject": "{{ contact.family_name }}様へのお知らせ",
    "body": "{{ contact.family_name }} {{ contact.given_name }} 様\n\nご登録ありがとうございます（{{ event.source }}）。\n",
    "html": "<p>{{ contact.family_name }} {{ contact.given_name }} 様</p>",
}


def settings(url: str, mail_url: str = "") -> Settings:
    # Without the privacy plugin: no consent ledger, so every contact with an address is mailed.
    return Settings(
        database_url=url,
        environment="development",
        key_encryption_key=KEK,
        mail_url=mail_url,
        disabled_plugins=frozenset({"privacy"}),
    )


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
        for table in (AutomationWorkflowStep, AutomationRecordTag):
            await uow.session.execute(delete(table))
        await uow.session.execute(
            update(AutomationWorkflowRun).values(
                status="pending", step_id=STEPS[0]["id"], due_at=runtime.clock.now(), taken=0, finished_at=None
            )
        )


async def floor(runtime: Runtime) -> float:
    """The same work by hand, one transaction per step: lock the run due first, write its step's
    tag, move the run on, log the step — plain statements on the connection, with no engine
    around them (no definition read, no step types, no ORM objects, no failure handling)."""
    run, step = AutomationWorkflowRun, AutomationWorkflowStep
    due_first = (
        select(run.id, run.record_id, run.taken)
        .where(run.status == "pending", run.due_at <= bindparam("now"))
        .order_by(run.due_at, run.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    started = time.perf_counter()
    while True:
        async with runtime.unit_of_work() as uow:
            connection, now = await uow.session.connection(), uow.clock.now()
            due = (await connection.execute(due_first, {"now": now})).first()
            if due is None:
                break
            taken, following = STEPS[due.taken], STEPS[due.taken + 1 :]
            tag = {"entity": "account", "record_id": due.record_id, "tag": taken["tag"]}
            if taken["type"] == "add_tag":
                await connection.execute(insert(AutomationRecordTag).values(**tag, created_at=now))
                made = {"added": True}
            else:
                await connection.execute(delete(AutomationRecordTag).filter_by(**tag))
                made = {"removed": True}
            moved = {"step_id": following[0]["id"], "due_at": now} if following else {"step_id": None, "due_at": None}
            if not following:
                moved |= {"status": "succeeded", "finished_at": now}
            await connection.execute(update(run).where(run.id == due.id).values(taken=due.taken + 1, **moved))
            logged = {"run_id": due.id, "seq": due.taken + 1, "step_id": taken["id"], "type": taken["type"], "attempt": 1}
            times = {"started_at": now, "finished_at": now, "duration_ms": 0}
            await connection.execute(
                insert(step).values(**logged, **times, status="succeeded", input={"tag": taken["tag"]}, output=made)
            )
    return time.perf_counter() - started


async def bare_floor(runtime: Runtime, records: list[uuid.UUID]) -> float:
    """Only the steps' tag writes, one transaction per step: what a transaction per step costs at
    the least, with no run to lock, move or log."""
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


async def done_right(runtime: Runtime, runs: int, steps: int) -> None:
    """Every run succeeded, each step logged once (exactly once), each record left with tag b alone."""
    async with runtime.read_session() as session:
        assert await succeeded(runtime) == runs
        assert (await session.execute(select(func.count()).select_from(AutomationWorkflowStep))).scalar_one() == steps
        tags = (await session.execute(select(AutomationRecordTag.tag, func.count()).group_by(AutomationRecordTag.tag))).all()
        assert [tuple(row) for row in tags] == [("b", runs)], tags


async def run(runs: int, rounds: int, url: str) -> dict:
    runtime = Runtime(settings(url), clock=SystemClock())
    await asyncio.to_thread(upgrade, runtime)
    records = await load(runtime, runs)
    steps = runs * len(STEPS)
    # SQLite has one writer at a time: `enishi worker` refuses a second one there (enishi.worker).
    workers = {"one worker": 1} if is_sqlite(url) else {"one worker": 1, "two workers": 2}
    samples: dict[str, list[float]] = {"floor": [], "bare floor": [], **{name: [] for name in workers}}
    for _ in range(rounds):
        await reset(runtime)
        samples["floor"].append(await floor(runtime))
        await done_right(runtime, runs, steps)
        await reset(runtime)
        samples["bare floor"].append(await bare_floor(runtime, records))
        for name, count in workers.items():
            await reset(runtime)
            samples[name].append(await asyncio.to_thread(timed_workers, __file__, url, count))
            await done_right(runtime, runs, steps)
    await runtime.close()
    best = {name: min(values) for name, values in samples.items()}
    return {
        "runs": runs,
        "steps": steps,
        "rounds": rounds,
        "database": url.split(":")[0],
        "steps_per_second": {name: round(steps / seconds) for name, seconds in best.items()},
        "ratio_to_floor": {name: round(best[name] / best["floor"], 2) for name in workers},
        "ratio_to_bare_floor": {name: round(best[name] / best["bare floor"], 2) for name in workers},
        "per_round": {name: paired_ratios(samples[name], samples["floor"]) for name in workers},
        "per_round_against_bare_floor": {name: paired_ratios(samples[name], samples["bare floor"]) for name in workers},
        "seconds": samples,
    }


async def mail_contacts(runtime: Runtime, count: int) -> list[uuid.UUID]:
    now = runtime.clock.now()
    ids = [new_id() for _ in range(count)]
    async with runtime.unit_of_work() as uow:
        for n, contact_id in enumerate(ids):
            contact = {"id": contact_id, "created_at": now, "updated_at": now}
            names = {"family_name": "山田", "given_name": f"太郎{n}"}
            for model, rows in bulk_contact_rows(contact, names, [f"taro{n}@example.jp"], []).items():
                await insert_rows(uow.session, model, rows)
    return ids


async def mail_runs(runtime: Runtime, version_id: uuid.UUID, workflow_id: uuid.UUID, contacts: list[uuid.UUID]) -> None:
    now = runtime.clock.now()
    rows = [
        {
            "id": new_id(),
            "workflow_id": workflow_id,
            "version_id": version_id,
            "occurrence": new_id(),
            "event_type": "contact.created",
            "entity": "contact",
            "record_id": contact_id,
            "payload": {"source": "bench"},
            "depth": 0,
            "status": "pending",
            "step_id": MAIL["id"],
            "due_at": now,
            "attempts": 0,
            "taken": 0,
            "created_at": now,
        }
        for contact_id in contacts
    ]
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(insert(AutomationWorkflowRun), rows)


async def mail_floor(runtime: Runtime, contacts: list[uuid.UUID]) -> float:
    """Read each contact's names and address, render the same templates, write with the file transport."""
    started = time.perf_counter()
    for contact_id in contacts:
        async with runtime.read_session() as session:
            contact = await session.get(Contact, contact_id)
            email = await session.scalar(
                select(ContactEmail).where(ContactEmail.contact_id == contact_id, ContactEmail.is_primary.is_(True))
            )
            assert contact is not None and email is not None
            names = {"family_name": contact.family_name, "given_name": contact.given_name}
            subject, body, html = render(MAIL, {"contact": names, "event": {"source": "bench"}})
            address = email.address
        await asyncio.to_thread(
            mail.send,
            runtime.settings,
            to=address,
            subject=subject,
            body=body,
            html=html,
            message_id=str(new_id()),
            data_subject=contact_id,
        )
    return time.perf_counter() - started


async def run_email(runs: int, rounds: int, url: str) -> dict:
    folder = scratch_folder("workflow-email")
    setup = Runtime(settings(url), clock=SystemClock())
    await asyncio.to_thread(upgrade, setup)
    contacts = await mail_contacts(setup, runs)
    definition = {"trigger": {"type": "event", "event": "contact.created"}, "steps": [MAIL]}
    async with setup.unit_of_work() as uow:
        workflow = await workflow_service.create_workflow(uow, setup, {"name": "bench mail", "definition": definition})
        workflow_id = workflow.id
    async with setup.read_session() as session:
        version_id = await session.scalar(
            select(AutomationWorkflowVersion.id).where(AutomationWorkflowVersion.workflow_id == workflow_id)
        )
    assert version_id is not None
    await setup.close()
    samples: dict[str, list[float]] = {"floor": [], "send_email": []}
    for n in range(rounds):
        floor_runtime = Runtime(settings(url, (folder / f"floor{n}").as_uri()), clock=SystemClock())
        samples["floor"].append(await mail_floor(floor_runtime, contacts))
        await floor_runtime.close()
        runtime = Runtime(settings(url, (folder / f"engine{n}").as_uri()), clock=SystemClock())
        await mail_runs(runtime, version_id, workflow_id, contacts)
        started = time.perf_counter()
        await workflow_engine.run_due(runtime)
        await deliver_waiting_events(runtime)
        samples["send_email"].append(time.perf_counter() - started)
        await runtime.close()
        written = len(list((folder / f"engine{n}").rglob("*.eml")))
        assert written == runs, f"{written} of {runs} messages written"
    best = {name: min(values) for name, values in samples.items()}
    return {
        "runs": runs,
        "rounds": rounds,
        "database": url.split(":")[0],
        "mails_per_second": {name: round(runs / seconds) for name, seconds in best.items()},
        "ratio_to_floor": round(best["send_email"] / best["floor"], 2),
        "per_round": rounds_against_floor(samples),
        "seconds": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--email", action="store_true", help="the send_email step through the outbox")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker))
        return
    if args.email:
        url = database_url("workflow_email")
        result = asyncio.run(run_email(args.runs, args.rounds, url))
        print(result)
        save_result("workflow_email", result)
        return
    url = database_url("workflows")
    result = asyncio.run(run(args.runs, args.rounds, url))
    print(result)
    save_result("workflows", result)


if __name__ == "__main__":
    main()

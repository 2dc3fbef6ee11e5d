"""Workflows under real `enishi worker` processes: the issue's example 2 with two workers at once,
and — on PostgreSQL, where two workers write at the same time — a step held mid-transaction by a
lock the test takes on the table it inserts into (tasks; tickets for the support plugin's
`support.create_ticket`): a second worker passes the run by, and a worker killed there leaves
nothing behind, so the next one applies the step once.

SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no worker can be caught inside a
step there, so the two interleaving tests need PostgreSQL."""

import asyncio
import datetime as dt
import time

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from enishi.db import is_sqlite
from enishi.plugins.automation import workflow_engine
from enishi.testing import TEST_START
from enishi.worker import JOB_LEASE
from tests.helpers import create_account, create_contact, enishi
from tests.plugins.automation.workflow_helpers import (
    QUOTE_FOLLOW_UP,
    create_workflow,
    move_test_clock,
    runs,
    sent_quote_of_owned_deal,
    start_test_clock,
    start_worker,
    tasks,
    worker_env,
    workers_at_once,
)

TASK_ON_NEW_ACCOUNT = {
    "trigger": {"type": "event", "event": "account.created"},
    "steps": [{"id": "call", "type": "create_task", "title": "最初の電話", "account": {"field": "id"}}],
}


async def test_example_2_a_sent_quote_gets_one_follow_up_task_for_the_deal_owner_three_days_later(
    enishi_api, enishi_fresh_migrated, enishi_base_settings
):
    api = await enishi_api(database_url=enishi_fresh_migrated, environment="development")
    env = worker_env(enishi_fresh_migrated, enishi_base_settings)
    clock_id = await start_test_clock(api)
    workflow = await create_workflow(api, QUOTE_FOLLOW_UP)
    made = await sent_quote_of_owned_deal(api)

    await workers_at_once(env)  # the outbox starts the run; the wait is taken
    [run] = await runs(api, workflow["id"])
    assert run["status"] == "PENDING" and run["stepId"] == "follow_up"
    assert dt.datetime.fromisoformat(run["dueAt"]) == TEST_START + dt.timedelta(days=3)

    await move_test_clock(api, clock_id, TEST_START + dt.timedelta(days=3) - dt.timedelta(seconds=1))
    await workers_at_once(env)
    assert await tasks(api) == []  # not yet

    await move_test_clock(api, clock_id, TEST_START + dt.timedelta(days=3))
    await workers_at_once(env)
    await workers_at_once(env)
    [task] = await tasks(api)
    assert task["title"] == "見積のフォローアップ" and task["assignee"]["id"] == made["owner"]
    [run] = await runs(api, workflow["id"])
    assert run["status"] == "SUCCEEDED"
    assert [(s["stepId"], s["attempt"], s["status"]) for s in run["steps"]] == [
        ("three_days", 1, "SUCCEEDED"),
        ("follow_up", 1, "SUCCEEDED"),
    ]


@pytest.fixture
def postgres_url(enishi_fresh_migrated):
    if is_sqlite(enishi_fresh_migrated):
        pytest.skip("SQLite writes one transaction at a time: no worker can be held inside a step")
    return enishi_fresh_migrated


class TableLock:
    """A table (the tasks by default) locked against inserts by a transaction of the test's own,
    and the server process of the worker that waits for it."""

    def __init__(self, url: str, table: str = "core_task") -> None:
        self.engine = create_async_engine(url)
        self.table = table

    async def __aenter__(self):
        self.holder = await self.engine.connect()
        await self.holder.execute(text(f"LOCK TABLE {self.table} IN SHARE ROW EXCLUSIVE MODE"))
        return self

    async def waiting_backend(self) -> int:
        """The database backend of the worker once it waits for the lock, mid-step."""
        [pid] = await self.waiting_backends(1)
        return pid

    async def waiting_backends(self, count: int) -> list[int]:
        """The database backends waiting for the lock, once `count` of them do."""
        deadline = time.monotonic() + 120
        async with self.engine.connect() as probe:
            while time.monotonic() < deadline:
                pids = (
                    await probe.execute(
                        text(
                            # pg_locks spans the cluster, and the other test processes' databases,
                            # made from one template, give their tables the same oids as ours.
                            "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                            "JOIN pg_database d ON d.oid = l.database AND d.datname = current_database() "
                            "WHERE c.relname = :table AND NOT l.granted"
                        ),
                        {"table": self.table},
                    )
                ).scalars()
                if len(waiting := sorted({int(pid) for pid in pids})) >= count:
                    return waiting[:count]
                await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {count} backends waited for {self.table}")

    async def gone(self, pid: int) -> None:
        deadline = time.monotonic() + 120
        async with self.engine.connect() as probe:
            while (await probe.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})).first():
                assert time.monotonic() < deadline, "the killed worker's backend stayed"
                await asyncio.sleep(0.05)

    async def release(self) -> None:
        if not self.holder.closed:
            await self.holder.rollback()
            await self.holder.close()

    async def __aexit__(self, *exc) -> None:
        await self.release()
        await self.engine.dispose()


async def test_a_second_worker_passes_by_a_run_another_is_taking_a_step_of(enishi_api, postgres_url, enishi_base_settings):
    api = await enishi_api(database_url=postgres_url, environment="development")
    env = worker_env(postgres_url, enishi_base_settings)
    await start_test_clock(api)  # the runs fall due on the test clock, which the worker follows
    await create_workflow(api, TASK_ON_NEW_ACCOUNT)
    await create_account(api, name="株式会社ヒノキ")
    async with TableLock(postgres_url) as lock:
        first = start_worker(env)
        try:
            await lock.waiting_backend()  # the first worker is inside the step: key written, task insert waiting
            # The first worker holds the workflows job's lease, so a second worker process would
            # not run the job at all; the engine itself, run beside it, finds the run's row locked
            # and passes it by rather than wait or take the step again.
            assert await workflow_engine.run_due(api.runtime) == 0
            [run] = await runs(api)
            assert run["status"] == "PENDING" and run["steps"] == []
            await lock.release()
            assert await asyncio.to_thread(first.wait, 120) == 0
        finally:
            if first.poll() is None:
                first.kill()
    [task] = await tasks(api)
    assert task["title"] == "最初の電話"
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED" and [(s["stepId"], s["attempt"]) for s in run["steps"]] == [("call", 1)]


async def _ticket_titles(api) -> list[str]:
    return [t["subject"] for t in (await api.graphql("{ tickets { nodes { subject } } }"))["tickets"]["nodes"]]


async def _task_titles(api) -> list[str]:
    return [t["title"] for t in await tasks(api)]


TICKET_ON_NEW_CONTACT = {
    "trigger": {"type": "event", "event": "contact.created"},
    "steps": [{"id": "call", "type": "support.create_ticket", "subject": "初回フォロー"}],
}
# (definition, the table its step inserts into, making its trigger, reading the titles of what its step made)
KILLED_MID_STEP = {
    "create_task": (TASK_ON_NEW_ACCOUNT, "core_task", lambda api: create_account(api, name="株式会社カエデ"), _task_titles),
    "support.create_ticket": (
        TICKET_ON_NEW_CONTACT,
        "support_ticket",
        lambda api: create_contact(api, familyName="楓"),
        _ticket_titles,
    ),
}
MADE = {"create_task": "最初の電話", "support.create_ticket": "初回フォロー"}


@pytest.mark.parametrize("step_type", list(KILLED_MID_STEP))
async def test_a_worker_killed_mid_step_leaves_nothing_and_the_next_applies_the_step_once(
    enishi_api, postgres_url, enishi_base_settings, step_type
):
    definition, table, trigger, made = KILLED_MID_STEP[step_type]
    api = await enishi_api(database_url=postgres_url, environment="development")
    env = worker_env(postgres_url, enishi_base_settings)
    clock_id = await start_test_clock(api)
    await create_workflow(api, definition)
    await trigger(api)
    async with TableLock(postgres_url, table) as lock:
        doomed = start_worker(env)
        try:
            backend = await lock.waiting_backend()
            doomed.kill()  # SIGKILL inside the step's transaction
            doomed.wait()
            await lock.release()
            await lock.gone(backend)  # its transaction rolled back with its connection
        finally:
            if doomed.poll() is None:
                doomed.kill()
    [run] = await runs(api)
    assert run["status"] == "PENDING" and run["steps"] == [] and await made(api) == []

    await move_test_clock(api, clock_id, TEST_START + JOB_LEASE + dt.timedelta(seconds=1))  # the dead worker's lease lapses
    await asyncio.to_thread(enishi, "worker", "--once", env=env)
    await asyncio.to_thread(enishi, "worker", "--once", env=env)
    assert await made(api) == [MADE[step_type]]
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED" and [(s["stepId"], s["attempt"], s["status"]) for s in run["steps"]] == [
        ("call", 1, "SUCCEEDED")
    ]

"""Deliveries under several workers: a delivery one worker is sending is not sent by another, and
one whose worker was killed mid-send is sent again — with the same webhook-id — once its lease ran
out (at least once); one whose worker was asked to stop (SIGTERM) mid-send, at once. The
interleavings are forced: the receiver holds a request until the test has done what it checks."""

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, cast

from enishi.plugins.automation.delivery import deliver_due
from enishi.testing import TEST_START
from enishi.worker import JOB_LEASE, deliver_waiting_events, run_every_job
from tests.helpers import create_account
from tests.plugins.automation.helpers import LOOPBACK, Receiver, create_webhook, deliveries


def hold_first_request(receiver: Receiver) -> tuple[threading.Event, threading.Event]:
    """(arrived, release): the receiver's first request sets `arrived`, then waits for `release`."""
    arrived, release = threading.Event(), threading.Event()
    # The receiver's own handler class (typeshed types it as a plain callable).
    handler_class = cast(Any, receiver.server.RequestHandlerClass)
    answer = handler_class.do_POST

    def held(handler):
        if not arrived.is_set():
            arrived.set()
            release.wait(120)
        with contextlib.suppress(OSError):  # its sender was killed meanwhile
            answer(handler)

    handler_class.do_POST = held
    return arrived, release


def worker_env(database_url: str, settings, folder: Path) -> dict:
    """What an `enishi worker` process needs to send to the test's loopback receiver, on the test clock."""
    config = folder / "enishi.toml"
    config.write_text('[extra]\nautomation_webhook_allowlist = ["127.0.0.1/32"]\n', encoding="utf-8")
    return {
        "ENISHI_DATABASE_URL": database_url,
        "ENISHI_KEK": settings.key_encryption_key,
        "ENISHI_ENVIRONMENT": "development",
        "ENISHI_CONFIG": str(config),
    }


def start_worker(env: dict) -> subprocess.Popen:
    """`enishi worker --once` in a process of its own, not waited for."""
    command = [sys.executable, "-m", "enishi.cli", "worker", "--once"]
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _let_go(release: threading.Event, worker: subprocess.Popen | None, receiver: Receiver) -> None:
    """A test's end, passed or failed: the held request let go, the worker gone, the receiver closed."""
    release.set()
    if worker is not None and worker.poll() is None:
        worker.kill()
    receiver.close()


async def _sent_again_with_the_same_webhook_id(api, webhook: dict, receiver: Receiver) -> None:
    """The delivery succeeded at the receiver's second request, which carried the first's webhook-id."""
    [delivery] = await deliveries(api, webhook["id"])
    assert delivery["status"] == "SUCCEEDED" and [a["statusCode"] for a in delivery["attempts"]] == [200]
    assert len(receiver.received) == 2
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"] == delivery["messageId"]


async def test_two_workers_never_send_one_delivery_at_once(enishi_api):
    first = await enishi_api(environment="development", extra=LOOPBACK)
    second = await enishi_api(environment="development", extra=LOOPBACK)
    receiver = Receiver()
    arrived, release = hold_first_request(receiver)
    try:
        webhook, _ = await create_webhook(first, receiver.url, ["account.created"])
        await create_account(first, name="A")
        await deliver_waiting_events(first.runtime)  # the outbox queues the delivery; nothing is sent yet
        sending = asyncio.create_task(deliver_due(first.runtime))
        await asyncio.to_thread(arrived.wait, 120)
        assert await deliver_due(second.runtime) == 0  # leased to the first worker: not sent twice
        release.set()
        assert await sending == 1
    finally:
        release.set()
        receiver.close()
    assert len(receiver.received) == 1
    [delivery] = await deliveries(first, webhook["id"])
    assert delivery["status"] == "SUCCEEDED" and delivery["attemptCount"] == 1


async def test_a_worker_killed_mid_send_leaves_the_delivery_to_the_next_with_the_same_webhook_id(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path
):
    api = await enishi_api(database_url=enishi_fresh_migrated, environment="development", extra=LOOPBACK)
    env = worker_env(enishi_fresh_migrated, enishi_base_settings, tmp_path)
    receiver = Receiver()
    arrived, release = hold_first_request(receiver)
    worker = None
    try:
        clock = await api.mutate("createTestClock", {"frozenTime": TEST_START.isoformat()}, "testClock { id }")
        webhook, _ = await create_webhook(api, receiver.url, ["account.created"])
        await create_account(api, name="A")
        worker = start_worker(env)
        await asyncio.to_thread(arrived.wait, 120)
        worker.kill()  # mid-send: no attempt recorded, the lease still held
        worker.wait()
        release.set()
        [delivery] = await deliveries(api, webhook["id"])
        assert delivery["status"] == "PENDING" and delivery["attempts"] == []

        # Both leases of the killed worker run out: the delivery's and its run of the job (JOB_LEASE).
        lease_over = TEST_START + max(dt.timedelta(seconds=15 * 2 + 60), JOB_LEASE) + dt.timedelta(seconds=1)
        advanced = await api.mutate(
            "advanceTestClock", {"id": clock["testClock"]["id"], "to": lease_over.isoformat()}, "jobsRun jobsFailed"
        )
        assert advanced["userErrors"] == [] and "automation.webhooks" in advanced["jobsRun"], advanced
    finally:
        _let_go(release, worker, receiver)
    await _sent_again_with_the_same_webhook_id(api, webhook, receiver)  # the killed worker's request, and the next's


async def test_a_worker_stopped_mid_send_releases_the_delivery_to_the_next_at_once(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path
):
    api = await enishi_api(database_url=enishi_fresh_migrated, environment="development", extra=LOOPBACK)
    env = {**worker_env(enishi_fresh_migrated, enishi_base_settings, tmp_path), "ENISHI_SHUTDOWN_TIMEOUT": "1"}
    receiver = Receiver()
    arrived, release = hold_first_request(receiver)
    worker = None
    try:
        await api.mutate("createTestClock", {"frozenTime": TEST_START.isoformat()}, "testClock { id }")
        webhook, _ = await create_webhook(api, receiver.url, ["account.created"])
        await create_account(api, name="A")
        worker = start_worker(env)
        await asyncio.to_thread(arrived.wait, 120)
        worker.send_signal(signal.SIGTERM)  # mid-send: the job is cancelled once its second of grace is over
        assert await asyncio.to_thread(worker.wait) == 0
        release.set()
        [delivery] = await deliveries(api, webhook["id"])
        assert delivery["status"] == "PENDING" and delivery["attempts"] == []

        # At the very time it stopped: neither the delivery's lease nor the job's is left to run out.
        assert "automation.webhooks" in await run_every_job(api.runtime)
    finally:
        _let_go(release, worker, receiver)
    await _sent_again_with_the_same_webhook_id(api, webhook, receiver)  # the stopped worker's request, and the next's

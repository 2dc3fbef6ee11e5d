"""Webhook deliveries per second (plugin `automation`), one and two worker processes, against a
floor measured in the same run.

Data: one subscription pointing at a receiver on loopback (uvicorn, a bare ASGI app answering
204, in a process of its own) and N pending deliveries bulk-inserted, each about a different
contact (so every claim runs the per-subject ordering check and none waits for another). Enishi: worker processes,
started and then released together, each running the `automation.webhooks` job's
`deliver_due` until the queue is empty (claim a batch under a lease, sign, POST 10 at a time,
record every attempt); the time is from the release to the last worker's end. Floor: the same N
signed POSTs of the same bodies from one process with the same concurrency and no database —
what the HTTP exchange alone costs. Rounds interleave; between rounds the deliveries are reset to
pending. Writes bench/results/webhooks.json.

    python bench/webhooks.py [--deliveries 2000] [--rounds 2]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://… python bench/webhooks.py
"""

import argparse
import asyncio
import datetime as dt
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import httpx
from report import (  # bench/ is on the path when a workload runs as a script
    database_url,
    free_port,
    rounds_against_floor,
    save_result,
    scratch_folder,
    timed_workers,
)
from sqlalchemy import delete, func, insert, select, update

from enishi.clock import SystemClock
from enishi.db import new_id
from enishi.db.migrate import upgrade
from enishi.plugins.automation import delivery, service
from enishi.plugins.automation.models import AutomationAttempt, AutomationDelivery
from enishi.plugins.automation.signing import headers, message_id
from enishi.runtime import Runtime
from enishi.settings import Settings

HERE = Path(__file__).resolve().parent
KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def settings(url: str) -> Settings:
    return Settings(
        database_url=url,
        environment="development",
        key_encryption_key=KEK,
        extra={"automation_webhook_allowlist": ["127.0.0.1/32"]},
    )


async def load(runtime: Runtime, receiver: str, deliveries: int) -> tuple[str, list[bytes]]:
    async with runtime.unit_of_work() as uow:
        webhook, secret = await service.create_webhook(uow, runtime, {"url": receiver, "event_types": ["*"]})
    now = runtime.clock.now()
    rows = [
        {
            "id": new_id(),
            "webhook_id": webhook.id,
            "event_id": new_id(),
            "event_type": "contact.updated",
            "occurred_at": now,
            "payload": {"fields": ["job_title"]},
            "subject": f"contact:{new_id()}",
            "position": 1,
            "status": "pending",
            "attempts": 0,
            "failures": 0,
            "next_attempt_at": now - dt.timedelta(seconds=1),
            "created_at": now,
        }
        for _ in range(deliveries)
    ]
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(insert(AutomationDelivery), rows)
    bodies = [delivery.body(AutomationDelivery(**row)) for row in rows[:1]] * deliveries
    return secret, bodies


async def reset(runtime: Runtime) -> None:
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(delete(AutomationAttempt))
        await uow.session.execute(
            update(AutomationDelivery).values(
                status="pending",
                attempts=0,
                failures=0,
                lease_until=None,
                delivered_at=None,
                next_attempt_at=runtime.clock.now() - dt.timedelta(seconds=1),
            )
        )


async def floor(receiver: str, secret: str, bodies: list[bytes]) -> float:
    gate = asyncio.Semaphore(delivery.CONCURRENCY)
    event_id = new_id()

    async def send(client, body):
        async with gate:
            signed = headers([secret], message_id(event_id), int(time.time()), body)
            response = await client.post(receiver, content=body, headers=signed)
            assert response.status_code == 204

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        await asyncio.gather(*(send(client, body) for body in bodies))
    return time.perf_counter() - started


async def worker(url: str) -> None:
    runtime = Runtime(settings(url), clock=SystemClock())
    await count_succeeded(runtime)  # connected and warmed up before the release, not after
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await delivery.deliver_due(runtime)
    await runtime.close()


async def count_succeeded(runtime: Runtime) -> int:
    async with runtime.read_session() as session:
        return (await session.execute(select(func.count()).where(AutomationDelivery.status == "succeeded"))).scalar_one()


def start_receiver() -> tuple[subprocess.Popen, str]:
    """The receiver in a process of its own, once it answers."""
    port = free_port()
    receiver_app = scratch_folder("webhooks-receiver") / "receiver.py"
    receiver_app.write_text(RECEIVER, encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "receiver:app", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=receiver_app.parent,
    )
    receiver = f"http://127.0.0.1:{port}/hook"
    for _ in range(100):
        try:
            httpx.post(receiver, timeout=1)
            return server, receiver
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the receiver did not start")


async def run(deliveries: int, rounds: int, url: str, receiver: str) -> dict:
    runtime = Runtime(settings(url), clock=SystemClock())
    await asyncio.to_thread(upgrade, runtime)
    secret, bodies = await load(runtime, receiver, deliveries)
    samples: dict[str, list[float]] = {"floor": [], "one worker": [], "two workers": []}
    for _ in range(rounds):
        samples["floor"].append(await floor(receiver, secret, bodies))
        for name, count in (("one worker", 1), ("two workers", 2)):
            await reset(runtime)
            samples[name].append(await asyncio.to_thread(timed_workers, __file__, url, count))
            assert await count_succeeded(runtime) == deliveries
    await runtime.close()
    best = {name: min(values) for name, values in samples.items()}
    return {
        "deliveries": deliveries,
        "rounds": rounds,
        "database": url.split(":")[0],
        "python": platform.python_version(),
        "per_second": {name: round(deliveries / seconds) for name, seconds in best.items()},
        "ratio_to_floor": {name: round(seconds / best["floor"], 2) for name, seconds in best.items() if name != "floor"},
        "per_round": rounds_against_floor(samples),
        "seconds": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker))
        return
    url = database_url("webhooks")
    server, receiver = start_receiver()
    try:
        result = asyncio.run(run(args.deliveries, args.rounds, url, receiver))
    finally:
        server.terminate()
        server.wait()
    print(json.dumps(result, indent=2))
    save_result("webhooks", result)


if __name__ == "__main__":
    main()

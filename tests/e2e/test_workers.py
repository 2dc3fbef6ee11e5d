"""Several `enishi worker` processes: a worker killed mid-job (SIGKILL, a real process) leaves its
work to the next worker once its leases ran out, and nothing it had done is done twice; on
SQLite a second worker is refused."""

import asyncio
import fcntl
import os
import subprocess
import sys
from pathlib import Path

from enishi.worker import JOB_LEASE, only_worker_on_sqlite, run_every_job
from tests.e2e.blocking_worker import PING, Recorder
from tests.helpers import enishi

BLOCKING_WORKER = str(Path(__file__).with_name("blocking_worker.py"))


def _env(settings, url: str) -> dict:
    return {
        **os.environ,
        "ENISHI_DATABASE_URL": url,
        "ENISHI_ENVIRONMENT": "production",  # the clock is the one the worker is given, not the system's
        "ENISHI_KEK": settings.key_encryption_key,
        "ENISHI_MAIL_URL": settings.mail_url,
        "ENISHI_PUBLIC_URL": settings.public_url,
    }


def _kill_at_the_fourth_event(env: dict, api, log: Path, lock: Path) -> None:
    """Run the blocking worker at the test's time until it waits at the fourth event, then SIGKILL it."""
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # the worker waits for it at the fourth event
        command = [BLOCKING_WORKER, "--now", api.clock.now().isoformat(), "--log", str(log), "--lock", str(lock)]
        worker = subprocess.Popen([sys.executable, *command, "--block-at", "3"], env=env, stderr=subprocess.PIPE)
        while not (log.exists() and "blocked" in log.read_text()):
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
        worker.kill()  # SIGKILL: no clean-up of any kind
        worker.wait()


async def test_a_worker_killed_mid_delivery_leaves_the_rest_to_the_next_worker_and_nothing_twice(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path
):
    log, lock = tmp_path / "delivered", tmp_path / "lock"
    api = await enishi_api(plugins=[("recorder", Recorder(log))], database_url=enishi_fresh_migrated)
    async with api.runtime.unit_of_work() as uow:
        for n in range(6):
            await uow.emit(PING, None, {"n": n})
    await asyncio.to_thread(_kill_at_the_fourth_event, _env(enishi_base_settings, enishi_fresh_migrated), api, log, lock)
    recorder = Recorder(log)
    assert recorder.delivered() == [0, 1, 2]

    api.clock.advance(seconds=JOB_LEASE.total_seconds() - 60)  # the dead worker's leases still hold
    assert "core.outbox" not in await run_every_job(api.runtime)
    assert recorder.delivered() == [0, 1, 2]

    api.clock.advance(seconds=61)  # they ran out: the next worker takes the job and the rest of the batch
    assert "core.outbox" in await run_every_job(api.runtime)
    assert recorder.delivered() == [0, 1, 2, 3, 4, 5]  # each once: what the dead worker sent is not sent again
    assert "core.outbox" in await run_every_job(api.runtime)  # and the job is no longer held by anyone
    assert recorder.delivered() == [0, 1, 2, 3, 4, 5]


def test_sqlite_runs_one_worker_and_refuses_a_second(enishi_base_settings, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/one.db"
    env = {key: value for key, value in _env(enishi_base_settings, url).items() if key != "ENISHI_ENVIRONMENT"}
    enishi("db", "upgrade", env=env)
    with only_worker_on_sqlite(url):  # what a running `enishi worker` holds
        refused = enishi("worker", "--once", env=env, check=False)
    assert refused.returncode == 2
    assert refused.stderr == (
        "enishi: error: another enishi worker is running on this SQLite database: "
        "SQLite supports one worker (use PostgreSQL for several)\n"
    )
    assert "core.outbox" in enishi("worker", "--once", env=env).stdout  # the place is free once the first is gone

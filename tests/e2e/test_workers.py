"""Several `enishi worker` processes: a worker killed mid-job (SIGKILL, a real process) leaves its
work to the next worker once its leases ran out, and nothing it had done is done twice; a worker
asked to stop (SIGTERM) mid-job finishes the job, or past ENISHI_SHUTDOWN_TIMEOUT releases it to
the next worker at once; a worker serves its Prometheus metrics; on SQLite a second worker is
refused."""

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from enishi.worker import JOB_LEASE, OUTBOX_JOB, only_worker_on_sqlite, run_every_job
from tests.e2e.blocking_worker import PING, Recorder
from tests.helpers import create_contact, enishi, free_port

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


STOPPING = "stopping: the job in progress may finish"


def _stop_at_the_fourth_event(env: dict, api, log: Path, lock: Path, *, let_it_finish: bool) -> tuple[int, list[str]]:
    """Run the blocking worker until it waits at the fourth event, SIGTERM it, and once it said it
    is stopping, let the event go on (`let_it_finish`) or never; its exit status and log lines."""
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        command = [BLOCKING_WORKER, "--now", api.clock.now().isoformat(), "--log", str(log), "--lock", str(lock)]
        worker = subprocess.Popen([sys.executable, *command, "--block-at", "3"], env=env, stderr=subprocess.PIPE, text=True)
        assert worker.stderr is not None
        while not (log.exists() and "blocked" in log.read_text()):
            assert worker.poll() is None, worker.stderr.read()
        worker.send_signal(signal.SIGTERM)
        lines: list[str] = []
        while STOPPING not in (lines[-1] if lines else ""):
            lines.append(worker.stderr.readline())
            assert lines[-1], f"the worker ended without saying it was stopping: {lines}"
        if let_it_finish:
            fcntl.flock(held, fcntl.LOCK_UN)
        lines += worker.stderr.read().splitlines()
        return worker.wait(), lines


async def _six_events_and_a_worker_stopped_at_the_fourth(
    enishi_api, database_url: str, settings, tmp_path, *, shutdown_timeout: int, let_it_finish: bool
):
    """(the app, what was delivered, the worker's exit status, its log lines)."""
    log, lock = tmp_path / "delivered", tmp_path / "lock"
    api = await enishi_api(plugins=[("recorder", Recorder(log))], database_url=database_url)
    async with api.runtime.unit_of_work() as uow:
        for n in range(6):
            await uow.emit(PING, None, {"n": n})
    env = {**_env(settings, database_url), "ENISHI_SHUTDOWN_TIMEOUT": str(shutdown_timeout)}
    status, lines = await asyncio.to_thread(_stop_at_the_fourth_event, env, api, log, lock, let_it_finish=let_it_finish)
    return api, Recorder(log), status, lines


async def test_a_worker_asked_to_stop_mid_job_finishes_it_and_claims_nothing_more(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path
):
    api, recorder, status, lines = await _six_events_and_a_worker_stopped_at_the_fourth(
        enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path, shutdown_timeout=3600, let_it_finish=True
    )
    assert status == 0, lines
    assert recorder.delivered() == [0, 1, 2, 3, 4, 5]  # the batch it was at, to its end
    after_the_request = lines[next(n for n, line in enumerate(lines) if STOPPING in line) :]
    ended = [line for line in after_the_request if '"job ran"' in line or '"job released' in line]
    assert len(ended) == 1 and '"job ran"' in ended[0] and f'"job": "{OUTBOX_JOB}"' in ended[0], ended  # no job claimed after
    assert OUTBOX_JOB in await run_every_job(api.runtime)  # its run ended: the job is free
    assert recorder.delivered() == [0, 1, 2, 3, 4, 5]


async def test_a_worker_stopped_past_the_shutdown_timeout_releases_its_job_to_the_next_worker_at_once(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path
):
    api, recorder, status, lines = await _six_events_and_a_worker_stopped_at_the_fourth(
        enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path, shutdown_timeout=1, let_it_finish=False
    )
    assert status == 0, lines
    assert any('"job released unfinished"' in line and OUTBOX_JOB in line for line in lines), lines
    assert recorder.delivered() == [0, 1, 2]
    # At the very time it stopped (a killed worker's job waits out JOB_LEASE): the rest, each once.
    assert OUTBOX_JOB in await run_every_job(api.runtime)
    assert recorder.delivered() == [0, 1, 2, 3, 4, 5]


async def test_a_worker_serves_its_metrics_and_stops_cleanly_on_sigterm(enishi_api, enishi_fresh_migrated, enishi_base_settings):
    api = await enishi_api(database_url=enishi_fresh_migrated)
    await create_contact(api, familyName="山田")  # an event in the outbox for the worker to deliver
    port = free_port()
    env = {**_env(enishi_base_settings, enishi_fresh_migrated), "ENISHI_WORKER_METRICS_PORT": str(port)}
    scrape, status, left = await asyncio.to_thread(_scrape_once_the_outbox_ran, env, f"http://127.0.0.1:{port}/metrics")
    assert status == 0, left  # SIGTERM between jobs: it stopped at once, cleanly
    families = {family.name: family for family in text_string_to_metric_families(scrape)}
    runs = {
        (s.labels["job"], s.labels["outcome"]): s.value for s in families["enishi_job_runs"].samples if s.name.endswith("_total")
    }
    assert runs[(OUTBOX_JOB, "ok")] >= 1 and not any(outcome == "failed" for _, outcome in runs)
    assert any(s.labels.get("job") == OUTBOX_JOB for s in families["enishi_job_duration_seconds"].samples)
    # The database's gauges, as a server's /metrics has them (read at the worker's start, then every 15 s).
    assert [s.value for s in families["enishi_database_up"].samples] == [1]
    assert {"enishi_outbox_backlog", "enishi_outbox_oldest_waiting_seconds", "enishi_outbox_given_up"} <= families.keys()


def _scrape_once_the_outbox_ran(env: dict, url: str) -> tuple[str, int, str]:
    """Start `enishi worker`, scrape its metrics once it logged a run of the outbox job, SIGTERM it:
    the scrape, its exit status and the rest of its log."""
    command = [sys.executable, "-m", "enishi.cli", "worker", "--poll", "0.1"]
    worker = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    try:
        while True:
            line = worker.stderr.readline()
            assert line, "the worker ended"
            if '"job ran"' in line and f'"job": "{OUTBOX_JOB}"' in line:
                break
        scrape = httpx.get(url, timeout=60).text
        worker.send_signal(signal.SIGTERM)
        _, left = worker.communicate(timeout=600)
    finally:
        worker.kill()
    return scrape, worker.returncode, left


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

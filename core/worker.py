"""`enishi worker`: runs the scheduled jobs plugins contribute.

A run is claimed with one conditional UPDATE, so any number of workers may run side by side and
never run the same job at once: on its schedule a job is claimed once it is due (not started
within its interval); `enishi worker --once` claims every job that is not running right now,
due or not, because an operator running it wants the work done now. A claim is a lease the
worker renews while the job runs, however long it takes; a worker that dies (SIGKILL, a lost
machine) stops renewing it, and once it has run out the next worker runs the job again at once.
Jobs must therefore be idempotent: the run that died may have done part of its work.

Outbox delivery (`core.outbox`: mail such as one-time codes, webhooks) is not left to its
interval: the long-running worker looks for waiting events every OUTBOX_TICK and delivers them
at once, so a code reaches its reader seconds after the request, not at the next round.

SIGTERM or SIGINT stops a worker gracefully (`work`): it claims nothing more, and the job it is
running has ENISHI_SHUTDOWN_TIMEOUT seconds to finish; one still running then is cancelled and
its lease released (made to run out now), so that the next worker runs it again at once instead
of waiting out JOB_LEASE as after a crash. With ENISHI_WORKER_METRICS_PORT the worker serves its
Prometheus metrics (core/worker_metrics.py)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import make_url, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import deployment, outbox
from .contributions import ScheduledJob
from .models import JobRun
from .plugin_host import await_me_maybe
from .settings import ConfigError
from .worker_metrics import WorkerMetrics

log = logging.getLogger("enishi.worker")

OUTBOX_JOB = "core.outbox"  # contributed in core/hooks.py
OUTBOX_TICK = 1.0  # seconds between looks at the outbox
# A claimed run is the worker's until its lease runs out; the worker renews it while the job runs,
# so it runs out only once the worker died (then the next worker runs the job again at once).
JOB_LEASE = dt.timedelta(minutes=5)
JOB_LEASE_RENEWAL = 60.0  # seconds


@contextlib.contextmanager
def only_worker_on_sqlite(database_url: str) -> Iterator[None]:
    """On SQLite, hold the one worker's place for as long as this worker runs: a lock on a file
    beside the database, which the system releases whenever the process ends, SIGKILL included.
    SQLite has one writer at a time and no SKIP LOCKED, so a second worker would only queue behind
    the first; several workers are for PostgreSQL. Elsewhere, nothing."""
    path = make_url(database_url).database if database_url.startswith("sqlite") else None
    if not path or path == ":memory:":
        yield
        return
    with open(Path(path).with_name(Path(path).name + ".worker-lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                "another enishi worker is running on this SQLite database: "
                "SQLite supports one worker (use PostgreSQL for several)"
            ) from None
        yield


def scheduled_jobs(runtime) -> list[ScheduledJob]:
    return [job for _, job in runtime.plugins.contributions("enishi_scheduled_jobs")]


async def _claim(runtime, job: ScheduledJob, *, due_or_not: bool) -> dt.datetime | None:
    """Claim a run of `job`: its start time, or None when it is running elsewhere or not due."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        if await uow.session.get(JobRun, job.name) is None:
            try:
                async with uow.session.begin_nested():
                    uow.session.add(JobRun(name=job.name, runs=0, failures=0))
            except IntegrityError:
                pass  # another worker registered it first
        wanted = [JobRun.started_at.is_(None), JobRun.started_at <= now - job.interval]
        if due_or_not:  # an operator running `--once` wants it done now
            wanted.append(JobRun.started_at.is_not(None))
        else:  # a run whose worker died (its lease ran out, below) is run again at once
            wanted.append(JobRun.lease_until.is_not(None))
        claimed = await uow.session.execute(
            update(JobRun)
            .where(JobRun.name == job.name, or_(JobRun.lease_until.is_(None), JobRun.lease_until <= now), or_(*wanted))
            .values(started_at=now, lease_until=now + JOB_LEASE)
            .execution_options(synchronize_session=False)
        )
        return now if claimed.rowcount == 1 else None


async def _hold(runtime, job: ScheduledJob, started_at: dt.datetime) -> None:
    """Renew the lease on our run of `job` while it lasts, however long: it runs out only when
    this worker is gone. Only our run's: a run another worker claimed since is not ours to hold."""
    while True:
        await asyncio.sleep(JOB_LEASE_RENEWAL)
        async with runtime.unit_of_work() as uow:
            await uow.session.execute(
                update(JobRun)
                .where(JobRun.name == job.name, JobRun.started_at == started_at)
                .values(lease_until=runtime.clock.now() + JOB_LEASE)
                .execution_options(synchronize_session=False)
            )


@dataclass(frozen=True)
class JobOutcome:
    name: str
    failed: bool


@dataclass
class Shift:
    """A worker's shift, for as long as it runs: `stopping` is set once it is asked to stop
    (SIGTERM, SIGINT), after which a job in progress has `grace` seconds to finish; `metrics`
    counts its runs. A bare call (`run_due`, tests) has a shift no one ends."""

    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    grace: float = 30.0
    metrics: WorkerMetrics | None = None

    async def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less once asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


async def _run_to_end_or_stop(runtime, job: ScheduledJob, shift: Shift) -> bool | None:
    """Run `job`: whether it failed, or None when a stop request cut it short (cancelled after
    the shift's grace; the transaction it was in rolls back)."""
    work = asyncio.ensure_future(await_me_maybe(lambda: job.run(runtime)))
    stop_requested = asyncio.ensure_future(shift.stopping.wait())
    try:
        await asyncio.wait({work, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            log.warning("stopping: the job in progress may finish", extra={"job": job.name, "seconds": shift.grace})
            await asyncio.wait({work}, timeout=shift.grace)
    finally:
        stop_requested.cancel()
    if not work.done():
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        return None
    if work.exception() is not None:
        log.error("job failed", extra={"job": job.name, "error": type(work.exception()).__name__})
        return True
    return False


async def _release(runtime, job: ScheduledJob, started_at: dt.datetime) -> None:
    """Let our run of `job` go as a dead worker's would, without the wait: its lease runs out now."""
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            update(JobRun)
            .where(JobRun.name == job.name, JobRun.started_at == started_at)
            .values(lease_until=runtime.clock.now())
            .execution_options(synchronize_session=False)
        )


async def _run_jobs(runtime, jobs: list[ScheduledJob], *, due_or_not: bool, shift: Shift | None = None) -> list[JobOutcome]:
    await runtime.follow_test_clock()  # due at the test clock's time, if one is active
    shift = shift or Shift()
    ran = []
    for job in jobs:
        if shift.stopping.is_set():
            break
        started_at = await _claim(runtime, job, due_or_not=due_or_not)
        if started_at is None:
            continue
        started = time.perf_counter()
        holding = asyncio.create_task(_hold(runtime, job, started_at), name=f"lease of {job.name}")
        try:
            failed = await _run_to_end_or_stop(runtime, job, shift)
        finally:
            holding.cancel()
            await asyncio.gather(holding, return_exceptions=True)
        seconds = time.perf_counter() - started
        if failed is None:
            await _release(runtime, job, started_at)
            log.warning("job released unfinished", extra={"job": job.name, "ms": round(seconds * 1000, 1)})
        else:
            async with runtime.unit_of_work() as uow:
                row = (await uow.session.execute(select(JobRun).where(JobRun.name == job.name).with_for_update())).scalar_one()
                row.finished_at = runtime.clock.now()
                row.lease_until = None
                row.runs += 1
                row.failures += int(failed)
            log.info("job ran", extra={"job": job.name, "ms": round(seconds * 1000, 1), "failed": failed})
            ran.append(JobOutcome(job.name, failed))
        if shift.metrics is not None:
            shift.metrics.observe_job(job.name, "released" if failed is None else "failed" if failed else "ok", seconds)
    return ran


async def run_due(runtime) -> list[JobOutcome]:
    """Run every job that is due now (at the test clock's time, if one is active); returns what
    this call ran and whether each failed."""
    return await _run_jobs(runtime, scheduled_jobs(runtime), due_or_not=False)


async def run_due_jobs(runtime) -> list[str]:
    """Run every job that is due now; returns the names of the jobs this call ran."""
    return [outcome.name for outcome in await run_due(runtime)]


async def run_every_job(runtime) -> list[str]:
    """`enishi worker --once`: run every job now, whether due or not, except those another worker
    is running at this moment; returns the names of the jobs this call ran."""
    return [outcome.name for outcome in await _run_jobs(runtime, scheduled_jobs(runtime), due_or_not=True)]


async def deliver_waiting_events(runtime, shift: Shift | None = None) -> list[str]:
    """Run the outbox job now if an event waits for delivery (and no other worker is at it)."""
    if not await outbox.has_pending(runtime):
        return []
    outbox_jobs = [job for job in scheduled_jobs(runtime) if job.name == OUTBOX_JOB]
    return [outcome.name for outcome in await _run_jobs(runtime, outbox_jobs, due_or_not=True, shift=shift)]


async def run_forever(runtime, poll_seconds: float = 5.0, tick_seconds: float = OUTBOX_TICK, shift: Shift | None = None) -> None:
    """Due jobs every `poll_seconds`; waiting events every `tick_seconds` in between; until the
    shift is asked to stop. Raises `ConfigError` once `enishi db upgrade` recorded another
    configuration than this worker's."""
    shift = shift or Shift()
    loop = asyncio.get_running_loop()
    while not shift.stopping.is_set():
        next_round = loop.time() + poll_seconds
        await deployment.check(runtime)  # a worker left running from before a configuration change stops here
        await _run_jobs(runtime, scheduled_jobs(runtime), due_or_not=False, shift=shift)
        while loop.time() < next_round and not shift.stopping.is_set():
            await shift.pause(min(tick_seconds, max(0.0, next_round - loop.time())))
            await deliver_waiting_events(runtime, shift)


async def work(runtime, *, once: bool, poll_seconds: float = 5.0) -> list[str]:
    """`enishi worker`: run every job now (`once`), or run forever; either way until SIGTERM or
    SIGINT, which stop it gracefully (the module's docstring). Returns the names of the jobs a
    `once` run ran."""
    settings = runtime.settings
    shift = Shift(grace=settings.shutdown_timeout, metrics=WorkerMetrics() if settings.worker_metrics_port else None)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shift.stopping.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if shift.metrics is not None:
                await stack.enter_async_context(
                    shift.metrics.served(runtime, settings.worker_metrics_host, settings.worker_metrics_port)
                )
            if once:
                return [
                    outcome.name for outcome in await _run_jobs(runtime, scheduled_jobs(runtime), due_or_not=True, shift=shift)
                ]
            await run_forever(runtime, poll_seconds, shift=shift)
            return []
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

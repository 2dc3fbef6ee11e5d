"""`enishi worker`: runs the scheduled jobs plugins contribute.

A run is claimed with one conditional UPDATE, so any number of workers may run side by side and
never run the same job at once: on its schedule a job is claimed once it is due (not started
within its interval); `enishi worker --once` claims every job that is not running right now,
due or not, because an operator running it wants the work done now. Jobs must still be
idempotent, because a worker that dies mid-run leaves the job to be claimed again when the claim
expires (one interval later).

Outbox delivery (`core.outbox`: mail such as one-time codes, webhooks) is not left to its
interval: the long-running worker looks for waiting events every OUTBOX_TICK and delivers them
at once, so a code reaches its reader seconds after the request, not at the next round."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from . import outbox
from .contributions import ScheduledJob
from .models import JobRun
from .plugin_host import await_me_maybe

log = logging.getLogger("enishi.worker")

OUTBOX_JOB = "core.outbox"  # contributed in core/hooks.py
OUTBOX_TICK = 1.0  # seconds between looks at the outbox


def scheduled_jobs(runtime) -> list[ScheduledJob]:
    return [job for _, job in runtime.plugins.contributions("enishi_scheduled_jobs")]


async def _claim(runtime, job: ScheduledJob, *, due_or_not: bool) -> bool:
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        if await uow.session.get(JobRun, job.name) is None:
            try:
                async with uow.session.begin_nested():
                    uow.session.add(JobRun(name=job.name, runs=0, failures=0))
            except IntegrityError:
                pass  # another worker registered it first
        claimable = [JobRun.started_at.is_(None), JobRun.started_at <= now - job.interval]
        if due_or_not:  # any run that is not under way: the last one finished (or its claim expired, above)
            claimable.append(JobRun.finished_at >= JobRun.started_at)
        claimed = await uow.session.execute(
            update(JobRun)
            .where(JobRun.name == job.name, or_(*claimable))
            .values(started_at=now)
            .execution_options(synchronize_session=False)
        )
        return claimed.rowcount == 1


@dataclass(frozen=True)
class JobOutcome:
    name: str
    failed: bool


async def _run_jobs(runtime, jobs: list[ScheduledJob], *, due_or_not: bool) -> list[JobOutcome]:
    await runtime.follow_test_clock()  # due at the test clock's time, if one is active
    ran = []
    for job in jobs:
        if not await _claim(runtime, job, due_or_not=due_or_not):
            continue
        started = time.perf_counter()
        failed = False
        try:
            await await_me_maybe(lambda job=job: job.run(runtime))
        except Exception as exc:  # noqa: BLE001 - a failing job must not stop the others
            failed = True
            log.error("job failed", extra={"job": job.name, "error": type(exc).__name__})
        async with runtime.unit_of_work() as uow:
            row = (await uow.session.execute(select(JobRun).where(JobRun.name == job.name).with_for_update())).scalar_one()
            row.finished_at = runtime.clock.now()
            row.runs += 1
            row.failures += int(failed)
        log.info("job ran", extra={"job": job.name, "ms": round((time.perf_counter() - started) * 1000, 1), "failed": failed})
        ran.append(JobOutcome(job.name, failed))
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


async def deliver_waiting_events(runtime) -> list[str]:
    """Run the outbox job now if an event waits for delivery (and no other worker is at it)."""
    if not await outbox.has_pending(runtime):
        return []
    outbox_jobs = [job for job in scheduled_jobs(runtime) if job.name == OUTBOX_JOB]
    return [outcome.name for outcome in await _run_jobs(runtime, outbox_jobs, due_or_not=True)]


async def run_forever(runtime, poll_seconds: float = 5.0, tick_seconds: float = OUTBOX_TICK) -> None:
    """Due jobs every `poll_seconds`; waiting events every `tick_seconds` in between."""
    loop = asyncio.get_running_loop()
    while True:
        next_round = loop.time() + poll_seconds
        await run_due_jobs(runtime)
        while loop.time() < next_round:
            await asyncio.sleep(min(tick_seconds, max(0.0, next_round - loop.time())))
            await deliver_waiting_events(runtime)

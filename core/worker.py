"""`enishi worker`: runs the scheduled jobs plugins contribute.

A run is claimed with one conditional UPDATE (the job is due and not claimed since), so any
number of workers may run side by side: each due job runs once per interval. Jobs must still be
idempotent, because a worker that dies mid-run leaves the job to be claimed again when the claim
expires (one interval later)."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from .contributions import ScheduledJob
from .models import JobRun
from .plugin_host import await_me_maybe

log = logging.getLogger("enishi.worker")


def scheduled_jobs(runtime) -> list[ScheduledJob]:
    return [job for _, job in runtime.plugins.contributions("enishi_scheduled_jobs")]


async def _claim(runtime, job: ScheduledJob) -> bool:
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        if await uow.session.get(JobRun, job.name) is None:
            try:
                async with uow.session.begin_nested():
                    uow.session.add(JobRun(name=job.name, runs=0, failures=0))
            except IntegrityError:
                pass  # another worker registered it first
        claimed = await uow.session.execute(
            update(JobRun).where(JobRun.name == job.name, or_(JobRun.started_at.is_(None), JobRun.started_at <= now - job.interval))
            .values(started_at=now).execution_options(synchronize_session=False))
        return claimed.rowcount == 1


@dataclass(frozen=True)
class JobOutcome:
    name: str
    failed: bool


async def run_due_jobs(runtime) -> list[str]:
    """Run every job that is due now; returns the names of the jobs this call ran."""
    return [outcome.name for outcome in await run_due(runtime)]


async def run_due(runtime) -> list[JobOutcome]:
    """Run every job that is due now (at the test clock's time, if one is active); returns what
    this call ran and whether each failed."""
    await runtime.follow_test_clock()
    ran = []
    for job in scheduled_jobs(runtime):
        if not await _claim(runtime, job):
            continue
        started = time.perf_counter()
        failed = False
        try:
            await await_me_maybe(lambda job=job: job.run(runtime))
        except Exception as exc:  # a failing job must not stop the others
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


async def run_forever(runtime, poll_seconds: float = 5.0) -> None:
    while True:
        await run_due_jobs(runtime)
        await asyncio.sleep(poll_seconds)

"""The core's gauges on GET /metrics (`enishi_metrics`), read from the database at each scrape:
the outbox's backlog and the scheduled jobs' lag, the same whichever process is asked."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .contributions import GaugeReading
from .models import JobRun, OutboxEvent
from .outbox import MAX_ATTEMPTS


async def outbox_readings(session: AsyncSession, now: dt.datetime) -> list[GaugeReading]:
    undelivered = OutboxEvent.delivered_at.is_(None)
    waiting, oldest = (
        await session.execute(
            select(func.count(), func.min(OutboxEvent.occurred_at)).where(undelivered, OutboxEvent.attempts < MAX_ATTEMPTS)
        )
    ).one()
    given_up = (await session.execute(select(func.count()).where(undelivered, OutboxEvent.attempts >= MAX_ATTEMPTS))).scalar_one()
    return [
        GaugeReading("enishi_outbox_backlog", "Events waiting for delivery (mail, webhooks) in the outbox", waiting),
        GaugeReading(
            "enishi_outbox_oldest_waiting_seconds",
            "Age of the oldest event waiting for delivery (0 when none waits)",
            (now - oldest).total_seconds() if oldest is not None else 0.0,
        ),
        GaugeReading("enishi_outbox_given_up", f"Events left undelivered after {MAX_ATTEMPTS} attempts", given_up),
    ]


async def job_readings(session: AsyncSession, now: dt.datetime, intervals: dict[str, dt.timedelta]) -> list[GaugeReading]:
    """Per scheduled job that ever ran: how long ago its next run fell due (its last start plus
    its interval; 0 while not yet due), and how many of its runs failed. A run still going after
    its interval is late too: its claim expires then (core/worker.py). Job names come from the
    code, never from data."""
    readings = []
    for run in (await session.execute(select(JobRun).where(JobRun.name.in_(list(intervals))).order_by(JobRun.name))).scalars():
        due = run.started_at + intervals[run.name] if run.started_at is not None else now
        lag = max(0.0, (now - due).total_seconds())
        labels = {"job": run.name}
        readings.append(GaugeReading("enishi_job_lag_seconds", "How long past due the next run of a job is", lag, labels))
        readings.append(GaugeReading("enishi_job_failures", "Failed runs of a job so far", run.failures, labels))
    return readings

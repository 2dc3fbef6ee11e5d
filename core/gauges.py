"""The core's gauges on GET /metrics (`enishi_metrics`), read from the database at each scrape:
the outbox's backlog and the scheduled jobs' lag, the same whichever process is asked; and the
collector that serves such readings (a server's /metrics, a worker's)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .contributions import GaugeReading
from .models import JobRun, OutboxEvent
from .outbox import MAX_ATTEMPTS

log = logging.getLogger("enishi.metrics")
DATABASE_UP = "enishi_database_up"
DATABASE_UP_HELP = "Whether the database answered the last readings (1) or not (0: they are missing)"


async def read_gauges(runtime, within_seconds: float) -> list[GaugeReading]:
    """Every gauge the core and the plugins read from the database (`enishi_metrics`), and whether
    the database answered them within `within_seconds` (if not, that alone)."""
    try:
        async with asyncio.timeout(within_seconds), runtime.read_session() as session:
            answers = await runtime.plugins.call("enishi_metrics", runtime=runtime, session=session, now=runtime.clock.now())
    except Exception as exc:  # noqa: BLE001 - the process's own figures are worth serving without the database's
        log.warning("metrics: database readings failed", extra={"error": type(exc).__name__})
        return [GaugeReading(DATABASE_UP, DATABASE_UP_HELP, 0)]
    return [GaugeReading(DATABASE_UP, DATABASE_UP_HELP, 1), *(r for _, readings in answers for r in readings or ())]


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


class ReadingsCollector(Collector):
    """GaugeReadings (already read from the database) as Prometheus metric families."""

    def __init__(self, readings: Iterable[GaugeReading]) -> None:
        self.readings = list(readings)

    def collect(self) -> list[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for reading in self.readings:
            family = families.get(reading.name)
            if family is None:
                family = families[reading.name] = GaugeMetricFamily(reading.name, reading.help, labels=sorted(reading.labels))
            family.add_metric([reading.labels[key] for key in sorted(reading.labels)], reading.value)
        return list(families.values())

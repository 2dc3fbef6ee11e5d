"""A worker's Prometheus metrics (ENISHI_WORKER_METRICS_PORT), served on GET /metrics at
ENISHI_WORKER_METRICS_HOST (loopback unless told otherwise: the endpoint has no token) by
prometheus-client's own HTTP server, in a thread beside the worker's loop.

Counted in the worker as its jobs end: runs by job and outcome (ok, failed, released: stopped by
SIGTERM mid-run and left to the next worker), and their durations. Read from the database every
READ_EVERY seconds, by a task on the worker's loop, the same gauges a server's /metrics reads at
each scrape (core/gauges.py: the outbox backlog, each job's lag, the plugins' gauges), so a
deployment without servers on the workers' machines still sees them. Labels are job names, from
the code, never data. With PROMETHEUS_MULTIPROC_DIR shared with the servers of the same machine,
the job counters also show in the servers' /metrics (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from .contributions import GaugeReading
from .gauges import ReadingsCollector, read_gauges

READ_EVERY = 15.0  # seconds; a monitoring system scrapes every 15 to 60
READ_TIMEOUT = 5.0
# Seconds; jobs take from milliseconds (an empty outbox) to many minutes (a recompute of 100k rows).
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.job_runs = Counter(
            "enishi_job_runs",
            "Runs of a scheduled job by this worker by outcome: ok, failed, released (stopped mid-run, left to another worker)",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "enishi_job_duration_seconds",
            "Time a scheduled job ran in this worker",
            ["job"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.readings = ReadingsCollector(())  # the latest database read's, whenever a scrape comes
        self.registry.register(self.readings)

    def observe_job(self, job: str, outcome: str, seconds: float) -> None:
        self.job_runs.labels(job, outcome).inc()
        self.job_duration.labels(job).observe(seconds)

    def update(self, readings: list[GaugeReading]) -> None:
        self.readings.readings = readings

    @contextlib.asynccontextmanager
    async def served(self, runtime, host: str, port: int) -> AsyncIterator[None]:
        """Serve GET /metrics on `host:port` while the worker runs, the database's gauges read
        first, then every READ_EVERY seconds."""
        self.update(await read_gauges(runtime, READ_TIMEOUT))
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        reading = asyncio.create_task(self._keep_reading(runtime), name="worker metrics")
        try:
            yield
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            server.shutdown()
            thread.join()

    async def _keep_reading(self, runtime) -> None:
        while True:
            await asyncio.sleep(READ_EVERY)
            self.update(await read_gauges(runtime, READ_TIMEOUT))

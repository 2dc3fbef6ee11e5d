"""Prometheus metrics (prometheus-client), served on GET /metrics (graphql/operations.py).

Counted in the process as requests finish: requests by GraphQL operation and outcome, latency
histograms, database connections in use. Read from the database at each scrape, so that every
process reports the same figures however many there are: the outbox backlog, the scheduled jobs'
lag, and the gauges plugins contribute (`enishi_metrics`: the automation plugin's webhook
failures). Labels hold no personal data: routes are path templates (`/support/csat/{token}`,
never the token), and an operation name is the client's choice, so only a GraphQL name of the
document, at most MAX_NAME_LENGTH long, labels a series, and only the first MAX_OPERATION_NAMES
distinct names a process sees; any other is counted under OTHER.

Several server processes: with PROMETHEUS_MULTIPROC_DIR set (an empty folder, the same for every
process, emptied before they start), each process writes its counts there and any of them answers
a scrape with the sum of all (prometheus-client's multiprocess mode); without it, each process
reports its own (scrape each one)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event

from enishi.contributions import GaugeReading
from enishi.gauges import ReadingsCollector

MAX_OPERATION_NAMES = 200
MAX_NAME_LENGTH = 64
GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
UNNAMED = "_anonymous"  # a request naming no operation
OTHER = "_other"  # a name past the limits, or naming no operation of the document
OUTCOMES = ("ok", "user_error", "error")
UNMATCHED_ROUTE = "_unmatched"
MEDIA_TYPE = CONTENT_TYPE_LATEST
# Seconds; GraphQL requests here take from a millisecond (a cached page) to seconds (an export).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class OperationLabels:
    """The label of each operation name: the name itself while fewer than `limit` distinct names
    were seen, OTHER for any name after that (a client inventing names cannot grow the series)."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit, self.seen = limit, set[str]()

    @staticmethod
    def clean(name: str | None) -> str:
        """The name, if it is a GraphQL name of at most MAX_NAME_LENGTH; UNNAMED or OTHER if not."""
        if name is None:
            return UNNAMED
        return name if len(name) <= MAX_NAME_LENGTH and GRAPHQL_NAME.fullmatch(name) else OTHER

    def label(self, name: str | None) -> str:
        name = self.clean(name)
        if name not in self.seen and name not in (UNNAMED, OTHER):
            if len(self.seen) >= self.limit:
                return OTHER
            self.seen.add(name)
        return name


class Metrics:
    """The app's metrics, in a registry of its own (several apps may live in one test process)."""

    def __init__(self, engine) -> None:
        self.registry = CollectorRegistry()
        self.operations = OperationLabels()
        self.graphql_requests = Counter(
            "enishi_graphql_requests",
            "GraphQL requests by operation name and outcome (ok, user_error: refused or userErrors, error: internal)",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.graphql_duration = Histogram(
            "enishi_graphql_request_duration_seconds",
            "Time to answer a GraphQL request, by operation name",
            ["operation"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.http_requests = Counter(
            "enishi_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "enishi_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.pool_in_use = Gauge(
            "enishi_db_pool_connections_in_use",
            "Database connections checked out of this server's pool",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        # Counted as connections come and go: exact between scrapes, and in multiprocess mode too.
        event.listen(engine.sync_engine, "checkout", lambda *_: self.pool_in_use.inc())
        event.listen(engine.sync_engine, "checkin", lambda *_: self.pool_in_use.dec())

    def observe_graphql(self, operation: str | None, outcome: str, seconds: float) -> None:
        label = self.operations.label(operation)
        self.graphql_requests.labels(label, outcome).inc()
        self.graphql_duration.labels(label).observe(seconds)

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route).observe(seconds)

    def exposition(self, readings: Iterable[GaugeReading]) -> bytes:
        """The text of a scrape: the process's (or, in multiprocess mode, every process's)
        counters, this process's own runtime figures, and the database's readings."""
        directory = multiprocess_dir()
        if directory:
            counted = CollectorRegistry()
            multiprocess.MultiProcessCollector(counted, path=directory)
        else:
            counted = self.registry
        process = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            process.register(collector)
        read = CollectorRegistry()
        read.register(ReadingsCollector(readings))
        return generate_latest(counted) + generate_latest(process) + generate_latest(read)

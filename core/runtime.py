"""The running application: settings, clock, plugins, database, and units of work."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from . import crypto, hooks
from .auth import PermissionRegistry
from .catalog import check_catalog
from .clock import Clock, SimulatedClock, SystemClock
from .contributions import ActivityType
from .db import Base, create_engine, is_sqlite, sessionmakers
from .events import EventRegistry
from .models import TestClock
from .plugin_host import PluginHost
from .settings import Settings
from .unit_of_work import UnitOfWork

__all__ = ["Runtime", "UnitOfWork", "settle_heap"]

log = logging.getLogger("enishi.runtime")


def settle_heap() -> None:
    """Tune the cycle collector for a long-running server, once start-up is done.

    The schema, plugins and imports live as long as the process: freezing them keeps every
    collection from walking them again. And with a dozen pages in flight, each tens of thousands
    of short-lived objects, the default thresholds ran a full collection every few requests:
    31 % of the server's CPU under 16 clients (bench/README.md). A larger young generation and rare
    full collections cut that to about 8 %; memory stays bounded by the same counters."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class WriterQueue:
    """This process's units of work, one at a time, on SQLite (one writer at a time): queueing
    them here instead of in SQLite's busy handler (which sleeps and polls) cuts tail latency under
    contention; other processes still wait on the database lock. `waiting` is how many wait for
    their turn now, for whoever must know that writes are queued behind the one writing (the
    erasure race test, tests/e2e/erasure_barrier_server.py)."""

    def __init__(self) -> None:
        self._turn = asyncio.Lock()
        self.waiting = 0

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await self._turn.acquire()
        finally:
            self.waiting -= 1

    async def __aexit__(self, *_exc) -> None:
        self._turn.release()


class Runtime:
    """The running application a hook receives: `settings`, `clock`, `plugins` (the plugin host),
    `engine`; `unit_of_work(actor_id)` opens a write transaction, `read_session()` a read-only one,
    `replica_session()` one on the read replica for analytics."""

    def __init__(
        self, settings: Settings | None = None, *, clock: Clock | None = None, extra_plugins: Iterable[tuple[str, object]] = ()
    ) -> None:
        self.settings = settings or Settings.from_env()
        crypto.install(crypto.KeyRing(self.settings))
        self.clock = clock or SystemClock()
        if not self.settings.is_production:
            # Test clocks exist outside production only; in production the clock stays as given.
            self.clock = SimulatedClock(self.clock)
        self.plugins = PluginHost(self.settings, extra_plugins, core=hooks)
        self.permissions = PermissionRegistry([p for _, p in self.plugins.contributions("enishi_permissions")])
        self.activity_types: dict[str, ActivityType] = {}
        self.activity_type_plugins: dict[str, str] = {}
        for plugin, activity_type in self.plugins.contributions("enishi_activity_types"):
            if activity_type.key in self.activity_types:
                raise ValueError(f"activity type {activity_type.key!r} registered twice (by {plugin})")
            self.activity_types[activity_type.key] = activity_type
            self.activity_type_plugins[activity_type.key] = plugin
        self.events = EventRegistry(
            self.plugins.contributions("enishi_event_types"), check_payloads=self.settings.validate_events
        )
        check_catalog(Base.metadata, self.plugins)
        self.engine = create_engine(self.settings.database_url, pgbouncer=self.settings.pgbouncer)
        self._reader, self._writer = sessionmakers(self.engine, self.clock)
        self.replica_engine = (
            create_engine(self.settings.read_database_url, pgbouncer=self.settings.pgbouncer)
            if self.settings.read_database_url
            else self.engine
        )
        self._replica_reader = sessionmakers(self.replica_engine, self.clock)[0]
        # None on PostgreSQL: its writers run side by side, waiting only on the rows they lock.
        self.writer_queue = WriterQueue() if is_sqlite(self.settings.database_url) else None
        self._background: set[asyncio.Task] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """Run `work` after the current request, in this process. Only for work that is resumable
        elsewhere (an import, a data-subject request): if this process dies, a worker finishes it."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", extra={"task": task.get_name(), "error": type(task.exception()).__name__})

    async def follow_test_clock(self) -> None:
        """Outside production: read the active test clock again (one small query), so that what
        follows sees the time other processes advanced it to. In production: nothing at all."""
        if isinstance(self.clock, SimulatedClock):
            async with self.read_session() as session:
                self.clock.frozen = (await session.execute(select(TestClock.frozen_time))).scalar_one_or_none()

    @asynccontextmanager
    async def unit_of_work(self, actor_id: uuid.UUID | None = None) -> AsyncIterator[UnitOfWork]:
        """Commit on success, roll back on any exception (a hook's included)."""
        async with self.writer_queue or nullcontext(), self._writer() as session, session.begin():
            uow = UnitOfWork(self, session, actor_id)
            yield uow
            await uow._write_outbox()  # the unit of work is the runtime's own: it writes the outbox at commit

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading outside any unit of work (a loader, a report, a job's scan). Never
        write through it: `unit_of_work` takes the database's write lock, runs the hooks and writes
        the outbox, and a write here would skip all three."""
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def replica_session(self) -> AsyncIterator[AsyncSession]:
        """A read session on `ENISHI_READ_DATABASE_URL` (the primary when unset), for reports that
        read much and may lag a moment behind (analytics). Never for what must see a write just
        made, the access log's reads of personal data, or erasure checks (docs/deployment.md)."""
        async with self._replica_reader() as session:
            yield session

    async def close(self) -> None:
        """Wait for the work `spawn` started, then close the database connections: the last call
        of a runtime a script or a test created (`enishi serve` and the worker call it themselves)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.engine.dispose()
        if self.replica_engine is not self.engine:
            await self.replica_engine.dispose()

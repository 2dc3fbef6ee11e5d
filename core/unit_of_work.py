"""A unit of work: one transaction and the events it raises.

Below the runtime, so that services (which take a unit of work) never import the runtime, whose
plugin host registers the core's hooks, which call the services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .contributions import Event, EventType
from .db import insert_rows
from .models import OutboxEvent
from .settings import Settings

if TYPE_CHECKING:  # annotations only: the runtime builds units of work, not the other way round
    from .runtime import Runtime


class UnitOfWork:
    """One transaction and the events it raises. Hooks receive it so their writes join in."""

    def __init__(self, runtime: Runtime, session: AsyncSession, actor_id: uuid.UUID | None) -> None:
        self.runtime = runtime
        self.session = session
        self.actor_id = actor_id
        self.events: list[Event] = []
        self._outbox: list[dict] = []
        # Rows `load_for_update` locked, kept alive until the transaction ends: the session's
        # identity map holds objects weakly, and a row read again in the same transaction (the
        # member a loyalty mutation returns) would otherwise cost another statement.
        self.locked_rows: list[object] = []

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def emit(self, event_type: EventType, entity_id: uuid.UUID | None, payload: dict | None = None) -> Event:
        """Record an event of a declared type in the outbox and run every enabled plugin's
        `enishi_on_event` now, inside this transaction. An undeclared type is refused, and so is
        a payload unlike its declaration when `Settings.validate_events` is on (as in tests)."""
        event = self._record(event_type, entity_id, self._checked(event_type, payload))
        await self.runtime.plugins.deliver_events([event], self, together=False)
        return event

    async def emit_many(self, event_type: EventType, items: Sequence[tuple[uuid.UUID | None, dict | None]]) -> list[Event]:
        """`emit` for events of one type raised together (an import chunk's notes, its new
        contacts), as (entity id, payload) pairs: recorded in order, then handed to each plugin at
        once, to its `enishi_on_events` (a plugin that implements only `enishi_on_event` hears
        them one by one), so that a plugin reacting to a chunk runs a few statements, not a few a
        row. A single item is delivered as `emit` delivers it."""
        payloads = [self._checked(event_type, payload) for _, payload in items]  # all, before any is recorded
        events = [self._record(event_type, entity_id, payload) for (entity_id, _), payload in zip(items, payloads, strict=True)]
        if events:  # one event is heard as if raised alone: `log_activity` keeps the one-event path
            await self.runtime.plugins.deliver_events(events, self, together=len(events) > 1)
        return events

    def _checked(self, event_type: EventType, payload: dict | None) -> dict:
        payload = dict(payload or {})
        self.runtime.events.check(event_type, payload)
        return payload

    def _record(self, event_type: EventType, entity_id: uuid.UUID | None, payload: dict) -> Event:
        event = Event(
            type=event_type.name,
            entity=event_type.entity,
            entity_id=entity_id,
            occurred_at=self.clock.now(),
            actor_id=self.actor_id,
            payload=payload,
        )
        self.events.append(event)
        self._outbox.append(
            {
                "id": event.id,
                "type": event.type,
                "entity": event.entity,
                "entity_id": entity_id,
                "payload": _jsonable(event.payload),
                "actor_id": self.actor_id,
                "occurred_at": event.occurred_at,
            }
        )
        return event

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the transaction that fails alone: on an exception, what it wrote (the hooks'
        writes included) and the events it raised are undone, and the exception goes on; the
        rest of the transaction stands (an import's refused row, among the rows of its batch)."""
        events, outbox = len(self.events), len(self._outbox)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self.events[events:], self._outbox[outbox:]
            raise

    async def _write_outbox(self) -> None:
        """The events raised, in order, into the outbox in one statement, just before the
        transaction commits (a job scoring 10,000 accounts raises 20,000: as ORM rows, each
        inserted and read back on its own, they cost more than the scoring)."""
        rows, self._outbox = self._outbox, []
        await insert_rows(self.session, OutboxEvent.__table__, rows)  # type: ignore[arg-type]  # SQLAlchemy types a model's __table__ as a FromClause; it is its Table


def _jsonable(payload: dict) -> dict:
    return {key: str(value) if isinstance(value, uuid.UUID) else value for key, value in payload.items()}

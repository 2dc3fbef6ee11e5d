"""Delivery of committed events to the outside world (mail, webhooks): the worker's `core.outbox`
job hands each undelivered event, oldest first, to every plugin's `enishi_deliver_event`.

A batch is claimed with a lease in one conditional UPDATE, so two workers never deliver the same
event at once; a worker that dies leaves the rest of its batch to the next one once the lease ran
out (the event it was delivering at that moment included: delivery is at least once), and a
worker asked to stop gives it back at once. A failed delivery is retried with exponential
backoff and given up after MAX_ATTEMPTS (the event stays undelivered, with its attempts, for an
operator). Payload keys beginning with `_` (one-time
codes) are for delivery only and are removed once the event is delivered."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import select, update

from .contributions import Event
from .models import OutboxEvent

log = logging.getLogger("enishi.outbox")

BATCH = 100
LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 8


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=2 ** min(attempts, 10))


async def deliver_pending(runtime) -> int:
    """Deliver what is due, batch after batch; returns how many events were delivered."""
    delivered = 0
    while True:
        batch = await _claim(runtime)
        if not batch:
            return delivered
        delivered += await _deliver(runtime, batch)
        if len(batch) < BATCH:
            return delivered


def _due(now) -> tuple:
    """Undelivered, not given up, and neither leased to a worker nor backing off."""
    return (
        OutboxEvent.delivered_at.is_(None),
        OutboxEvent.attempts < MAX_ATTEMPTS,
        OutboxEvent.lease_until.is_(None) | (OutboxEvent.lease_until < now),
    )


async def has_pending(runtime) -> bool:
    """Whether an event waits for delivery: one indexed read, cheap enough for the worker to ask every second."""
    async with runtime.read_session() as session:
        return (await session.execute(select(OutboxEvent.seq).where(*_due(runtime.clock.now())).limit(1))).first() is not None


async def _claim(runtime) -> list[OutboxEvent]:
    now = runtime.clock.now()
    due = _due(now)
    async with runtime.unit_of_work() as uow:
        # PostgreSQL: rows another worker is claiming right now are skipped, not waited for; the
        # UPDATE checks the conditions again, so a row leased meanwhile is left out either way. A
        # materialised CTE: as a plain IN-subquery, PostgreSQL may rescan it and skip its way past
        # the LIMIT (one worker took all 250 events of the test). SQLite has one writer at a time.
        candidates = (
            select(OutboxEvent.seq)
            .where(*due)
            .order_by(OutboxEvent.seq)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        claimed = (
            (
                await uow.session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.seq.in_(select(candidates.c.seq)), *due)
                    .values(lease_until=now + LEASE)
                    .returning(OutboxEvent.seq)
                    .execution_options(synchronize_session=False)
                )
            )
            .scalars()
            .all()
        )
        if not claimed:
            return []
        rows = (
            (await uow.session.execute(select(OutboxEvent).where(OutboxEvent.seq.in_(claimed)).order_by(OutboxEvent.seq)))
            .scalars()
            .all()
        )
        uow.session.expunge_all()
    return list(rows)


async def _deliver(runtime, rows: list[OutboxEvent]) -> int:
    """Each event's outcome is committed as soon as it is known, not at the end of the batch: a
    worker killed mid-batch leaves only the event it was delivering to be delivered again (with
    the same id, by which a receiver can tell), not the ones it had already sent. A worker asked
    to stop (the job cancelled, core/worker.py) gives back the rest of its batch at once."""
    delivered = 0
    for position, row in enumerate(rows):
        try:
            delivered += await _deliver_one(runtime, row)
        except asyncio.CancelledError:
            await _release(runtime, rows[position:])
            raise
    return delivered


async def _release(runtime, rows: list[OutboxEvent]) -> None:
    """End our lease on those of `rows` still undelivered: the next worker claims them now."""
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq.in_([row.seq for row in rows]), OutboxEvent.lease_until == rows[0].lease_until)
            .values(lease_until=None)
            .execution_options(synchronize_session=False)
        )


async def _deliver_one(runtime, row: OutboxEvent) -> int:
    """Hand `row`'s event to every plugin and record the outcome: 1 if delivered, 0 if not."""
    event = Event(
        type=row.type,
        entity=row.entity,
        entity_id=row.entity_id,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
        payload=dict(row.payload or {}),
        id=row.id,
    )
    try:
        await runtime.plugins.call("enishi_deliver_event", event=event, runtime=runtime)
    except Exception as exc:  # noqa: BLE001 - one event's failure must not hold back the others
        log.error("event delivery failed", extra={"event_type": row.type, "seq": row.seq, "error": type(exc).__name__})
        values = {"attempts": row.attempts + 1, "lease_until": runtime.clock.now() + _backoff(row.attempts)}
    else:
        values = {"delivered_at": runtime.clock.now(), "lease_until": None, "attempts": row.attempts + 1}
        if any(key.startswith("_") for key in row.payload or {}):
            values["payload"] = {key: value for key, value in row.payload.items() if not key.startswith("_")}
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            update(OutboxEvent).where(OutboxEvent.seq == row.seq).values(**values).execution_options(synchronize_session=False)
        )
    return int("delivered_at" in values)

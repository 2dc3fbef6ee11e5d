"""The `automation.webhooks` job of `enishi worker`: POST each due delivery, signed, and record
the attempt. Never inside a request: the outbox hands committed events to `service.fan_out`,
which queues deliveries; this job sends them.

At least once: a batch is claimed with a lease (rows another worker holds are skipped on
PostgreSQL); a worker that dies mid-send leaves its batch to the next one once the lease ran out,
and the receiver sees the same `webhook-id`; a worker asked to stop (SIGTERM) that cancels the
job mid-batch ends the batch's leases itself, so the next worker sends them at once. A failure
(no 2xx in time, a redirect, a refused address) is retried on the Standard Webhooks schedule —
5 s, 5 min, 30 min, 2 h, 5 h, 10 h after each failure, plus up to 10 % random jitter — from the
injected clock, then given up. A subscription failing for a day (or answered 410 Gone) is
disabled, with an `automation.webhook_disabled` event; its deliveries wait, and go once it is
switched back on.

A receiver answering 429 or 503 with `Retry-After` (seconds or an HTTP date) is tried again no
earlier than it asks, up to the schedule's longest step. Deliveries of one subscription about one
record (`subject`) go in the order they were queued: one waits while an earlier one is pending
(Svix's ordering; Standard Webhooks leaves it to the sender). One given up on no longer holds the
later ones back."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import random
import re
import time
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from enishi.plugin import GaugeReading, Runtime, UnitOfWork

from . import urls
from .events import WEBHOOK_DISABLED
from .models import AutomationAttempt, AutomationDelivery, AutomationWebhook
from .service import valid_secrets
from .signing import headers, message_id

SCHEDULE = tuple(
    dt.timedelta(seconds=s) for s in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
)  # after the 1st … 6th failure
JITTER = 0.1
MAX_RETRY_AFTER = SCHEDULE[-1]  # a receiver asking for longer is tried after this, and may ask again
RETRY_AFTER_STATUSES = (429, 503)
DISABLE_AFTER = dt.timedelta(days=1)
TIMEOUT_SETTING = "automation_webhook_timeout_seconds"
DEFAULT_TIMEOUT = 15.0  # the spec recommends 15 to 30 s
BATCH = 50
CONCURRENCY = 10  # requests in flight per worker
SNIPPET = 200
_EMAIL = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def timeout(runtime: Runtime) -> float:
    return float(runtime.settings.extra.get(TIMEOUT_SETTING, DEFAULT_TIMEOUT))


def redact(text: str) -> str:
    """The start of an answer for the log: e-mail addresses and phone-like digit runs masked, so a
    receiver echoing what it holds about someone does not leave it in our database."""
    return _DIGITS.sub("[number]", _EMAIL.sub("[email]", text[: SNIPPET * 2]))[:SNIPPET]


def retry_delay(failures: int) -> dt.timedelta | None:
    """How long after its `failures`-th failure in a row a delivery is tried again; None: give up."""
    if failures > len(SCHEDULE):
        return None
    return SCHEDULE[failures - 1] * (1 + random.uniform(0, JITTER))


def retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """How long a `Retry-After` header (delay-seconds or an HTTP date) asks to wait, capped at
    MAX_RETRY_AFTER; None when absent or unreadable."""
    value = (value or "").strip()
    if value.isdigit():
        return dt.timedelta(seconds=min(int(value[:12]), MAX_RETRY_AFTER.total_seconds()))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return min(max(when - now, dt.timedelta(0)), MAX_RETRY_AFTER)


@dataclass
class Claimed:
    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    msg_id: str
    body: bytes
    url: str
    secrets: list[str]
    lease_until: dt.datetime


@dataclass
class Outcome:
    claimed: Claimed
    attempted_at: dt.datetime
    status_code: int | None = None
    duration_ms: int = 0
    error: str | None = None
    snippet: str | None = None
    retry_after: dt.timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def body(delivery: AutomationDelivery) -> bytes:
    """The signed document, the same on every attempt: the event type, when it occurred, and its
    payload, with `person` for a subscription granted personal data (gone once the person is erased)."""
    personal = delivery.personal
    data = delivery.payload if personal is None else {**delivery.payload, "person": personal}
    document = {"type": delivery.event_type, "timestamp": delivery.occurred_at.isoformat(), "data": data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _due(now: dt.datetime) -> tuple:
    """Pending, its time come, not leased, its subscription enabled, and no earlier delivery of
    the same subscription and subject still pending."""
    earlier = aliased(AutomationDelivery)
    return (
        AutomationDelivery.status == "pending",
        AutomationDelivery.next_attempt_at <= now,
        or_(AutomationDelivery.lease_until.is_(None), AutomationDelivery.lease_until < now),
        AutomationDelivery.webhook_id.in_(select(AutomationWebhook.id).where(AutomationWebhook.enabled.is_(True))),
        ~exists().where(
            earlier.webhook_id == AutomationDelivery.webhook_id,
            earlier.subject == AutomationDelivery.subject,
            earlier.position < AutomationDelivery.position,
            earlier.status == "pending",
        ),
    )


async def _claim(runtime: Runtime) -> list[Claimed]:
    now = runtime.clock.now()
    lease_until = now + dt.timedelta(seconds=timeout(runtime) * 2 + 60)
    async with runtime.unit_of_work() as uow:
        rows = (
            await uow.session.scalars(
                select(AutomationDelivery)
                .where(*_due(now))
                .order_by(AutomationDelivery.next_attempt_at, AutomationDelivery.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return []
        await uow.session.execute(
            update(AutomationDelivery)
            .where(AutomationDelivery.id.in_([row.id for row in rows]))
            .values(lease_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        webhooks = {
            webhook.id: webhook
            for webhook in await uow.session.scalars(
                select(AutomationWebhook).where(AutomationWebhook.id.in_({row.webhook_id for row in rows}))
            )
        }
        return [
            Claimed(
                delivery_id=row.id,
                webhook_id=row.webhook_id,
                msg_id=message_id(row.event_id),
                body=body(row),
                url=webhooks[row.webhook_id].url,
                secrets=valid_secrets(webhooks[row.webhook_id], now),
                lease_until=lease_until,
            )
            for row in rows
        ]


async def _release(runtime: Runtime, batch: list[Claimed]) -> None:
    """End our lease on those of `batch` not recorded yet: the next worker sends them now (one sent
    before the stop may reach its receiver twice, with the same `webhook-id`, as after a crash)."""
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            update(AutomationDelivery)
            .where(
                AutomationDelivery.id.in_([claimed.delivery_id for claimed in batch]),
                AutomationDelivery.lease_until == batch[0].lease_until,
            )
            .values(lease_until=None)
            .execution_options(synchronize_session=False)
        )


async def _send(runtime: Runtime, client: httpx.AsyncClient, claimed: Claimed) -> Outcome:
    now = runtime.clock.now()
    outcome = Outcome(claimed, now)
    started = time.perf_counter()
    try:
        target = await urls.check(claimed.url, runtime.settings)
        signed = headers(claimed.secrets, claimed.msg_id, int(now.timestamp()), claimed.body)
        # The whole exchange within the timeout (httpx's applies to each read), and only the
        # start of the answer read: a receiver cannot hold a worker or fill its memory.
        async with asyncio.timeout(timeout(runtime)):
            async with client.stream(
                "POST",
                target.request_url(),
                content=claimed.body,
                headers={**target.request_headers(), **signed},
                extensions=target.extensions(),
            ) as response:
                outcome.status_code = response.status_code
                if response.status_code in RETRY_AFTER_STATUSES:
                    outcome.retry_after = retry_after(response.headers.get("retry-after"), now)
                start = b""
                async for chunk in response.aiter_bytes():
                    start += chunk
                    if len(start) >= SNIPPET * 4:
                        break
        outcome.snippet = redact(start.decode("utf-8", "replace")) or None
    except urls.UnsafeUrl:
        outcome.error = "unsafe_url"
    except (TimeoutError, httpx.TimeoutException):
        outcome.status_code, outcome.error = None, "timeout"  # an answer cut short is no answer
    except httpx.HTTPError:
        outcome.status_code, outcome.error = None, "connection"
    outcome.duration_ms = round((time.perf_counter() - started) * 1000)
    return outcome


async def _disable(uow: UnitOfWork, webhook: AutomationWebhook, reason: str) -> None:
    webhook.enabled = False
    webhook.disabled_reason = reason
    failing_since = webhook.failing_since or uow.clock.now()
    await uow.emit(WEBHOOK_DISABLED, webhook.id, {"reason": reason, "failing_since": failing_since.isoformat()})


async def _record(runtime: Runtime, outcomes: list[Outcome]) -> None:
    async with runtime.unit_of_work() as uow:
        now = uow.clock.now()
        ids = {outcome.claimed.webhook_id for outcome in outcomes}
        webhooks = {
            webhook.id: webhook
            for webhook in await uow.session.scalars(
                select(AutomationWebhook).where(AutomationWebhook.id.in_(ids)).order_by(AutomationWebhook.id).with_for_update()
            )
        }
        deliveries = {
            delivery.id: delivery
            for delivery in await uow.session.scalars(
                select(AutomationDelivery).where(AutomationDelivery.id.in_([o.claimed.delivery_id for o in outcomes]))
            )
        }
        for outcome in outcomes:
            delivery = deliveries.get(outcome.claimed.delivery_id)
            webhook = webhooks.get(outcome.claimed.webhook_id)
            if delivery is None or webhook is None:
                continue  # deleted with its subscription while it was being sent
            uow.session.add(
                AutomationAttempt(
                    delivery_id=delivery.id,
                    attempted_at=outcome.attempted_at,
                    status_code=outcome.status_code,
                    duration_ms=outcome.duration_ms,
                    error=outcome.error,
                    response_snippet=outcome.snippet,
                )
            )
            delivery.attempts += 1
            delivery.lease_until = None
            delivery.last_status_code = outcome.status_code
            if outcome.succeeded:
                delivery.status, delivery.delivered_at = "succeeded", now
                webhook.failing_since = None
                continue
            delivery.failures += 1
            delay = retry_delay(delivery.failures)
            if delay is None:
                delivery.status = "failed"
            else:
                delivery.next_attempt_at = now + max(delay, outcome.retry_after or delay)
            if not webhook.enabled:
                continue
            webhook.failing_since = webhook.failing_since or outcome.attempted_at
            if outcome.status_code == 410:
                await _disable(uow, webhook, "gone")
            elif now - webhook.failing_since >= DISABLE_AFTER:
                await _disable(uow, webhook, "failing")


async def deliver_due(runtime: Runtime) -> int:
    """Send every delivery that is due, batch after batch; returns how many attempts were made."""
    attempted = 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(client, claimed):
        async with gate:
            return await _send(runtime, client, claimed)

    async with httpx.AsyncClient(follow_redirects=False, timeout=timeout(runtime), trust_env=False) as client:
        while True:
            batch = await _claim(runtime)
            if not batch:
                return attempted
            try:
                await _record(runtime, list(await asyncio.gather(*(send(client, claimed) for claimed in batch))))
            except asyncio.CancelledError:  # the worker is stopping (core/worker.py): not a crash
                await _release(runtime, batch)
                raise
            attempted += len(batch)
            if len(batch) < BATCH:
                return attempted


async def readings(session) -> list[GaugeReading]:
    """GET /metrics: deliveries waiting for their first attempt, retrying after failures, and
    given up (failed for good: counted since the subscription's first delivery)."""
    state = case(
        (AutomationDelivery.status == "failed", "failed"), (AutomationDelivery.failures > 0, "retrying"), else_="waiting"
    )
    counts = dict.fromkeys(("waiting", "retrying", "failed"), 0)
    rows = await session.execute(
        select(state, func.count()).where(AutomationDelivery.status.in_(("pending", "failed"))).group_by(state)
    )
    counts.update(dict(rows.all()))
    return [
        GaugeReading(
            "enishi_automation_webhook_deliveries",
            "Webhook deliveries not succeeded: waiting (no attempt yet), retrying (failed, to be tried again), failed (given up)",
            count,
            {"state": name},
        )
        for name, count in counts.items()
    ]

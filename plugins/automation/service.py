"""Webhook subscriptions: their rules (URL safety, event type patterns, payload filters), the
secret and its rotation, the personal data a subscription may be granted, and what puts a
delivery in the queue — the outbox's fan-out, a test event, a replay. Sending is the worker's
(delivery.py), never a request's."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import (
    Checker,
    Contact,
    ContactEmail,
    ContactPhone,
    Event,
    InputError,
    Runtime,
    UnitOfWork,
    UserError,
    load_for_update,
    new_id,
)

from . import urls
from .events import TEST_EVENT_TYPE
from .models import AutomationDelivery, AutomationWebhook
from .signing import new_secret

MANAGE = "automation.webhook.manage"
GRANT_PERSONAL_DATA = "crm.export"  # personal data leaving the system: whoever may export it
PERSONAL_DATA_ITEMS = ["name", "kana", "email", "phone"]
EVENT_PATTERN = re.compile(r"\*|[a-z0-9_]+(\.[a-z0-9_*]+)*")
FILTER_KEY = re.compile(r"[a-z_][a-z0-9_]{0,59}")
MAX_EVENT_TYPES = 50
MAX_FILTER_KEYS = 20
MAX_FILTER_VALUES = 50
DEFAULT_GRACE = dt.timedelta(hours=24)
MAX_GRACE = dt.timedelta(days=7)
SCALARS = (str, int, bool, type(None))


def declared_event_types(runtime: Runtime) -> list:
    """Every declared event type (`EventType`), the core's and every installed plugin's."""
    return [event_type for _, event_type in runtime.plugins.contributions("enishi_event_types")]


def event_data(event: Event) -> dict:
    """The body's `data`: the event's declared payload, without the delivery-only `_` fields
    (one-time codes are for mail, never for a third party)."""
    return {key: value for key, value in (event.payload or {}).items() if not key.startswith("_")}


def matches(webhook: AutomationWebhook, event_type: str, data: dict) -> bool:
    if not any(fnmatch.fnmatchcase(event_type, pattern) for pattern in webhook.event_types):
        return False
    for key, wanted in (webhook.filter or {}).items():
        value = data.get(key)
        if not (value in wanted if isinstance(wanted, list) else value == wanted):
            return False
    return True


def _event_types(check: Checker, runtime: Runtime, patterns) -> list[str] | None:
    if patterns is None:
        return None
    patterns = sorted({str(p).strip() for p in patterns})
    if not patterns or len(patterns) > MAX_EVENT_TYPES:
        check.fail("event_types", f"name 1 to {MAX_EVENT_TYPES} event types", "INVALID_EVENT_TYPES")
        return None
    names = [event_type.name for event_type in declared_event_types(runtime)]
    for pattern in patterns:
        if not EVENT_PATTERN.fullmatch(pattern) or not fnmatch.filter(names, pattern):
            check.fail("event_types", f"{pattern[:100]!r} names no declared event type", "UNKNOWN_EVENT_TYPE")
    return patterns


def _filter(check: Checker, value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_FILTER_KEYS:
        check.fail("filter", f"an object of at most {MAX_FILTER_KEYS} payload fields", "INVALID_FILTER")
        return None
    for key, wanted in value.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if (
            not FILTER_KEY.fullmatch(key)
            or len(options) > MAX_FILTER_VALUES
            or not all(isinstance(o, SCALARS) and (not isinstance(o, str) or len(o) <= 200) for o in options)
        ):
            check.fail("filter", "each field takes a text, number, boolean or null, or a list of them", "INVALID_FILTER")
            return None
    return value


def _personal_data_grant(check: Checker, data: dict, may_grant: bool) -> tuple[str | None, str | None]:
    """The purpose (and the recipient, as the privacy plugin's register names it) for which a
    subscription receives personal data; empty revokes it. Granting it is an export of people's
    data, so it takes `crm.export` beside managing webhooks."""
    purpose = check.text(data, "personal_data_purpose", max_length=200)
    recipient = check.text(data, "personal_data_recipient", max_length=200)
    if not purpose:
        return None, None
    if not may_grant:
        check.fail("personal_data_purpose", f"granting personal data needs the permission {GRANT_PERSONAL_DATA}", "FORBIDDEN")
    if not recipient:
        check.fail("personal_data_recipient", "name the recipient the data is provided to", "REQUIRED")
    return purpose, recipient


async def _url(check: Checker, settings, url: str | None) -> str | None:
    if url is None:
        return None
    try:
        await urls.check(url.strip(), settings)
    except urls.UnsafeUrl as refused:
        check.fail("url", str(refused), "UNSAFE_URL")
        return None
    return url.strip()


async def create_webhook(
    uow: UnitOfWork, runtime: Runtime, data: dict, *, may_grant: bool = False
) -> tuple[AutomationWebhook, str]:
    """A new subscription, enabled, and its secret: shown to the caller this once. `may_grant`:
    the caller may grant it personal data (holds `crm.export`)."""
    check = Checker()
    if not data.get("url"):
        check.fail("url", "is required", "REQUIRED")
    if not data.get("event_types"):
        check.fail("event_types", "is required", "REQUIRED")
    url = await _url(check, uow.settings, data.get("url"))
    event_types = _event_types(check, runtime, data.get("event_types"))
    filter_ = _filter(check, data.get("filter"))
    description = check.text(data, "description", max_length=500)
    purpose, recipient = _personal_data_grant(check, data, may_grant)
    check.done()
    now = uow.clock.now()
    secret = new_secret()
    webhook = AutomationWebhook(
        url=url,
        event_types=event_types,
        filter=filter_ or {},
        description=description,
        enabled=data.get("enabled", True) is not False,
        personal_data_purpose=purpose,
        personal_data_recipient=recipient,
        created_by_id=uow.actor_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(webhook)
    webhook.secret = secret
    await uow.session.flush()
    return webhook, secret


async def update_webhook(
    uow: UnitOfWork, runtime: Runtime, webhook_id: uuid.UUID, data: dict, *, may_grant: bool = False
) -> AutomationWebhook:
    webhook = await load_for_update(uow, AutomationWebhook, webhook_id)
    check = Checker()
    url = await _url(check, uow.settings, data.get("url"))
    event_types = _event_types(check, runtime, data.get("event_types"))
    filter_ = _filter(check, data.get("filter"))
    description = check.text(data, "description", max_length=500)
    purpose, recipient = _personal_data_grant(check, data, may_grant)
    check.done()
    if "personal_data_purpose" in data:
        webhook.personal_data_purpose, webhook.personal_data_recipient = purpose, recipient
    webhook.url = url or webhook.url
    webhook.event_types = event_types or webhook.event_types
    if "filter" in data:
        webhook.filter = filter_ or {}
    if "description" in data:
        webhook.description = description
    if data.get("enabled") is not None:
        webhook.enabled = data["enabled"]
        if webhook.enabled:  # switched back on: a fresh start, whatever disabled it
            webhook.disabled_reason = None
            webhook.failing_since = None
    webhook.updated_at = uow.clock.now()
    await uow.session.flush()
    return webhook


async def delete_webhook(uow: UnitOfWork, webhook_id: uuid.UUID) -> uuid.UUID:
    """Remove a subscription with its deliveries and their log."""
    await uow.session.delete(await load_for_update(uow, AutomationWebhook, webhook_id))
    return webhook_id


async def rotate_secret(uow: UnitOfWork, webhook_id: uuid.UUID, grace: dt.timedelta | None) -> tuple[AutomationWebhook, str]:
    """A new secret; the current one keeps signing (beside it) for `grace` (default a day), so the
    receiver can switch without refusing a delivery. A rotation within the grace period ends the
    older secret's at once: two secrets at most are ever valid."""
    grace = DEFAULT_GRACE if grace is None else grace
    if not dt.timedelta(0) <= grace <= MAX_GRACE:
        raise InputError(UserError("grace_hours", f"between 0 and {MAX_GRACE.days * 24} hours", "OUT_OF_RANGE"))
    webhook = await load_for_update(uow, AutomationWebhook, webhook_id)
    secret = new_secret()
    webhook.previous_secret = webhook.secret if grace else None
    webhook.previous_secret_expires_at = uow.clock.now() + grace if grace else None
    webhook.secret = secret
    webhook.updated_at = uow.clock.now()
    await uow.session.flush()
    return webhook, secret


def valid_secrets(webhook: AutomationWebhook, now: dt.datetime) -> list[str]:
    """What signs a delivery now: the secret, and the previous one within its grace period."""
    valid = [webhook.secret]
    if webhook.previous_secret_expires_at is not None and now < webhook.previous_secret_expires_at and webhook.previous_secret:
        valid.append(webhook.previous_secret)
    return valid


def subject_of(event: Event) -> str | None:
    """The record an event is about, whose deliveries keep their order: `<entity>:<id>`."""
    return f"{event.entity}:{event.entity_id}" if event.entity_id is not None else None


def person_of(event: Event) -> uuid.UUID | None:
    """The person an event concerns, whose data a granted subscription receives: the contact
    itself (`contact.*`), or the payload's `contact_id` (a purchase)."""
    if event.entity == "contact":
        return event.entity_id
    contact_id = (event.payload or {}).get("contact_id")
    try:
        return uuid.UUID(contact_id) if isinstance(contact_id, str) else None
    except ValueError:
        return None


def new_delivery(uow: UnitOfWork, webhook_id: uuid.UUID, event_id: uuid.UUID, event_type: str, occurred_at, data: dict):
    """A pending delivery of one message to one subscription (events, test events and workflow
    webhook steps all queue theirs here)."""
    now = uow.clock.now()
    delivery = AutomationDelivery(
        webhook_id=webhook_id,
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        payload=data,
        status="pending",
        attempts=0,
        failures=0,
        next_attempt_at=now,
        created_at=now,
    )
    uow.session.add(delivery)
    return delivery


async def _personal(uow: UnitOfWork, contact: Contact) -> dict:
    """What a granted subscription receives about the person (PERSONAL_DATA_ITEMS)."""
    emails = await uow.session.scalars(
        select(ContactEmail).where(ContactEmail.contact_id == contact.id).order_by(ContactEmail.position)
    )
    phones = await uow.session.scalars(
        select(ContactPhone).where(ContactPhone.contact_id == contact.id).order_by(ContactPhone.position)
    )
    return {
        "family_name": contact.family_name,
        "given_name": contact.given_name,
        "family_name_kana": contact.family_name_kana,
        "given_name_kana": contact.given_name_kana,
        "emails": [email.address for email in emails],
        "phones": [phone.e164 for phone in phones],
    }


async def _queue(uow: UnitOfWork, webhook: AutomationWebhook, event: Event, data: dict, *, provide: bool) -> bool:
    """Queue the event for the subscription after that subject's earlier deliveries, unless it
    already is. `provide`: with the person's data, recorded as a provision (which may refuse)."""
    if await uow.session.scalar(
        select(AutomationDelivery.id).where(AutomationDelivery.webhook_id == webhook.id, AutomationDelivery.event_id == event.id)
    ):
        return False
    delivery = new_delivery(uow, webhook.id, event.id, event.type, event.occurred_at, data)
    delivery.subject = subject_of(event)
    if delivery.subject is not None:
        last = await uow.session.scalar(
            select(func.max(AutomationDelivery.position)).where(
                AutomationDelivery.webhook_id == webhook.id, AutomationDelivery.subject == delivery.subject
            )
        )
        delivery.position = (last or 0) + 1
    person = person_of(event) if provide else None
    contact = await uow.session.get(Contact, person) if person is not None else None
    if contact is not None and contact.deleted_at is None and contact.data_key() is not None:
        await uow.runtime.plugins.call(
            "enishi_record_provision",
            uow=uow,
            contact_ids=[contact.id],
            recipient=webhook.personal_data_recipient,
            purpose=webhook.personal_data_purpose,
            data_items=PERSONAL_DATA_ITEMS,
        )
        delivery.contact_id = contact.id
        delivery.share_key_of(contact)
        delivery.personal = await _personal(uow, contact)
    return True


async def fan_out(runtime: Runtime, event: Event, session: AsyncSession) -> int:
    """Queue the event for every subscription it matches — a disabled one too, which sends it
    once switched back on — once each however often the outbox hands it over (at least once: a
    retried outbox batch calls again). A subscription granted personal data gets the person's,
    in a unit of work of its own: the privacy plugin refusing the provision rolls back only that
    one, which is then queued without it. `session`: the hand-over's read session (hooks.py).
    Returns how many deliveries were queued now."""
    data = event_data(event)
    webhooks = (await session.scalars(select(AutomationWebhook).order_by(AutomationWebhook.id))).all()
    wanted = [webhook for webhook in webhooks if matches(webhook, event.type, data)]
    granted = [webhook for webhook in wanted if webhook.personal_data_purpose and person_of(event) is not None]
    queued = 0
    async with runtime.unit_of_work() as uow:
        for webhook in wanted:
            if webhook not in granted:
                queued += await _queue(uow, webhook, event, data, provide=False)
    for webhook in granted:
        try:
            async with runtime.unit_of_work() as uow:
                queued += await _queue(uow, webhook, event, data, provide=True)
        except InputError:
            async with runtime.unit_of_work() as uow:
                queued += await _queue(uow, webhook, event, data, provide=False)
    return queued


async def send_test_event(uow: UnitOfWork, webhook_id: uuid.UUID) -> AutomationDelivery:
    """Queue an `automation.test` delivery for the subscription, whatever its event types."""
    webhook = await load_for_update(uow, AutomationWebhook, webhook_id)
    delivery = new_delivery(uow, webhook.id, new_id(), TEST_EVENT_TYPE, uow.clock.now(), {"webhook_id": str(webhook.id)})
    await uow.session.flush()
    return delivery


def _replayed(now):
    return {"status": "pending", "failures": 0, "next_attempt_at": now, "lease_until": None}


async def replay_delivery(uow: UnitOfWork, delivery_id: uuid.UUID) -> AutomationDelivery:
    """Send one delivery again, with the same webhook-id, and a fresh retry schedule."""
    delivery = await load_for_update(uow, AutomationDelivery, delivery_id)
    for key, value in _replayed(uow.clock.now()).items():
        setattr(delivery, key, value)
    await uow.session.flush()
    return delivery


async def replay_range(
    uow: UnitOfWork, webhook_id: uuid.UUID, since: dt.datetime, until: dt.datetime, *, only_failed: bool
) -> int:
    """Send again every delivery of the subscription queued in [since, until) — by default only
    those that failed for good (Svix's "recover"). Returns how many."""
    if until <= since:
        raise InputError(UserError("until", "must be after `since`", "INVALID_RANGE"))
    await load_for_update(uow, AutomationWebhook, webhook_id)
    statuses = ("failed",) if only_failed else ("failed", "succeeded")
    replayed = await uow.session.execute(
        update(AutomationDelivery)
        .where(
            AutomationDelivery.webhook_id == webhook_id,
            AutomationDelivery.created_at >= since,
            AutomationDelivery.created_at < until,
            AutomationDelivery.status.in_(statuses),
        )
        .values(**_replayed(uow.clock.now()))
        .execution_options(synchronize_session=False)
    )
    return int(replayed.rowcount)  # type: ignore[attr-defined]

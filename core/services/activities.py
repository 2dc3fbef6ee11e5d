"""The timeline: activities ordered by when they happened, targeting contacts and accounts."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from ..db import insert_rows, new_id
from ..errors import InputError, UserError
from ..events import ACTIVITY_DELETED, ACTIVITY_LOGGED, ACTIVITY_UPDATED
from ..models import Account, Activity, ActivityKey, ActivityTarget, Contact
from ..unit_of_work import UnitOfWork
from .common import Checker, changed_fields, check_user, live_ids, record_kind

DIRECTIONS = ("inbound", "outbound", "internal")
MAX_TARGETS = 100
MAX_BODY = 100_000


async def log_activity(uow: UnitOfWork, data: dict, *, source_plugin: str = "core") -> Activity:
    """Write a timeline entry: `data` holds `type` (a registered ActivityType key), `summary`, optionally
    `body`, `channel`, `direction` (inbound/outbound/internal), `duration_seconds`, `occurred_at`
    (default: now), `actor_id` (default: the unit of work's actor), and `contact_ids` / `account_ids`
    (at least one target). Bad input raises InputError; emits `activity.logged`."""
    (activity,) = await log_activities(uow, [data], source_plugin=source_plugin)
    return activity


async def log_activities(uow: UnitOfWork, items: list[dict], *, source_plugin: str = "core") -> list[Activity]:
    """`log_activity` for many entries at once (an import's notes): every entry is checked before
    any is written (the first bad one raises its InputError), their targets are checked live in
    one statement per kind, and they are written with one flush; their `activity.logged` are raised
    together (`uow.emit_many`)."""
    if not items:  # nothing to check or write
        return []
    contact_ids = [list(dict.fromkeys(data.get("contact_ids") or [])) for data in items]
    account_ids = [list(dict.fromkeys(data.get("account_ids") or [])) for data in items]
    live = {
        model: await live_ids(uow, model, list({target for ids in lists for target in ids}))
        for model, lists in ((Contact, contact_ids), (Account, account_ids))
    }
    checked = [
        await _checked_activity(uow, data, contacts, accounts, live, source_plugin)
        for data, contacts, accounts in zip(items, contact_ids, account_ids, strict=True)
    ]
    activities = [activity for activity, _ in checked]
    uow.session.add_all(activities)
    await uow.session.flush()
    connection = await uow.session.connection()
    # The keys and the targets as plain rows, one executemany each (keys as rows,
    # `Sealable.new_key_row`): nothing reads them back as objects in this transaction, and as
    # objects (built, tracked, flushed) an import's three a note cost more than the floor's rows.
    await insert_rows(connection, ActivityKey, [key_row for _, key_row in checked])
    targets = [
        {"id": new_id(), "activity_id": activity.id, "contact_id": contact_id, "account_id": account_id}
        for activity, contacts, accounts in zip(activities, contact_ids, account_ids, strict=True)
        for contact_id, account_id in [(c, None) for c in contacts] + [(None, a) for a in accounts]
    ]
    await insert_rows(connection, ActivityTarget, targets)
    await uow.emit_many(
        ACTIVITY_LOGGED,
        [
            (
                activity.id,
                {"type": activity.type, "contact_ids": [str(c) for c in contacts], "account_ids": [str(a) for a in accounts]},
            )
            for activity, contacts, accounts in zip(activities, contact_ids, account_ids, strict=True)
        ],
    )
    return activities


async def _checked_activity(
    uow: UnitOfWork, data: dict, contact_ids: list, account_ids: list, live: dict, source_plugin: str
) -> tuple[Activity, dict]:
    """The activity for `data` (checked: an InputError if it is bad), unflushed, and its key's row."""
    check = Checker()
    activity_type = data.get("type")
    if activity_type not in uow.runtime.activity_types:
        check.fail("type", "is not a registered activity type", "UNKNOWN_ACTIVITY_TYPE")
    summary = check.text(data, "summary", max_length=500, required=True)
    body = check.text(data, "body", max_length=MAX_BODY)
    channel = check.text(data, "channel", max_length=40)
    direction = check.choice(data, "direction", DIRECTIONS) or "internal"
    duration = check.non_negative(data, "duration_seconds")
    await check_user(uow, check, data, "actor_id")
    if not contact_ids and not account_ids:
        check.fail("contactIds", "an activity needs at least one contact or account", "REQUIRED")
    if len(contact_ids) + len(account_ids) > MAX_TARGETS:
        check.fail("contactIds", f"at most {MAX_TARGETS} targets", "TOO_MANY")
    for field, model, ids in (("contactIds", Contact, contact_ids), ("accountIds", Account, account_ids)):
        for i, target in enumerate(ids):
            if target not in live[model]:
                check.fail(f"{field}.{i}", f"no such {record_kind(model)}", "NOT_FOUND")
    check.done()
    now = uow.clock.now()
    activity = Activity(
        id=new_id(),
        type=activity_type,
        channel=channel,
        direction=direction,
        occurred_at=data.get("occurred_at") or now,
        actor_id=data.get("actor_id", uow.actor_id),
        duration_seconds=duration,
        source_plugin=source_plugin,
        created_at=now,
    )
    _, key_row = activity.new_key_row(now)  # before the text is sealed under it
    activity.summary, activity.body = summary, body
    return activity, key_row


async def update_activity(uow: UnitOfWork, activity_id: uuid.UUID, data: dict) -> Activity:
    """Correct what was logged: the text, when it happened, channel, direction, duration.
    The type and the targets stay: a different interaction is a different activity."""
    activity = (
        await uow.session.execute(select(Activity).where(Activity.id == activity_id).with_for_update())
    ).scalar_one_or_none()
    if activity is None:
        raise InputError(UserError("id", "no such activity", "NOT_FOUND"))
    check = Checker()
    values: dict = {}
    if ("summary" in data or "body" in data) and activity.data_key() is None:
        raise InputError(UserError("id", "this activity's text was erased with the people it concerned", "ERASED"))
    if "summary" in data:
        values["summary"] = check.text(data, "summary", max_length=500, required=True)
    if "body" in data:
        values["body"] = check.text(data, "body", max_length=MAX_BODY)
    if "channel" in data:
        values["channel"] = check.text(data, "channel", max_length=40)
    if "direction" in data:
        values["direction"] = check.choice(data, "direction", DIRECTIONS) or "internal"
    if "duration_seconds" in data:
        values["duration_seconds"] = check.non_negative(data, "duration_seconds")
    if data.get("occurred_at") is not None:
        values["occurred_at"] = data["occurred_at"]
    check.done()
    changed = changed_fields(activity, values)
    if changed:
        await uow.session.flush()
        await uow.emit(ACTIVITY_UPDATED, activity.id, {"type": activity.type, "fields": changed})
    return activity


async def delete_activity(uow: UnitOfWork, activity_id: uuid.UUID) -> uuid.UUID:
    activity = (
        await uow.session.execute(select(Activity).where(Activity.id == activity_id).with_for_update())
    ).scalar_one_or_none()
    if activity is None:
        raise InputError(UserError("id", "no such activity", "NOT_FOUND"))
    await uow.emit(ACTIVITY_DELETED, activity.id, {"type": activity.type})
    await uow.session.execute(delete(Activity).where(Activity.id == activity.id))
    return activity.id

"""The steps that change something: each is `prepare` (what it would do, read from the record —
all a dry run shows) and `apply` (do it, inside the transaction that moves the run on: applied
once). Waits, branches and stops are the engine's own (workflow_engine.py).

A step raises `InputError` (or any error) to fail: its writes roll back and it is retried."""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete

from enishi.plugin import (
    Account,
    Contact,
    InputError,
    Runtime,
    UnitOfWork,
    UserError,
    WorkflowStep,
    WorkflowStepType,
    create_task,
    load_for_update,
    log_activity,
    update_account,
    update_contact,
)

from . import workflow_email
from .models import AutomationWebhook
from .service import new_delivery
from .workflow_definition import plugin_step_types
from .workflow_models import AutomationRecordTag, insert_new
from .workflow_records import Record, jsonable, resolve

WEBHOOK_EVENT_TYPE = "automation.workflow"  # the `type` of a delivery a `send_webhook` step queues
ORIGIN = uuid.UUID("6f1d0b53-8c1e-4f43-9a50-2c0e8f5b7a11")  # namespace of a step's webhook event id


@dataclass(frozen=True)
class StepContext:
    """What a step sees: the run's transaction and record, and the run."""

    uow: UnitOfWork
    record: Record
    run_id: uuid.UUID
    workflow_id: uuid.UUID
    step: dict


@dataclass(frozen=True)
class StepType:
    prepare: Callable[[dict, Record], Awaitable[dict]]
    apply: Callable[[StepContext, dict], Awaitable[dict]]
    # What a dry run shows beyond `prepare` (whether the step would be skipped, and why); reads only.
    preview: Callable[[UnitOfWork, dict], Awaitable[dict]] | None = None


def _uuid(value: Any, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InputError(UserError(field, "is no id", "INVALID_ID")) from None


def _duration(parts: dict | None) -> dt.timedelta | None:
    return None if parts is None else dt.timedelta(**parts)


async def _prepare_task(step: dict, record: Record) -> dict:
    due_in = _duration(step.get("due_in"))
    return {
        "title": step["title"],
        "assignee_id": await resolve(step.get("assignee"), record),
        "account_id": await resolve(step.get("account"), record),
        "contact_id": await resolve(step.get("contact"), record),
        "due_in_seconds": int(due_in.total_seconds()) if due_in else None,
    }


async def _apply_task(ctx: StepContext, given: dict) -> dict:
    due = given["due_in_seconds"]
    task = await create_task(
        ctx.uow,
        {
            "title": given["title"],
            "assignee_id": _uuid(given["assignee_id"], "assignee_id"),
            "account_id": _uuid(given["account_id"], "account_id"),
            "contact_id": _uuid(given["contact_id"], "contact_id"),
            **({"due_at": ctx.uow.clock.now() + dt.timedelta(seconds=due)} if due is not None else {}),
        },
    )
    return {"task_id": str(task.id)}


async def _own_or_named(record: Record, model: Any) -> Any:
    """The record's account or contact: itself when it is one, else the one its `account_id` /
    `contact_id` names."""
    if record.table is not None and record.table.name == model.__tablename__:
        return str(record.record_id) if record.record_id else None
    return await resolve({"field": f"{model.__tablename__.removeprefix('core_')}_id"}, record)


async def _account_of(record: Record) -> Any:
    return await _own_or_named(record, Account)


async def _prepare_update(step: dict, record: Record) -> dict:
    if step.get("entity") == "contact":
        # A contact's fields are personal data, sealed at rest; the run's history is not: it keeps
        # which field of whom, and `apply` reads the value from the definition again.
        return {"contact_id": await _own_or_named(record, Contact), "field": step["field"]}
    return {"account_id": await _account_of(record), "field": step["field"], "value": await resolve(step["value"], record)}


def _text(value: Any) -> Any:
    """A value read from a record (a number, a flag) for a text field."""
    return value if value is None or isinstance(value, str) else str(value)


async def _apply_update(ctx: StepContext, given: dict) -> dict:
    """Set one field through the service the GraphQL update mutation uses: its checks, the typed
    custom-field definitions, the privacy plugin's guard on sensitive fields, its event."""
    contact = "contact_id" in given
    model, update = (Contact, update_contact) if contact else (Account, update_account)
    id_field = "contact_id" if contact else "account_id"
    record_id = _uuid(given[id_field], id_field)
    if record_id is None:
        raise InputError(UserError(id_field, f"the record has no {id_field.removesuffix('_id')}", "NOT_FOUND"))
    row: Any = await load_for_update(ctx.uow, model, record_id, field=id_field)
    field = given["field"]
    value = await resolve(ctx.step["value"], ctx.record) if contact else given["value"]
    if field.startswith("custom_fields."):
        key, current = field.removeprefix("custom_fields."), row.custom_fields or {}
        before = current.get(key)
        await update(ctx.uow, record_id, {"custom_fields": {**current, key: value}})
        after = (row.custom_fields or {}).get(key)
    else:
        before = jsonable(getattr(row, field))
        await update(ctx.uow, record_id, {field: _uuid(value, "value") if field == "owner_id" else _text(value)})
        after = jsonable(getattr(row, field))
    if contact:
        return {"contact_id": str(record_id), "field": field, "changed": before != after}
    return {"account_id": str(record_id), "before": before, "changed": before != after}


async def _prepare_tag(step: dict, record: Record) -> dict:
    return {"entity": record.entity, "record_id": str(record.record_id) if record.record_id else None, "tag": step["tag"]}


def _tagged(given: dict) -> uuid.UUID:
    """The record a tag step is about; an input error when the trigger names none."""
    if given["record_id"] is None:
        raise InputError(UserError("record_id", "the trigger names no record", "NOT_FOUND"))
    return uuid.UUID(given["record_id"])


async def _apply_add_tag(ctx: StepContext, given: dict) -> dict:
    tag = {"entity": given["entity"], "record_id": _tagged(given), "tag": given["tag"]}
    return {"added": await insert_new(ctx.uow.session, AutomationRecordTag, **tag, created_at=ctx.uow.clock.now())}


async def _apply_remove_tag(ctx: StepContext, given: dict) -> dict:
    removed = await ctx.uow.session.execute(
        delete(AutomationRecordTag).where(
            AutomationRecordTag.entity == given["entity"],
            AutomationRecordTag.record_id == _tagged(given),
            AutomationRecordTag.tag == given["tag"],
        )
    )
    return {"removed": bool(removed.rowcount)}  # type: ignore[attr-defined]


async def _prepare_activity(step: dict, record: Record) -> dict:
    account = await resolve(step["account"], record) if "account" in step else await _account_of(record)
    return {
        "type": step["activity_type"],
        "summary": step["summary"],
        "account_id": account,
        "contact_id": await resolve(step.get("contact"), record),
    }


async def _apply_activity(ctx: StepContext, given: dict) -> dict:
    account, contact = _uuid(given["account_id"], "account_id"), _uuid(given["contact_id"], "contact_id")
    activity = await log_activity(
        ctx.uow,
        {
            "type": given["type"],
            "summary": given["summary"],
            "account_ids": [account] if account else [],
            "contact_ids": [contact] if contact else [],
        },
        source_plugin="automation",
    )
    return {"activity_id": str(activity.id)}


async def _prepare_webhook(step: dict, record: Record) -> dict:
    record_id = str(record.record_id) if record.record_id else None
    return {"webhook_id": step["webhook_id"], "data": {**step.get("data", {}), "entity": record.entity, "record_id": record_id}}


async def _apply_webhook(ctx: StepContext, given: dict) -> dict:
    """Queue a delivery on the subscription, sent (signed, retried) like any other; its webhook-id
    comes from the run and step, the same however often the step were tried."""
    webhook = await ctx.uow.session.get(AutomationWebhook, uuid.UUID(given["webhook_id"]))
    if webhook is None:
        raise InputError(UserError("webhook_id", "no such webhook", "NOT_FOUND"))
    data = {**given["data"], "workflow_id": str(ctx.workflow_id), "run_id": str(ctx.run_id), "step_id": ctx.step["id"]}
    event_id = uuid.uuid5(ORIGIN, f"{ctx.run_id}:{ctx.step['id']}")
    delivery = new_delivery(ctx.uow, webhook.id, event_id, WEBHOOK_EVENT_TYPE, ctx.uow.clock.now(), data)
    await ctx.uow.session.flush()
    return {"delivery_id": str(delivery.id)}


async def _prepare_email(step: dict, record: Record) -> dict:
    return await workflow_email.prepare(step, record, await _account_of(record))


def _contributed(step_type: WorkflowStepType) -> StepType:
    """A plugin's step type: given what the definition says, run by the plugin's own function."""

    async def prepare(step: dict, record: Record) -> dict:
        return {name: value for name, value in step.items() if name not in ("id", "type")}

    async def apply(ctx: StepContext, given: dict) -> dict:
        step = WorkflowStep(given, ctx.record.entity, ctx.record.record_id, key=f"workflow:{ctx.run_id}:{ctx.step['id']}")
        result = step_type.run(ctx.uow, step)
        return dict((await result if inspect.isawaitable(result) else result) or {})

    return StepType(prepare, apply)


def step_types(runtime: Runtime) -> dict[str, StepType]:
    """Every step type that changes something: the built-in ones and the plugins'."""
    return {**BUILT_IN, **{t.name: _contributed(t) for t in plugin_step_types(runtime)}}


BUILT_IN: dict[str, StepType] = {
    "create_task": StepType(_prepare_task, _apply_task),
    "update_field": StepType(_prepare_update, _apply_update),
    "add_tag": StepType(_prepare_tag, _apply_add_tag),
    "remove_tag": StepType(_prepare_tag, _apply_remove_tag),
    "create_activity": StepType(_prepare_activity, _apply_activity),
    "send_webhook": StepType(_prepare_webhook, _apply_webhook),
    "send_email": StepType(_prepare_email, workflow_email.apply, workflow_email.preview),
}

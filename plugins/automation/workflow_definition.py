"""A workflow's definition: the JSON document an admin writes, its published JSON Schema
(docs/workflow-definition.schema.json, the `workflowDefinitionSchema` query), and the checks the
schema cannot express (step ids unique, the event type declared, the webhook existing).

    {"trigger": {"type": "event", "event": "quote.status_changed",
                 "conditions": [{"source": "payload", "field": "to", "op": "eq", "value": "sent"}]},
     "steps": [{"id": "wait", "type": "wait", "duration": {"days": 3}},
               {"id": "follow_up", "type": "create_task", "title": "見積のフォロー",
                "assignee": {"field": "deal.owner_id"}, "account": {"field": "account_id"}}]}

A `field` names a column of the trigger's record (`status`, `custom_fields.segment`), or one
reached through its foreign keys (`deal.owner_id` follows `deal_id`); sealed columns are never read."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import Any
from weakref import WeakKeyDictionary

from croniter import croniter
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import (
    InputError,
    Runtime,
    UnitOfWork,
    UserError,
    WorkflowStepType,
    camel,
    check_custom_field,
    custom_field_type,
)

from .email_templates import RECIPIENTS, template_errors
from .models import AutomationWebhook
from .workflow_models import AutomationWorkflowVersion
from .workflow_records import date_field, record_table

SCHEMA_ID = "https://enishi.dev/schemas/workflow-definition.schema.json"
STEP_ID = r"^[a-z][a-z0-9_]{0,39}$"
FIELD_PATH = r"^[a-z][a-z0-9_]{0,59}(\.[a-z][a-z0-9_]{0,59}){0,3}$"
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "not_exists", "contains")
TRIGGERS = ("event", "date", "schedule", "segment")
SEGMENT_ENTERED = "insights.segment_entered"  # the insights plugin's event a segment trigger follows (by name: no import)
# Fields `update_field` sets besides custom fields, per record kind: a contact's names, e-mails,
# phones and address are who the person is, not for a rule to rewrite.
UPDATABLE = {"account": ("industry", "owner_id"), "contact": ("owner_id", "job_title", "department")}
CUSTOM_KEY = r"[^\s.:]{1,60}"  # any key a custom-field definition allows
CUSTOM_FIELD = rf"custom_fields\.{CUSTOM_KEY}"
CUSTOM_FIELD_ENTITIES = ("contact", "account")  # the entities with typed custom-field definitions
BUILT_IN_STEPS = (
    "create_task",
    "update_field",
    "add_tag",
    "remove_tag",
    "create_activity",
    "wait",
    "if",
    "stop",
    "send_webhook",
    "send_email",
)
MAX_STEPS = 100

_SCALAR = {"type": ["string", "number", "boolean", "null"], "maxLength": 500}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 500}
_DURATION = {
    "type": "object",
    "description": "A length of time; at least one part, the total at most a year.",
    "properties": {part: {"type": "integer", "minimum": 0, "maximum": 366 * 24 * 60} for part in ("days", "hours", "minutes")},
    "additionalProperties": False,
    "minProperties": 1,
}
_REFERENCE = {
    "description": 'A value read from the trigger\'s record (`{"field": "deal.owner_id"}`) or given as is (`{"value": …}`).',
    "oneOf": [
        {
            "type": "object",
            "properties": {"field": {"$ref": "#/$defs/field"}},
            "required": ["field"],
            "additionalProperties": False,
        },
        {"type": "object", "properties": {"value": _SCALAR}, "required": ["value"], "additionalProperties": False},
    ],
}


def _step(kind: str, properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {
        "type": "object",
        "properties": {"id": {"$ref": "#/$defs/step_id"}, "type": {"const": kind}, **properties},
        "required": ["id", "type", *required],
        "additionalProperties": False,
    }


_BUILT_IN: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Enishi workflow definition",
    "description": "A trigger, conditions on it, and the steps a run takes (automation plugin).",
    "type": "object",
    "properties": {
        "trigger": {
            "type": "object",
            "description": (
                "An event of a declared type, a day relative to a date field of records, a schedule, "
                "or a customer entering a saved segment."
            ),
            "properties": {"type": {"enum": list(TRIGGERS)}},
            "required": ["type"],
            "allOf": [
                {"if": {"properties": {"type": {"const": kind}}}, "then": {"$ref": f"#/$defs/{kind}_trigger"}}
                for kind in TRIGGERS
            ],
        },
        "steps": {"$ref": "#/$defs/steps", "minItems": 1},
    },
    "required": ["trigger", "steps"],
    "additionalProperties": False,
    "$defs": {
        "step_id": {"type": "string", "pattern": STEP_ID, "description": "Unique in the definition; names the step in runs."},
        "field": {"type": "string", "pattern": FIELD_PATH},
        "reference": _REFERENCE,
        "event_trigger": {
            "type": "object",
            "properties": {
                "type": {"const": "event"},
                "event": {"type": "string", "pattern": r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", "description": "A declared event type."},
                "conditions": {"$ref": "#/$defs/conditions"},
            },
            "required": ["type", "event"],
            "additionalProperties": False,
        },
        "schedule_trigger": {
            "type": "object",
            "description": "Starts a run at each time a cron expression names, in the configured time zone (Asia/Tokyo).",
            "properties": {
                "type": {"const": "schedule"},
                "cron": {"type": "string", "maxLength": 100, "description": "Five fields: `0 9 * * 1` is Mondays at 9:00."},
            },
            "required": ["type", "cron"],
            "additionalProperties": False,
        },
        "segment_trigger": {
            "type": "object",
            "description": (
                "Starts a run each time a customer enters the saved segment (insights plugin), about that contact "
                "or account: a customer who left and comes back enters again."
            ),
            "properties": {
                "type": {"const": "segment"},
                "segment_id": {"type": "string", "format": "uuid", "description": "A saved segment (its uuid)."},
                "conditions": {"$ref": "#/$defs/conditions"},
            },
            "required": ["type", "segment_id"],
            "additionalProperties": False,
        },
        "date_trigger": {
            "type": "object",
            "description": (
                "Starts a run for each record whose `field` (a date) is `days_before` days after today (Tokyo); "
                "`yearly`: whose date's month-day is (a birthday: 29 February on 28 February in other years)."
            ),
            "properties": {
                "type": {"const": "date"},
                "entity": {
                    "type": "string",
                    "pattern": r"^[a-z][a-z0-9_]{0,99}$",
                    "description": "A table: `sales_contract`, `contact`, `account`.",
                },
                "field": {
                    "type": "string",
                    "pattern": rf"^[a-z][a-z0-9_]{{0,59}}(\.{CUSTOM_KEY})?$",
                    "description": (
                        "A date or datetime column (`end_date`, `created_at`: its date in Tokyo), or a date key of a JSON "
                        "column (`custom_fields.birth_date`; a contact's or an account's defined with type `date`)."
                    ),
                },
                "days_before": {"type": "integer", "minimum": -366, "maximum": 366, "description": "Negative: days after."},
                "yearly": {
                    "type": "boolean",
                    "description": "Every year on the date's month-day, once per record and year (a contact's custom field: "
                    "required, only its month-day is indexed).",
                },
                "conditions": {"$ref": "#/$defs/conditions"},
            },
            "required": ["type", "entity", "field", "days_before"],
            "additionalProperties": False,
        },
        "condition": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "source": {"enum": ["payload", "record"], "description": "The event's payload, or the record now."},
                        "field": {"$ref": "#/$defs/field"},
                        "op": {"enum": list(OPERATORS)},
                        "value": {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR, "maxItems": 50}]},
                    },
                    "required": ["source", "field", "op"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "description": "True when any of its conditions is.",
                    "properties": {"any": {"$ref": "#/$defs/conditions", "minItems": 1}},
                    "required": ["any"],
                    "additionalProperties": False,
                },
            ]
        },
        "conditions": {"type": "array", "items": {"$ref": "#/$defs/condition"}, "maxItems": 20},
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "maxItems": MAX_STEPS},
        "step": {"type": "object", "required": ["id", "type"]},  # completed by `schema_with`
        "create_task": _step(
            "create_task",
            {
                "title": _TEXT,
                "assignee": {"$ref": "#/$defs/reference", "description": "A user id; the task is unassigned without one."},
                "account": {"$ref": "#/$defs/reference"},
                "contact": {"$ref": "#/$defs/reference"},
                "due_in": _DURATION,
            },
            ("title",),
        ),
        "update_field": {
            **_step(
                "update_field",
                {
                    "entity": {
                        "enum": list(UPDATABLE),
                        "description": (
                            "Whose field: the account the record is or belongs to (its `account_id`; the default), "
                            "or the contact it is or names (`contact_id`)."
                        ),
                    },
                    "field": {"type": "string", "description": "A core field the entity allows, or `custom_fields.<key>`."},
                    "value": {"$ref": "#/$defs/reference"},
                },
                ("field", "value"),
            ),
            "if": {"properties": {"entity": {"const": "contact"}}, "required": ["entity"]},
            "then": {"properties": {"field": {"pattern": f"^({'|'.join(UPDATABLE['contact'])}|{CUSTOM_FIELD})$"}}},
            "else": {"properties": {"field": {"pattern": f"^({'|'.join(UPDATABLE['account'])}|{CUSTOM_FIELD})$"}}},
        },
        "add_tag": _step("add_tag", {"tag": {"type": "string", "pattern": r"^[a-z0-9_\-]{1,40}$"}}, ("tag",)),
        "remove_tag": _step("remove_tag", {"tag": {"type": "string", "pattern": r"^[a-z0-9_\-]{1,40}$"}}, ("tag",)),
        "create_activity": _step(
            "create_activity",
            {
                "activity_type": {"type": "string", "maxLength": 60},
                "summary": _TEXT,
                "account": {"$ref": "#/$defs/reference"},
                "contact": {"$ref": "#/$defs/reference"},
            },
            ("activity_type", "summary"),
        ),
        "wait": {
            **_step(
                "wait",
                {
                    "duration": _DURATION,
                    "until": {"type": "string", "format": "date-time", "description": "An instant with its offset."},
                },
            ),
            "oneOf": [{"required": ["duration"]}, {"required": ["until"]}],
        },
        "if": _step(
            "if",
            {"conditions": {"$ref": "#/$defs/conditions"}, "then": {"$ref": "#/$defs/steps"}, "else": {"$ref": "#/$defs/steps"}},
            ("conditions",),
        ),
        "stop": _step("stop", {}),
        "send_webhook": _step(
            "send_webhook",
            {
                "webhook_id": {"type": "string", "format": "uuid", "description": "A subscription (its uuid)."},
                "data": {"type": "object", "additionalProperties": _SCALAR, "maxProperties": 20},
            },
            ("webhook_id",),
        ),
        "send_email": _step(
            "send_email",
            {
                "to": {
                    "enum": list(RECIPIENTS),
                    "description": "`contact`: the trigger's contact (the record, or its `contact_id`); "
                    "`account_contacts`: every contact of the trigger's account. Each is mailed at its primary address.",
                },
                "purpose": {
                    "type": "string",
                    "pattern": r"^[a-z][a-z0-9_]{0,59}$",
                    "description": "What the mail is for (`marketing`): the consent it needs (privacy plugin) and the "
                    "frequency cap it counts against.",
                },
                "subject": {**_TEXT, "description": "A Jinja2 template (plain text): `{{ record.name }}`."},
                "body": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 20000,
                    "description": "A Jinja2 template, plain text. Variables: `contact`, `record`, `account`, `event`, "
                    "`unsubscribe_url` (withdraws the recipient's consent to `purpose`; empty without the privacy plugin).",
                },
                "html": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 100000,
                    "description": "An HTML alternative, a Jinja2 template whose values are escaped.",
                },
            },
            ("to", "purpose", "subject", "body"),
        ),
    },
}
_VALIDATORS: WeakKeyDictionary[Runtime, Draft202012Validator] = WeakKeyDictionary()


def schema_with(step_types: list[WorkflowStepType]) -> dict[str, Any]:
    """The definition schema: the built-in steps and the step types plugins contribute."""
    schema = copy.deepcopy(_BUILT_IN)
    kinds = [*BUILT_IN_STEPS]
    for contributed in sorted(step_types, key=lambda t: t.name):
        own = _step(contributed.name, dict(contributed.parameters), contributed.required)
        schema["$defs"][contributed.name] = {**own, "description": contributed.description}
        kinds.append(contributed.name)
    schema["$defs"]["step"]["properties"] = {"type": {"enum": kinds}}
    schema["$defs"]["step"]["allOf"] = [
        {"if": {"properties": {"type": {"const": kind}}}, "then": {"$ref": f"#/$defs/{kind}"}} for kind in kinds
    ]
    return schema


def plugin_step_types(runtime: Runtime) -> list[WorkflowStepType]:
    return [step_type for _, step_type in runtime.plugins.contributions("enishi_workflow_step_types")]


def validator(runtime: Runtime) -> Draft202012Validator:
    """The runtime's definition validator (its `.schema` is the published schema), built once."""
    if runtime not in _VALIDATORS:
        schema = schema_with(plugin_step_types(runtime))
        Draft202012Validator.check_schema(schema)
        _VALIDATORS[runtime] = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return _VALIDATORS[runtime]


def field_name(path) -> str:
    """A JSON path as a userError's field: `definition.steps.1.duration.days`."""
    return ".".join(["definition", *(str(part) for part in path)])


def _declared_keys(schema: Any, keys: set[str], maps: set[str]) -> None:
    """Collect the keys the schema declares, and those of them whose value is a map of keys a
    user chooses (`send_webhook`'s `data`)."""
    if isinstance(schema, dict):
        for key, value in (schema.get("properties") or {}).items():
            keys.add(key)
            if isinstance(value, dict) and isinstance(value.get("additionalProperties"), dict):
                maps.add(key)
        for value in schema.values():
            _declared_keys(value, keys, maps)
    elif isinstance(schema, list):
        for value in schema:
            _declared_keys(value, keys, maps)


def spelled(runtime: Runtime, error: UserError) -> UserError:
    """The error at its path as the API shows it: the schema's keys camelCased
    (`definition.trigger.daysBefore`), keys a user chose (`data.my_key`) and indexes as written."""
    keys: set[str] = set()
    maps: set[str] = set()
    _declared_keys(validator(runtime).schema, keys, maps)
    parts, previous = [], ""
    for part in (error.field or "").split("."):
        parts.append(camel(part) if part in keys and previous not in maps else part)
        previous = part
    return UserError(".".join(parts), error.message, error.code, spelled=True)


def located(steps: list[dict], path: tuple = ("steps",)):
    """Every step with its JSON path (`("steps", 1, "then", 0)`), branches included, in document order."""
    for index, step in enumerate(steps):
        yield (*path, index), step
        if step["type"] == "if":
            yield from located(step.get("then", []), (*path, index, "then"))
            yield from located(step.get("else", []), (*path, index, "else"))


def walk(steps: list[dict]):
    """Every step, branches included, in document order."""
    for _, step in located(steps):
        yield step


def successors(steps: list[dict], after: str | None = None) -> dict[str, str | None]:
    """Each step's id → the id of the step that follows it once it is done (None: the run ends).
    The last step of a branch is followed by what follows its `if`."""
    following: dict[str, str | None] = {}
    for index, step in enumerate(steps):
        next_id = steps[index + 1]["id"] if index + 1 < len(steps) else after
        following[step["id"]] = next_id
        if step["type"] == "if":
            following.update(successors(step.get("then", []), next_id))
            following.update(successors(step.get("else", []), next_id))
    return following


def _instant(text: str) -> dt.datetime | None:
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


def until(step: dict) -> dt.datetime:
    """A checked `wait` step's instant, in UTC."""
    instant = _instant(step["until"])
    if instant is None:  # checked when the definition was saved; read back from the database
        raise ValueError(f"wait step {step['id']}: `until` is no instant with a time zone offset")
    return instant.astimezone(dt.UTC)


def steps_by_id(definition: dict) -> dict[str, dict]:
    return {step["id"]: step for step in walk(definition["steps"])}


_DEFINITIONS: dict[uuid.UUID, dict] = {}  # a version never changes once saved: read once per process


async def version_definition(session: AsyncSession, version_id: uuid.UUID) -> dict:
    """The definition of a saved version, read once per process (the engine's steps and the
    outbox's `send_email` deliveries ask for it per run). Only for a version known to exist —
    a run's: a run is deleted with its version."""
    if version_id not in _DEFINITIONS:
        definition = await session.scalar(
            select(AutomationWorkflowVersion.definition).where(AutomationWorkflowVersion.id == version_id)
        )
        assert definition is not None  # a run's version_id is a foreign key (ON DELETE CASCADE)
        _DEFINITIONS[version_id] = definition
    return _DEFINITIONS[version_id]


def trigger_key(trigger: dict) -> str:
    """What a version is found by: its event type, `date:<table>.<field>`, `schedule:<cron>` or
    `segment:<segment id>` (none is an event's name)."""
    if trigger["type"] == "schedule":
        return f"schedule:{trigger['cron']}"
    if trigger["type"] == "segment":
        return f"segment:{trigger['segment_id']}"
    return trigger["event"] if trigger["type"] == "event" else f"date:{trigger['entity']}.{trigger['field']}"


def _trigger_errors(runtime: Runtime, trigger: dict) -> list[UserError]:
    if trigger["type"] == "schedule":
        if len(trigger["cron"].split()) != 5 or not croniter.is_valid(trigger["cron"]):
            return [UserError("definition.trigger.cron", "is no five-field cron expression", "INVALID_CRON")]
        return []
    if trigger["type"] == "event":
        declared = {event_type.name for _, event_type in runtime.plugins.contributions("enishi_event_types")}
        if trigger["event"] not in declared:
            return [UserError("definition.trigger.event", "names no declared event type", "UNKNOWN_EVENT_TYPE")]
    return []


async def _date_trigger_errors(uow: UnitOfWork, trigger: dict) -> list[UserError]:
    if record_table(trigger["entity"]) is None:
        return [UserError("definition.trigger.entity", "names no table", "UNKNOWN_ENTITY")]
    where = date_field(trigger)
    if where is None:
        return [UserError("definition.trigger.field", "names no date of the table", "NOT_A_DATE_FIELD")]
    entity = where.table.name.removeprefix("core_")
    typed = where.key is not None and entity in CUSTOM_FIELD_ENTITIES
    if typed and await custom_field_type(uow.session, entity, where.key or "") != "date":
        return [UserError("definition.trigger.field", "names no custom field defined with type date", "NOT_A_DATE_FIELD")]
    yearly = trigger.get("yearly", False)
    if where.kind == "sealed" and not yearly:
        # Sealed with the person's other custom fields: only the month-day is indexed, not the year.
        return [UserError("definition.trigger.yearly", "a contact's custom date triggers yearly only", "YEARLY_REQUIRED")]
    if where.kind == "datetime" and yearly:
        # Its month-day in Tokyo is no portable SQL expression: it would read every record each scan.
        return [UserError("definition.trigger.yearly", "a datetime column triggers once, not yearly", "YEARLY_NOT_SUPPORTED")]
    return []


async def segment_kind(session: AsyncSession, runtime: Runtime, segment_id: str) -> str | None:
    """A saved segment's kind (`contact` or `account`), asked of the plugin keeping segments
    (`enishi_segment_members`: insights); None when there is no such segment."""
    answers = await runtime.plugins.call("enishi_segment_members", session=session, segment_id=uuid.UUID(segment_id))
    return answers[0][1][0] if answers else None


def segments_kept(runtime: Runtime) -> bool:
    """Whether a plugin keeps saved segments (the insights plugin is installed)."""
    return bool(runtime.plugins.implementations("enishi_segment_members"))


async def _segment_errors(uow: UnitOfWork, runtime: Runtime, trigger: dict) -> list[UserError]:
    if not segments_kept(runtime):
        return [
            UserError(
                "definition.trigger.segment_id",
                "saved segments need the insights plugin, which is not installed",
                "SEGMENTS_UNAVAILABLE",
            )
        ]
    if await segment_kind(uow.session, runtime, trigger["segment_id"]) is None:
        return [UserError("definition.trigger.segment_id", "no such saved segment", "NOT_FOUND")]
    return []


async def _step_errors(uow: UnitOfWork, runtime: Runtime, step: dict, at: str) -> list[UserError]:
    """What the schema cannot tell of one step, each error at the step's JSON path `at`."""
    if step["type"] == "create_activity" and step["activity_type"] not in runtime.activity_types:
        return [UserError(f"{at}.activity_type", f"{step['activity_type']!r} is no activity type", "UNKNOWN_ACTIVITY_TYPE")]
    if step["type"] == "wait" and "until" in step and _instant(step["until"]) is None:
        return [UserError(f"{at}.until", "is no ISO 8601 instant with offset", "INVALID_DATE")]
    if step["type"] == "send_email":
        return template_errors(step, at)
    if step["type"] == "send_webhook":
        found = await uow.session.scalar(
            select(AutomationWebhook.id).where(AutomationWebhook.id == uuid.UUID(step["webhook_id"]))
        )
        return [] if found is not None else [UserError(f"{at}.webhook_id", "no such webhook", "NOT_FOUND")]
    if step["type"] == "update_field" and step["field"].startswith("custom_fields.") and "value" in step["value"]:
        # A value given as is must suit the custom field's definition now (a value read from the
        # record is checked when the step runs, as any write is).
        key = step["field"].removeprefix("custom_fields.")
        try:
            await check_custom_field(uow.session, step.get("entity", "account"), key, step["value"]["value"])
        except InputError as refused:
            return [UserError(f"{at}.value", error.message, error.code) for error in refused.errors]
    return []


async def check(uow: UnitOfWork, runtime: Runtime, definition: Any) -> dict:
    """The definition, or InputError listing every problem at its JSON path, the schema's keys
    camelCased as every userError's field (`definition.trigger.daysBefore`; `spelled`)."""
    errors = [
        UserError(field_name(error.absolute_path), error.message[:300], "INVALID_DEFINITION")
        for error in sorted(validator(runtime).iter_errors(definition), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if errors:
        raise InputError([spelled(runtime, error) for error in errors[:20]])
    trigger = definition["trigger"]
    if trigger["type"] == "segment":
        errors += await _segment_errors(uow, runtime, trigger)
    elif trigger["type"] == "date":
        errors += await _date_trigger_errors(uow, trigger)
    else:
        errors += _trigger_errors(runtime, trigger)
    seen: set[str] = set()
    for path, step in located(definition["steps"]):
        at = field_name(path)
        if step["id"] in seen:
            errors.append(UserError(f"{at}.id", f"step id {step['id']!r} is used twice", "DUPLICATE_STEP_ID"))
        seen.add(step["id"])
        errors += await _step_errors(uow, runtime, step, at)
    if errors:
        raise InputError([spelled(runtime, error) for error in errors])
    return definition

"""The value types plugins hand to the core through contribution hooks."""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# When most events fire; an `EventType` whose timing differs says so in its own `fires`.
AFTER_WRITE = (
    "inside the transaction, after the row is written (a listener that raises rolls the change back); "
    "delivered from the outbox after commit"
)


@dataclass(frozen=True)
class ActivityType:
    """A kind of timeline entry. `key` is stored on each activity (`meeting`, `support.reply`)."""

    key: str
    label: str
    label_ja: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Permission:
    """A named right and the roles that hold it by default (`admin` holds every permission).

    `scope` is the token scope that grants it (`<area>:<level>`, such as `tickets:read`): a token
    created with scopes keeps only the permissions of its role that its scopes grant, and
    `<area>:write` grants what `<area>:read` grants too. Left out, it is `<first part of the
    name>:read` for a name ending in `.read`, and `<first part>:write` for any other."""

    name: str
    description: str
    roles: tuple[str, ...]
    scope: str | None = None


@dataclass(frozen=True)
class ScheduledJob:
    """A job the worker runs every `interval`. `run(runtime)` may be sync or async and must be
    idempotent: two workers may run it at once, and a crashed run is simply run again. A worker
    asked to stop cancels an async run still going after ENISHI_SHUTDOWN_TIMEOUT: a run holding
    leases of its own on rows (a batch it claimed) ends them on `asyncio.CancelledError` before
    letting it go on, so that the next worker takes those rows at once (as `automation.webhooks`
    does); the worker ends the run's own lease itself."""

    name: str
    interval: dt.timedelta
    run: Callable[..., Any]
    description: str = ""


METRIC_NAME = re.compile(r"enishi_[a-z][a-z0-9_]*")
LABEL_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class GaugeReading:
    """One value of a gauge on GET /metrics, read from the database at each scrape
    (`enishi_metrics`). `name` begins with `enishi_` (`enishi_<plugin>_…` for a plugin's);
    readings of one name share `help` and label names. Label values come from small fixed sets
    (a status, a job's name), never from people or their data."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not METRIC_NAME.fullmatch(self.name):
            raise ValueError(f"metric name {self.name!r} must match {METRIC_NAME.pattern}")
        if not all(LABEL_NAME.fullmatch(label) for label in self.labels):
            raise ValueError(f"label names of {self.name} must match {LABEL_NAME.pattern}")


@dataclass(frozen=True)
class WorkflowStep:
    """What a plugin's workflow step is given when a run takes it: `params` (what the definition
    says beside `id` and `type`, checked against the step type's `parameters`), the run's trigger
    record (`entity`, as the triggering event names it, and `record_id`), and `key`, the same on
    every attempt of this step of this run: pass it to your own idempotency where you keep one."""

    params: Mapping[str, Any]
    entity: str
    record_id: uuid.UUID | None
    key: str


@dataclass(frozen=True)
class WorkflowStepType:
    """A step type a plugin adds to workflows (`enishi_workflow_step_types`; the automation plugin
    runs them). `name` is `<plugin>.<verb>` (`sales.move_deal_stage`), a definition's step `type`.
    `parameters` maps each parameter to its JSON Schema (`{"stage": {"type": "string"}}`) and
    `required` names those a step must give: the published definition schema includes them.

    `run(uow, step)` (may be async) applies it, given a `WorkflowStep`, inside the transaction
    that moves the run on (its row locked), so it is applied once however many workers run —
    write only through `uow`, never call out; it returns a JSON-ready dict (the step's output, shown in the run's history: ids and
    codes, no personal data). Raise `InputError` to fail this attempt: its writes roll back and
    the step is retried with backoff."""

    name: str
    description: str
    run: Callable[..., Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class CliCommand:
    """`enishi <name>`: `configure(parser)` adds arguments; `run(runtime, args)` may be async."""

    name: str
    help: str
    configure: Callable[[Any], None]
    run: Callable[..., Any]


@dataclass(frozen=True)
class ImportColumn:
    """A column of the contact import and export (`enishi import`, `importContacts`) that a plugin
    contributes, so that its data travels in the same spreadsheet as the contact's.

    `key` (`loyalty.points`) is the mapping target (`--map "列=loyalty.points"`) and the column's
    name in reports; `headers` are the header spellings recognised (any case or width; the first
    is what an export writes). `check(uow, text)` reads a non-empty cell and returns the value to
    apply, raising `InputError` (its `UserError.code` is reported for the row) for a bad one; it
    runs before the row writes anything and must write nothing itself. `apply(uow, contact_id,
    value)` then writes it for the contact the row was matched to or created; it must be
    idempotent (importing the same file twice changes nothing the second time), and returns
    whether it changed anything. Without `check` and `apply` the column is export-only: the import
    recognises its header and leaves its values alone (a derived figure such as a tier).
    `export(session, contact_ids)` gives the cell text per contact id for an export (a dict;
    missing ids are empty cells); without it the column is not exported. Each may be sync or async."""

    key: str
    headers: tuple[str, ...]
    check: Callable[..., Any] | None = None
    apply: Callable[..., Any] | None = None
    export: Callable[..., Any] | None = None
    description: str = ""

    @property
    def importable(self) -> bool:
        return self.check is not None and self.apply is not None


@dataclass(frozen=True)
class PersonalDataField:
    """One column that holds personal data, for the catalog and records of processing.

    `category` follows fideslang data categories (`user.contact.email`, `user.name`);
    `erasure` is what erasure does to it: `delete`, `anonymise`, `shred` (the row stays, as in a
    log, and the key its field is sealed under is destroyed) or `retain`."""

    entity: str
    field: str
    category: str
    purposes: tuple[str, ...] = ("crm",)
    provenance: str = "provided"  # provided | observed | inferred
    sensitive: bool = False
    erasure: str = "delete"
    portable: bool = True


RETENTION_ACTIONS = ("anonymise", "delete")


@dataclass(frozen=True)
class RetainableEntity:
    """A kind of record a retention rule may cover (`enishi_retainable_entities`): the privacy
    plugin's sweep anonymises or deletes it once its period has run.

    `name` is what rules name (`"support_ticket"`), `table` the table its ids are of (legal holds
    and the API's ids are by table), `since` what the period counts from, in words ("closed").
    `due(session, cutoff, action, record_ids=None)` (async, reads only) returns `(record id,
    contact id or None)` for each record whose period began at or before `cutoff` (a UTC instant)
    and that `action` was not applied to yet, oldest first; given `record_ids`, only those, locked
    for update (the sweep locks them, then asks again, so a worker that waited for the lock sees
    what the one holding it did, and no record is handled twice).
    `apply(uow, action, record_ids)` (async) anonymises or deletes them and returns how many.
    A `person` entity is a contact: its `anonymise` is the erasure of the person across every
    plugin (crypto-shredding), run by the privacy plugin, so it has no `apply`."""

    name: str
    table: str
    since: str
    actions: tuple[str, ...]
    due: Callable[..., Any]
    apply: Callable[..., Any] | None = None
    person: bool = False
    description: str = ""


@dataclass(frozen=True)
class ExtractSource:
    """A kind of record a plugin offers for pseudonymised extracts (仮名加工情報,
    `enishi_extract_sources`): the privacy plugin's `createPrivacyExtract(source: name)`.

    `rows(session, zone)` (async; reads only) returns one dict per record, keyed by
    `columns`, with every identifier already left out — no names, contact details, addresses,
    free text or custom fields; dates as business days in `zone` — and, in the `pseudonymise`
    columns, record ids (the record's own, its person's, …), which the extract replaces by keyed
    HMACs under its own key. Nothing else may single a person out."""

    name: str
    columns: tuple[str, ...]
    pseudonymise: tuple[str, ...]
    rows: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class SensitiveCapableField:
    """A field of your records that may hold sensitive personal data (APPI 要配慮個人情報: medical
    history, creed, criminal record, …; GDPR Art. 9), which compliance may therefore mark sensitive
    (`enishi_sensitive_capable_fields`; the privacy plugin's `markFieldSensitive(entity, field)`).

    `entity` is what marks name (`"contact"`, `"support_ticket"`); `field` the field as the API
    names it, or `"custom_fields.*"` for the keys of a custom-field document, marked one at a time
    (`custom_fields.<key>`). `table` and `column` say where it is kept, which must be a sealed
    column (`sealed_…`, encrypted under a record's or person's key): a field kept in clear cannot
    be marked, so a marked field is always sealed. Once one is marked, the declaring plugin puts
    each write setting it to the guard with the people the record is about
    (`guard_sensitive_custom_fields`: refused without their consent or a legal ground, nothing
    written), keeps it for viewers who cannot see it (`keep_sensitive_custom_fields`), shows it
    only to `crm.read_sensitive` (`visible_custom_fields`), and leaves it out of whatever selects
    or scores people or hands data out (segments, marketing, exports, webhooks).
    `holders(uow, field, marked)` (async) runs when `field` was just marked (`marked` True) or
    unmarked: it re-indexes what it must (without recording reads) and returns the ids of the
    contacts holding a value in it, counted in the change log and, on unmarking, each given an
    access-log entry."""

    entity: str
    field: str
    table: str
    column: str
    holders: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class PayloadField:
    """One field of an event's payload. Payloads reach the outbox and later webhooks, so a field
    holds ids (as strings), counts, keys or field names, never personal data. A field whose name
    begins with `_` (a one-time code) is for delivery only: the outbox forgets it once delivered.

    `type` is a class (`str`, `int`, `bool`, `dict`), `list[<class>]`, or a union of these
    (`str | None`).

    `names_contact`: the field holds a contact's id, or a list of them (`contact_id`,
    `contact_ids`). Declare it on every such field: whatever keeps payloads (a workflow run keeps
    its trigger's) finds by it what a data subject's erasure must clear, without searching the
    stored JSON. The event's own `entity_id` needs no marking: its `entity` says what it is."""

    name: str
    type: Any
    description: str = ""
    required: bool = True
    names_contact: bool = False

    def conforms(self, value: Any) -> bool:
        return _conforms(value, self.type)

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


def _conforms(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, option) for option in typing.get_args(expected))
    if origin is list:
        (item,) = typing.get_args(expected)
        return isinstance(value, list) and all(_conforms(v, item) for v in value)
    if expected is None or expected is type(None):
        return value is None
    if expected is int:  # a bool is an int to isinstance, never to a payload's reader
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or expected)


def _type_name(expected: Any) -> str:
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(option) for option in typing.get_args(expected))
    if typing.get_origin(expected) is list:
        return f"list[{_type_name(typing.get_args(expected)[0])}]"
    return "None" if expected in (None, type(None)) else expected.__name__


@dataclass(frozen=True)
class EventType:
    """A kind of domain event, declared once: the core's in `enishi.core.events`, a plugin's
    through `enishi_event_types`. Emit it with `await uow.emit(EVENT_TYPE, entity_id, payload)`;
    listeners compare with `event.is_(EVENT_TYPE)`.

    `name` is `<entity>.<action>` (`contact.created`) or `<plugin>.<action>`
    (`loyalty.points_spent`); `entity` is the kind of record `entity_id` names; `fires` says when
    it is emitted relative to the write."""

    name: str
    entity: str
    description: str
    payload: tuple[PayloadField, ...] = ()
    fires: str = AFTER_WRITE

    def payload_errors(self, payload: Mapping[str, Any]) -> list[str]:
        """What is wrong with `payload` for this type: missing, unknown or mistyped fields."""
        declared = {f.name: f for f in self.payload}
        errors = [f"unknown field {name!r}" for name in payload if name not in declared]
        for name, spec in declared.items():
            if name not in payload:
                if spec.required:
                    errors.append(f"missing field {name!r}")
            elif not spec.conforms(payload[name]):
                errors.append(f"field {name!r} is {type(payload[name]).__name__}, not {spec.type_name}")
        return errors


@dataclass(frozen=True)
class Event:
    """A domain event: `type` and `entity` are those of its declared `EventType` (`contact.created`,
    `loyalty.points_spent`). The payload holds the declared fields, never personal data."""

    type: str
    entity: str
    entity_id: uuid.UUID | None
    occurred_at: dt.datetime
    actor_id: uuid.UUID | None = None
    payload: dict = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid.uuid4)  # the outbox row's id: stable across deliveries

    def is_(self, event_type: EventType) -> bool:
        """Whether this event is of the declared type (`if event.is_(CONTACT_CREATED): …`)."""
        return self.type == event_type.name


@dataclass(frozen=True)
class DataSubject:
    """The person a data-subject request is about, identified by their contact id.

    `held` names the records under a legal hold as (entity, id) pairs, the entity being the
    record's table as `enishi_holdable_types` names it, for example `("core_activity", id)`: an
    erasure keeps them and reports them with `ErasureReport.retain`."""

    contact_id: uuid.UUID
    held: Mapping[tuple[str, uuid.UUID], dict] = field(default_factory=dict)

    def hold_on(self, entity: str, record_id: uuid.UUID) -> dict | None:
        """The hold keeping this record (basis, reference, until), or None."""
        return self.held.get((entity, record_id))


@dataclass(frozen=True)
class WonDeal:
    """A won deal as a plugin keeping deals reports it to revenue reports (`enishi_won_deals`):
    the account, the amount in minor units of `currency`, and the day it closed."""

    account_id: uuid.UUID
    amount: int
    currency: str
    closed_on: dt.date


@dataclass(frozen=True)
class CustomerSignal:
    """One fact about a customer that a plugin reports to health scores (`enishi_customer_signals`).
    `customer_id` is the contact's or account's id, as asked. `name` says what `value` and `at`
    mean; documented names:

    * `support.tickets`: tickets opened since the asked instant (`value`);
    * `support.sla_breaches`: SLA timers breached since the asked instant (`value`);
    * `survey.nps`: the latest NPS answer, `value` 0-10, answered at `at`;
    * `loyalty.last_activity`: the latest points movement (earned, spent, expired) at `at`."""

    customer_id: uuid.UUID
    name: str
    value: int = 0
    at: dt.datetime | None = None


@dataclass(frozen=True)
class SegmentTerm:
    """A term a plugin adds to saved segments' filters (`enishi_segment_terms`): `{key, value}`
    in a segment's `terms`, such as `{key: "abm.tier", value: "tier_1"}`.

    `customers` says which kinds of segment take it (`"contact"`, `"account"`). `members(kind,
    value, now)` returns a SELECT of the ids of the customers of `kind` the term holds for (an
    `InputError` or `InvalidArgument` refuses a bad value); `now` is the injected clock's."""

    key: str
    description: str
    customers: tuple[str, ...]
    members: Callable[[str, Any, dt.datetime], Any]


@dataclass(frozen=True)
class MergeMove:
    """What a merge moved (or, in a dry run, would move) from the merged records to the survivor."""

    plugin: str
    entity: str
    count: int


@dataclass
class ErasureReport:
    """What one plugin's erasure did: rows affected per entity and strategy, and what it kept."""

    plugin: str
    affected: dict[str, int] = field(default_factory=dict)
    retained: list[dict] = field(default_factory=list)

    def add(self, entity: str, strategy: str, count: int) -> None:
        key = f"{entity}:{strategy}"
        self.affected[key] = self.affected.get(key, 0) + count

    def add_counts(self, counts: dict[str, int]) -> None:
        """Add counts keyed as in `affected` (`"entity:strategy"`), as a service returns them."""
        for key, count in counts.items():
            entity, strategy = key.split(":")
            self.add(entity, strategy, count)

    def hold_back(self, subject: DataSubject, entity: str, record_ids) -> list[uuid.UUID]:
        """The ids among `record_ids` (rows of `entity`, a holdable table) that a legal hold
        keeps, each reported as retained."""
        kept = []
        for record_id in record_ids:
            if (hold := subject.hold_on(entity, record_id)) is not None:
                kept.append(record_id)
                self.retain(entity, 1, hold["basis"], hold.get("until"), hold.get("reference"), legal_hold=True)
        return kept

    def retain(
        self,
        entity: str,
        rows: int,
        basis: str,
        until: str | None = None,
        reference: str | None = None,
        *,
        legal_hold: bool = False,
    ) -> None:
        """Record rows kept on purpose, and why (a legal hold, proof of consent)."""
        if rows:
            self.retained.append(
                {"entity": entity, "rows": rows, "basis": basis, "until": until, "reference": reference, "legal_hold": legal_hold}
            )


AwaitableOrValue = Any | Awaitable[Any]

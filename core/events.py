"""The core's event types, and the registry every plugin's declarations join at start-up.

Ids in payloads are strings (they go to the outbox as JSON); `entity_id` names the record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .contributions import EventType, PayloadField

CHANGED_FIELDS = PayloadField("fields", list[str], "names of the fields that changed")
MERGED_IDS = PayloadField("merged_ids", list[str], "ids of the records merged into this one (now deleted)")
ACTIVITY_KIND = PayloadField("type", str, "the activity's type key (`meeting`, `support.reply`)")


def _lifecycle(entity: str, label: str) -> dict[str, EventType]:
    """The events a contact and an account share: created, updated, soft-deleted, restored,
    destroyed for good, merged."""
    return {
        action: EventType(f"{entity}.{action}", entity, description, payload)
        for action, description, payload in (
            ("created", f"A new {label}.", ()),
            ("updated", f"A {label}'s fields changed.", (CHANGED_FIELDS,)),
            ("deleted", f"A {label} was hidden from lists (`restore` brings it back).", ()),
            ("restored", f"A deleted {label} came back.", ()),
            ("destroyed", f"A {label} is about to be removed for good, with its children.", ()),
            ("merged", f"Other {label}s were merged into this one, the survivor.", (MERGED_IDS,)),
        )
    }


ACCOUNT = _lifecycle("account", "account")
CONTACT = _lifecycle("contact", "contact")
ACCOUNT_CREATED, ACCOUNT_UPDATED, ACCOUNT_DELETED, ACCOUNT_RESTORED, ACCOUNT_DESTROYED, ACCOUNT_MERGED = ACCOUNT.values()
CONTACT_CREATED, CONTACT_UPDATED, CONTACT_DELETED, CONTACT_RESTORED, CONTACT_DESTROYED, CONTACT_MERGED = CONTACT.values()
CONTACT_PERSONAL_DATA_READ = EventType(
    "contact.personal_data_read",
    "contact",
    "Someone read everything the plugins hold about this person (`Contact.personalData`).",
    (PayloadField("purpose", str, "why it was read (`compliance_review`)"),),
    fires="in its own transaction, after the data-subject hooks collected the data; delivered from the outbox after commit",
)
ACTIVITY_LOGGED = EventType(
    "activity.logged",
    "activity",
    "An interaction was logged on the timeline.",
    (
        ACTIVITY_KIND,
        PayloadField("contact_ids", list[str], "the contacts it concerns", names_contact=True),
        PayloadField("account_ids", list[str], "the accounts it concerns"),
    ),
)
ACTIVITY_UPDATED = EventType("activity.updated", "activity", "What was logged was corrected.", (ACTIVITY_KIND, CHANGED_FIELDS))
ACTIVITY_DELETED = EventType("activity.deleted", "activity", "An activity was deleted.", (ACTIVITY_KIND,))
TASK_CREATED = EventType("task.created", "task", "A new task.")
TASK_UPDATED = EventType("task.updated", "task", "A task's fields changed, without completing it.", (CHANGED_FIELDS,))
TASK_COMPLETED = EventType(
    "task.completed", "task", "A task was marked done (its other changes, if any, are in `fields`).", (CHANGED_FIELDS,)
)
TASK_DELETED = EventType("task.deleted", "task", "A task was deleted.")
IMPORT_CREATED = EventType(
    "import.created",
    "import",
    "A CSV import was accepted; its rows are imported in batches.",
    (PayloadField("rows", int, "data rows in the file"),),
)
IMPORT_COMPLETED = EventType(
    "import.completed",
    "import",
    "A CSV import finished its last batch.",
    (
        PayloadField("created", int, "contacts created"),
        PayloadField("duplicates", int, "rows skipped as duplicates"),
        PayloadField("errors", int, "rows refused"),
    ),
    fires="in the transaction of the import's last batch, after the job is marked "
    "completed; delivered from the outbox after commit",
)

_PURCHASER = (
    PayloadField("contact_id", str | None, "the contact who bought (None: an account's purchase, or erased)", names_contact=True),
    PayloadField("account_id", str | None, "the account bought for, if any"),
)
PURCHASE_RECORDED = EventType(
    "purchase.recorded",
    "purchase",
    "A purchase was recorded (`record_purchase`: the `createPurchase` mutation, loyalty's `recordPurchase`, or a "
    "shop integration). Listeners read the `Purchase` row; `routing` carries ids a recorder addresses to one "
    "listener (loyalty's `loyalty_member_id`: which membership earns).",
    (*_PURCHASER, PayloadField("routing", dict, "listener-specific ids, never personal data", required=False)),
)
PURCHASE_REFUNDED = EventType("purchase.refunded", "purchase", "A purchase was refunded (the whole order).", _PURCHASER)
SURVEY_ANSWERED = EventType(
    "survey.answered",
    "survey_answer",
    "A customer answered a satisfaction survey (`entity_id`: the answer's id in the emitting plugin). The insights "
    "plugin emits it for its own surveys and counts the others' (support's CSAT) in its NPS, CSAT and CES figures; "
    "the comment stays out of the payload.",
    (
        PayloadField("kind", str, "the scale: `nps` (0-10), `csat` (1-5) or `ces` (1-7)"),
        PayloadField("score", int, "the answer on that scale"),
        PayloadField("contact_id", str | None, "who answered, if known", names_contact=True),
        PayloadField("source", str, "the plugin that asked (`insights`, `support`)"),
    ),
)

CORE_EVENT_TYPES = [
    *ACCOUNT.values(),
    *CONTACT.values(),
    CONTACT_PERSONAL_DATA_READ,
    ACTIVITY_LOGGED,
    ACTIVITY_UPDATED,
    ACTIVITY_DELETED,
    TASK_CREATED,
    TASK_UPDATED,
    TASK_COMPLETED,
    TASK_DELETED,
    IMPORT_CREATED,
    IMPORT_COMPLETED,
    PURCHASE_RECORDED,
    PURCHASE_REFUNDED,
    SURVEY_ANSWERED,
]


class EventError(ValueError):
    """An event emitted against its declaration: a programming error, never the user's."""


class EventRegistry:
    """Every declared event type by name, and the plugin that declared it."""

    def __init__(self, declarations: Iterable[tuple[str, Any]], *, check_payloads: bool) -> None:
        self.types: dict[str, EventType] = {}
        self.declared_by: dict[str, str] = {}
        self.check_payloads = check_payloads
        for plugin, event_type in declarations:
            if not isinstance(event_type, EventType):
                raise EventError(f"plugin {plugin!r} declared {event_type!r} in enishi_event_types, which is not an EventType")
            if event_type.name in self.types:
                first, second = sorted((self.declared_by[event_type.name], plugin))
                raise EventError(f"event type {event_type.name!r} is declared twice: by {first!r} and by {second!r}")
            self.types[event_type.name] = event_type
            self.declared_by[event_type.name] = plugin

    def check(self, event_type: EventType, payload: Mapping[str, Any]) -> None:
        """Refuse an undeclared event always, and a payload that does not match its declaration
        when payloads are checked (`Settings.validate_events`, on in tests)."""
        name = getattr(event_type, "name", None)
        declared = self.types.get(name) if isinstance(name, str) else None
        if declared is not event_type and declared != event_type:  # `is` first: comparing the fields costs a microsecond
            raise EventError(
                f"event type {getattr(event_type, 'name', event_type)!r} is not declared: "
                "return it from your plugin's enishi_event_types"
            )
        if self.check_payloads and (errors := event_type.payload_errors(payload)):
            raise EventError(f"{event_type.name} payload: {'; '.join(errors)}")

"""The value types plugins hand to the core through contribution hooks."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


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
    idempotent: two workers may run it at once, and a crashed run is simply run again."""

    name: str
    interval: dt.timedelta
    run: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class CliCommand:
    """`enishi <name>`: `configure(parser)` adds arguments; `run(runtime, args)` may be async."""

    name: str
    help: str
    configure: Callable[[Any], None]
    run: Callable[..., Any]


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


@dataclass(frozen=True)
class Event:
    """A domain event: `type` is `<entity>.<action>` (`contact.created`) or a plugin's own
    (`loyalty.points_spent`). The payload holds ids and changed field names, never personal data."""

    type: str
    entity: str
    entity_id: uuid.UUID | None
    occurred_at: dt.datetime
    actor_id: uuid.UUID | None = None
    payload: dict = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid.uuid4)  # the outbox row's id: stable across deliveries


@dataclass(frozen=True)
class DataSubject:
    """The person a data-subject request is about, identified by their contact id.

    `held` names the records under a legal hold as (GraphQL node type, id) pairs, for example
    `("Activity", id)`: an erasure keeps them and reports them with `ErasureReport.retain`."""

    contact_id: uuid.UUID
    held: Mapping[tuple[str, uuid.UUID], dict] = field(default_factory=dict)

    def hold_on(self, node_type: str, record_id: uuid.UUID) -> dict | None:
        """The hold keeping this record (basis, reference, until), or None."""
        return self.held.get((node_type, record_id))


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

    def hold_back(self, subject: DataSubject, node_type: str, entity: str, record_ids) -> list[uuid.UUID]:
        """The ids among `record_ids` that a legal hold keeps, each reported as retained."""
        kept = []
        for record_id in record_ids:
            if (hold := subject.hold_on(node_type, record_id)) is not None:
                kept.append(record_id)
                self.retain(entity, 1, hold["basis"], hold.get("until"), hold.get("reference"), legal_hold=True)
        return kept

    def retain(self, entity: str, rows: int, basis: str, until: str | None = None, reference: str | None = None, *,
               legal_hold: bool = False) -> None:
        """Record rows kept on purpose, and why (a legal hold, proof of consent)."""
        if rows:
            self.retained.append({"entity": entity, "rows": rows, "basis": basis, "until": until, "reference": reference,
                                  "legal_hold": legal_hold})


AwaitableOrValue = Any | Awaitable[Any]

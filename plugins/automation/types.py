"""Automation GraphQL types. Names carry the `Automation` prefix (global ids hold the type name).
A subscription's secret is never a field: `createWebhook` and `rotateWebhookSecret` answer it once."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, cast

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import Connection, PageRequest, RowsByColumn, SortKey, load_row, node_resolver, paginate

from . import models as orm
from .service import MANAGE
from .signing import message_id

ATTEMPTS = RowsByColumn(orm.AutomationAttempt, orm.AutomationAttempt.delivery_id, orm.AutomationAttempt.attempted_at)
NEWEST_FIRST = [
    (SortKey(orm.AutomationDelivery.created_at, "datetime"), True),
    (SortKey(orm.AutomationDelivery.id, "uuid"), True),
]


@strawberry.enum(description="Where a delivery stands: waiting for its next attempt, delivered, or given up.")
class AutomationDeliveryStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type(description="One HTTP attempt of a delivery (the delivery log). No personal data.")
class AutomationWebhookAttempt:
    attempted_at: dt.datetime
    status_code: int | None = strawberry.field(description="The receiver's HTTP status; null when there was no answer.")
    duration_ms: int
    error: str | None = strawberry.field(
        description="Why there was no answer: timeout, connection or unsafe_url (the address is refused)."
    )
    response_snippet: str | None = strawberry.field(
        description="The answer's first 200 characters, e-mail addresses and long digit runs masked."
    )

    @classmethod
    def from_row(cls, row: orm.AutomationAttempt) -> AutomationWebhookAttempt:
        return cls(
            attempted_at=row.attempted_at,
            status_code=row.status_code,
            duration_ms=row.duration_ms,
            error=row.error,
            response_snippet=row.response_snippet,
        )


@strawberry.type(description="One event for one webhook subscription, with its attempts (automation plugin).")
class AutomationWebhookDelivery(relay.Node):
    id: relay.NodeID[str]
    message_id: str = strawberry.field(description="The `webhook-id` header: the same on every attempt and replay.")
    event_type: str
    occurred_at: dt.datetime
    payload: JSON = strawberry.field(
        description="The body's `data`: the event's declared payload (ids, codes, counts), without the person's data."
    )
    carries_personal_data: bool = strawberry.field(
        description="The body's `data.person` holds the person's data (a granted subscription, provision recorded)."
    )
    status: AutomationDeliveryStatus
    attempt_count: int
    next_attempt_at: dt.datetime | None = strawberry.field(description="When a pending delivery is tried next.")
    delivered_at: dt.datetime | None
    last_status_code: int | None
    created_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.AutomationDelivery) -> AutomationWebhookDelivery:
        return cls(
            id=str(row.id),
            message_id=message_id(row.event_id),
            event_type=row.event_type,
            occurred_at=row.occurred_at,
            payload=cast(JSON, row.payload or {}),
            carries_personal_data=row.sealed_personal is not None,
            status=AutomationDeliveryStatus(row.status),
            attempt_count=row.attempts,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            delivered_at=row.delivered_at,
            last_status_code=row.last_status_code,
            created_at=row.created_at,
            _row=row,
        )

    resolve_nodes = node_resolver(orm.AutomationDelivery, MANAGE)

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempts(self, info: Info) -> list[AutomationWebhookAttempt]:
        return [AutomationWebhookAttempt.from_row(r) for r in await ATTEMPTS.load(info.context, self._row.id)]

    @strawberry.field
    async def webhook(self, info: Info) -> AutomationWebhook | None:
        row = await load_row(info.context, orm.AutomationWebhook, self._row.webhook_id)
        return AutomationWebhook.from_row(row) if row else None


@strawberry.type(description="A webhook subscription (automation plugin): where events are POSTed, signed per Standard Webhooks.")
class AutomationWebhook(relay.Node):
    id: relay.NodeID[str]
    url: str
    event_types: list[str] = strawberry.field(description="Event type names or patterns (`support.*`, `*`).")
    filter: JSON = strawberry.field(
        description="Payload fields a delivered event must have: a value, or a list of accepted values."
    )
    description: str | None
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why the worker switched it off: `failing` (a day of failures) or `gone` (410)."
    )
    failing_since: dt.datetime | None = strawberry.field(description="The first failure of the current run of failures.")
    previous_secret_valid_until: dt.datetime | None = strawberry.field(
        description="After a rotation: until when the previous secret still signs, beside the new one."
    )
    personal_data_purpose: str | None = strawberry.field(
        description="The purpose for which deliveries carry the person's data (`data.person`); null: never."
    )
    personal_data_recipient: str | None = strawberry.field(
        description="Who receives it, as the privacy plugin's recipient register names them."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: orm.AutomationWebhook) -> AutomationWebhook:
        return cls(
            id=str(row.id),
            url=row.url,
            event_types=list(row.event_types),
            filter=cast(JSON, row.filter or {}),
            description=row.description,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            failing_since=row.failing_since,
            previous_secret_valid_until=row.previous_secret_expires_at,
            personal_data_purpose=row.personal_data_purpose,
            personal_data_recipient=row.personal_data_recipient,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _row=row,
        )

    resolve_nodes = node_resolver(orm.AutomationWebhook, MANAGE)

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self, info: Info, status: AutomationDeliveryStatus | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[AutomationWebhookDelivery]:
        return await delivery_list(info, self._row.id, status, first, after)


async def delivery_list(info: Info, webhook_id, status, first, after) -> Connection[AutomationWebhookDelivery]:
    statement = select(orm.AutomationDelivery).where(orm.AutomationDelivery.webhook_id == webhook_id)
    if status is not None:
        statement = statement.where(orm.AutomationDelivery.status == status.value)
    return await paginate(
        info.context, statement, NEWEST_FIRST, PageRequest(first, after, None, None), AutomationWebhookDelivery.from_row
    )


@strawberry.type(description="A field of an event type's payload.")
class AutomationPayloadField:
    name: str
    type: str
    required: bool
    description: str


@strawberry.type(description="A declared event type a webhook may subscribe to, with its payload (the body's `data`).")
class AutomationEventType:
    name: str
    entity: str
    description: str
    fires: str
    payload: list[AutomationPayloadField]

    @classmethod
    def of(cls, event_type) -> AutomationEventType:
        return cls(
            name=event_type.name,
            entity=event_type.entity,
            description=event_type.description,
            fires=event_type.fires,
            payload=[
                AutomationPayloadField(name=f.name, type=f.type_name, required=f.required, description=f.description)
                for f in event_type.payload
                if not f.name.startswith("_")
            ],
        )

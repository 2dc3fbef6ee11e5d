"""Automation GraphQL root fields: webhook subscriptions, their deliveries and the declared event
types. Everything needs `automation.webhook.manage` (admin, integration); every mutation answers
`userErrors`, and none sends anything itself — the worker does."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    PageRequest,
    SortKey,
    UserErrorType,
    input_values,
    paginate,
    parse_global_id,
    run_mutation,
    utc_instant,
)

from . import models as orm
from . import service
from .service import MANAGE
from .types import (
    AutomationDeliveryStatus,
    AutomationEventType,
    AutomationWebhook,
    AutomationWebhookDelivery,
    delivery_list,
)

NEWEST_FIRST = [(SortKey(orm.AutomationWebhook.created_at, "datetime"), True), (SortKey(orm.AutomationWebhook.id, "uuid"), True)]


@strawberry.input
class CreateWebhookInput:
    url: str = strawberry.field(description="HTTPS outside development mode; public addresses only unless allowlisted.")
    event_types: list[str] = strawberry.field(
        description="Event type names or patterns: `support.ticket_created`, `support.*`, `*`."
    )
    filter: JSON | None = strawberry.field(
        default=strawberry.UNSET, description='Payload fields an event must have: `{"priority": ["urgent", "high"]}`.'
    )
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    personal_data_purpose: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Grant the subscription the data of the person an event concerns, for this purpose (needs "
        "`crm.export`; with the privacy plugin each delivery is recorded as a provision); empty revokes it.",
    )
    personal_data_recipient: str | None = strawberry.field(
        default=strawberry.UNSET, description="Who receives it (with the privacy plugin: a registered recipient's name)."
    )


@strawberry.input
class UpdateWebhookInput:
    id: strawberry.ID
    url: str | None = strawberry.UNSET
    event_types: list[str] | None = strawberry.UNSET
    filter: JSON | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Switching it on clears a disabling; what was queued meanwhile is sent."
    )
    personal_data_purpose: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Grant the subscription the data of the person an event concerns, for this purpose (needs "
        "`crm.export`; with the privacy plugin each delivery is recorded as a provision); empty revokes it.",
    )
    personal_data_recipient: str | None = strawberry.field(
        default=strawberry.UNSET, description="Who receives it (with the privacy plugin: a registered recipient's name)."
    )


@strawberry.input
class DeleteWebhookInput:
    id: strawberry.ID


@strawberry.input
class SendWebhookTestEventInput:
    id: strawberry.ID = strawberry.field(description="The subscription.")


@strawberry.input
class ReplayWebhookDeliveryInput:
    id: strawberry.ID = strawberry.field(description="The delivery (an AutomationWebhookDelivery).")


@strawberry.input
class RotateWebhookSecretInput:
    id: strawberry.ID
    grace_hours: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="How long the previous secret keeps signing beside the new one (default 24, at most 168).",
    )


@strawberry.input
class ReplayWebhookDeliveriesInput:
    webhook_id: strawberry.ID
    since: dt.datetime
    until: dt.datetime
    only_failed: bool = strawberry.field(default=True, description="Only deliveries given up on (default); false: every one.")


@strawberry.type
class WebhookSecretPayload:
    webhook: AutomationWebhook | None
    secret: str | None = strawberry.field(description="The `whsec_` signing secret: shown this once, never again.")
    user_errors: list[UserErrorType]


@strawberry.type
class WebhookPayload:
    webhook: AutomationWebhook | None
    user_errors: list[UserErrorType]


@strawberry.type
class DeleteWebhookPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserErrorType]


@strawberry.type
class WebhookDeliveryPayload:
    delivery: AutomationWebhookDelivery | None
    user_errors: list[UserErrorType]


@strawberry.type
class ReplayWebhookDeliveriesPayload:
    replayed: int | None = strawberry.field(description="How many deliveries were queued again.")
    user_errors: list[UserErrorType]


def _webhook(row) -> AutomationWebhook | None:
    return AutomationWebhook.from_row(row) if row else None


@strawberry.type
class AutomationQuery:
    @strawberry.field(description="Webhook subscriptions, newest first.")
    async def webhooks(
        self, info: Info, enabled: bool | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[AutomationWebhook]:
        info.context.require(MANAGE)
        statement = select(orm.AutomationWebhook)
        if enabled is not None:
            statement = statement.where(orm.AutomationWebhook.enabled.is_(enabled))
        return await paginate(
            info.context, statement, NEWEST_FIRST, PageRequest(first, after, None, None), AutomationWebhook.from_row
        )

    @strawberry.field(description="The delivery log of one subscription, newest first.")
    async def webhook_deliveries(
        self,
        info: Info,
        webhook_id: strawberry.ID,
        status: AutomationDeliveryStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AutomationWebhookDelivery]:
        info.context.require(MANAGE)
        return await delivery_list(info, parse_global_id(webhook_id, "AutomationWebhook", "webhookId"), status, first, after)

    @strawberry.field(description="Every event type a webhook may subscribe to, with its payload fields.")
    def webhook_event_types(self, info: Info) -> list[AutomationEventType]:
        info.context.require(MANAGE)
        return [AutomationEventType.of(t) for t in service.declared_event_types(info.context.runtime)]


@strawberry.type
class AutomationMutation:
    @strawberry.mutation(description="Subscribe a URL to event types; answers the signing secret, once.")
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> WebhookSecretPayload:
        async def work(uow):
            may_grant = info.context.can(service.GRANT_PERSONAL_DATA)
            return await service.create_webhook(uow, info.context.runtime, input_values(input), may_grant=may_grant)

        made, errors = await run_mutation(info, MANAGE, work)
        return WebhookSecretPayload(webhook=_webhook(made and made[0]), secret=made and made[1], user_errors=errors)

    @strawberry.mutation(description="Change a subscription: URL, event types, filter, description, on or off.")
    async def update_webhook(self, info: Info, input: UpdateWebhookInput) -> WebhookPayload:
        async def work(uow):
            webhook_id = parse_global_id(input.id, "AutomationWebhook", "id")
            may_grant = info.context.can(service.GRANT_PERSONAL_DATA)
            return await service.update_webhook(uow, info.context.runtime, webhook_id, input_values(input), may_grant=may_grant)

        row, errors = await run_mutation(info, MANAGE, work)
        return WebhookPayload(webhook=_webhook(row), user_errors=errors)

    @strawberry.mutation(description="Remove a subscription with its delivery log.")
    async def delete_webhook(self, info: Info, input: DeleteWebhookInput) -> DeleteWebhookPayload:
        async def work(uow):
            return await service.delete_webhook(uow, parse_global_id(input.id, "AutomationWebhook", "id"))

        deleted, errors = await run_mutation(info, MANAGE, work)
        return DeleteWebhookPayload(deleted_id=input.id if deleted else None, user_errors=errors)

    @strawberry.mutation(description="A new signing secret; the previous one keeps signing beside it for `graceHours`.")
    async def rotate_webhook_secret(self, info: Info, input: RotateWebhookSecretInput) -> WebhookSecretPayload:
        async def work(uow):
            grace = None if input.grace_hours in (None, strawberry.UNSET) else dt.timedelta(hours=input.grace_hours)
            return await service.rotate_secret(uow, parse_global_id(input.id, "AutomationWebhook", "id"), grace)

        made, errors = await run_mutation(info, MANAGE, work)
        return WebhookSecretPayload(webhook=_webhook(made and made[0]), secret=made and made[1], user_errors=errors)

    @strawberry.mutation(description="Queue an `automation.test` event for the subscription; the worker sends it.")
    async def send_webhook_test_event(self, info: Info, input: SendWebhookTestEventInput) -> WebhookDeliveryPayload:
        async def work(uow):
            return await service.send_test_event(uow, parse_global_id(input.id, "AutomationWebhook", "id"))

        row, errors = await run_mutation(info, MANAGE, work)
        return WebhookDeliveryPayload(delivery=AutomationWebhookDelivery.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Send one delivery again (same webhook-id), with a fresh retry schedule.")
    async def replay_webhook_delivery(self, info: Info, input: ReplayWebhookDeliveryInput) -> WebhookDeliveryPayload:
        async def work(uow):
            return await service.replay_delivery(uow, parse_global_id(input.id, "AutomationWebhookDelivery", "id"))

        row, errors = await run_mutation(info, MANAGE, work)
        return WebhookDeliveryPayload(delivery=AutomationWebhookDelivery.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Send again a subscription's deliveries queued in [since, until): by default those given up on."
    )
    async def replay_webhook_deliveries(self, info: Info, input: ReplayWebhookDeliveriesInput) -> ReplayWebhookDeliveriesPayload:
        async def work(uow):
            return await service.replay_range(
                uow,
                parse_global_id(input.webhook_id, "AutomationWebhook", "webhookId"),
                utc_instant(input.since, "since"),
                utc_instant(input.until, "until"),
                only_failed=input.only_failed,
            )

        replayed, errors = await run_mutation(info, MANAGE, work)
        return ReplayWebhookDeliveriesPayload(replayed=replayed, user_errors=errors)

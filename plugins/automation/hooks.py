"""Bundled plugin `automation`: outbound webhooks to the Standard Webhooks specification.
Built on the plugin kit only (`enishi.plugin`), as any outside plugin would be."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from enishi.plugin import Permission, ScheduledJob, hookimpl

from . import delivery, events, schema, service, types


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_permissions():
    return [
        Permission(
            service.MANAGE,
            "Manage webhook subscriptions, read their delivery log, replay and test deliveries",
            ("integration",),
            "webhooks:manage",
        )
    ]


@hookimpl
def enishi_graphql_types():
    return [types.AutomationWebhook, types.AutomationWebhookDelivery]


@hookimpl
def enishi_graphql_query():
    return [schema.AutomationQuery]


@hookimpl
def enishi_graphql_mutation():
    return [schema.AutomationMutation]


@hookimpl
def enishi_event_types():
    return events.EVENT_TYPES


@hookimpl(trylast=True)
def enishi_scheduled_jobs():
    # Last, after the core's outbox job: `enishi worker --once` (and a test clock's advance) then
    # sends what the outbox queued in the same run. Short: the first retry is due after 5 s.
    return [ScheduledJob("automation.webhooks", dt.timedelta(seconds=5), delivery.deliver_due, "send due webhook deliveries")]


@hookimpl
async def enishi_deliver_event(event, runtime):
    """Queue the committed event for every subscription it matches; the job above sends them."""
    await service.fan_out(runtime, event)


@hookimpl
async def enishi_metrics(session):
    return await delivery.readings(session)

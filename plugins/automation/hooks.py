"""Bundled plugin `automation`: outbound webhooks to the Standard Webhooks specification, and
workflows (trigger, conditions, steps) run exactly once by the worker. Built on the plugin kit
only (`enishi.plugin`), as any outside plugin would be."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select, update

from enishi.plugin import ErasureReport, MergeMove, Permission, PersonalDataField, ScheduledJob, hookimpl

from . import (
    caps_schema,
    delivery,
    events,
    schema,
    service,
    types,
    workflow_dates,
    workflow_email,
    workflow_engine,
    workflow_erasure,
    workflow_schema,
    workflow_types,
)
from .frequency_caps import AutomationContactSend
from .workflow_service import MANAGE_WORKFLOWS


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
        ),
        Permission(MANAGE_WORKFLOWS, "Define workflows, read their runs, retry, cancel and dry-run them", (), "workflows:manage"),
    ]


@hookimpl
def enishi_graphql_types():
    return [
        types.AutomationWebhook,
        types.AutomationWebhookDelivery,
        workflow_types.AutomationWorkflow,
        workflow_types.AutomationWorkflowRun,
    ]


@hookimpl
def enishi_graphql_query():
    return [schema.AutomationQuery, workflow_schema.WorkflowQuery, caps_schema.FrequencyCapQuery]


@hookimpl
def enishi_graphql_mutation():
    return [schema.AutomationMutation, workflow_schema.WorkflowMutation, caps_schema.FrequencyCapMutation]


@hookimpl
def enishi_event_types():
    return [*events.EVENT_TYPES, workflow_email.WORKFLOW_EMAIL]


@hookimpl(trylast=True)
def enishi_scheduled_jobs():
    # Last, after the core's outbox job: `enishi worker --once` (and a test clock's advance) then
    # sends what the outbox queued in the same run. Short: the first retry is due after 5 s.
    # Workflows before webhooks: a `send_webhook` step's delivery goes out in the same run.
    return [
        ScheduledJob(
            "automation.workflow_dates",
            dt.timedelta(minutes=15),
            workflow_dates.start_dated_runs,
            "start date-triggered workflows",
        ),
        ScheduledJob(
            "automation.workflow_segments",
            dt.timedelta(minutes=15),
            workflow_engine.flag_missing_segments,
            "flag workflows whose trigger's segment is gone",
        ),
        ScheduledJob(
            "automation.workflow_schedules",
            dt.timedelta(minutes=1),
            workflow_engine.start_scheduled_runs,
            "start scheduled workflows",
        ),
        ScheduledJob("automation.workflows", dt.timedelta(seconds=5), workflow_engine.run_due, "take due workflow steps"),
        ScheduledJob("automation.webhooks", dt.timedelta(seconds=5), delivery.deliver_due, "send due webhook deliveries"),
    ]


@hookimpl
async def enishi_deliver_event(event, runtime):
    """Queue the committed event for every subscription it matches, and start the workflows it
    triggers; the jobs above send and run them. Both look up what the event leads to in one read
    session, the hand-over's: every event the outbox delivers comes through here, and a session
    of its own for each look-up cost a connection's checkout, a BEGIN and its end per event
    (bench/workflows.py --email)."""
    async with runtime.read_session() as session:
        await service.fan_out(runtime, event, session)
        await workflow_engine.start_runs(runtime, event, session)
    if event.type == workflow_email.WORKFLOW_EMAIL.name:
        await workflow_email.deliver(runtime, event)


@hookimpl
async def enishi_metrics(session):
    return await delivery.readings(session)


@hookimpl
def enishi_personal_data():
    # Who got which workflow e-mail when: what the frequency caps count, erased with the person.
    # Which runs named whom (workflow_people.py): the index an erasure finds their runs by.
    return [
        *(
            PersonalDataField("automation_contact_send", field, "user.behavior", purposes=("marketing",), portable=False)
            for field in ("contact_id", "sent_at")
        ),
        PersonalDataField("automation_workflow_person", "contact_id", "user.unique_id", provenance="observed", portable=False),
    ]


@hookimpl
async def enishi_subject_collect(uow, subject):
    sends = await uow.session.scalars(
        select(AutomationContactSend)
        .where(AutomationContactSend.contact_id == subject.contact_id)
        .order_by(AutomationContactSend.sent_at)
    )
    found = [{"channel": s.channel, "purpose": s.purpose, "sent_at": s.sent_at.isoformat()} for s in sends]
    section = {
        "workflow_messages": found,
        "workflow_runs": await workflow_erasure.runs_for_access(uow.session, subject.contact_id),
    }
    return {name: items for name, items in section.items() if items} or None


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("automation")
    report.add_counts(await workflow_erasure.forget_person(uow, subject.contact_id))
    return report


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    """The merged contacts' sends become the survivor's: the caps count them for the one person."""
    if entity != "contact":
        return []
    theirs = AutomationContactSend.contact_id.in_(merged_ids)
    count = await uow.session.scalar(select(func.count()).where(theirs))
    if not dry_run:
        await uow.session.execute(update(AutomationContactSend).where(theirs).values(contact_id=survivor_id))
    return [MergeMove("automation", "automation_contact_send", count or 0)]

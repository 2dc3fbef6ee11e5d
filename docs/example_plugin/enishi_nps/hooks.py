"""The hook implementations: everything Enishi learns about this plugin, it learns here."""

import datetime as dt
import uuid
from pathlib import Path

import strawberry
from sqlalchemy import select

from enishi.plugin import (
    ACTIVITY_LOGGED,
    ActivityType,
    CliCommand,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    create_task,
    hookimpl,
)

from . import events, models, schema, service


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [schema.NpsSurveyResponse]


@hookimpl
def enishi_graphql_query():
    return [schema.NpsQuery]


@hookimpl
def enishi_graphql_mutation():
    return [schema.NpsMutation]


@hookimpl
def enishi_graphql_type_fields():
    return [
        (
            "Contact",
            strawberry.field(
                resolver=schema.contact_nps, name="nps", description="The contact's latest NPS answer (nps plugin)."
            ),
        )
    ]


@hookimpl
def enishi_permissions():
    return [
        Permission("nps.read", "See NPS results", ("manager", "sales", "support", "marketing")),
        Permission("nps.write", "Record NPS answers", ("sales", "support", "integration")),
    ]


@hookimpl
def enishi_event_types():
    return events.EVENT_TYPES


@hookimpl
def enishi_activity_types():
    return [ActivityType("nps.response", "NPS answer", "NPS回答")]


@hookimpl
async def enishi_on_event(event, uow):
    """After a meeting, ask the contacts for a score: a follow-up task in the same transaction."""
    if event.is_(ACTIVITY_LOGGED) and event.payload["type"] == "meeting":
        for contact_id in event.payload["contact_ids"]:
            await create_task(
                uow,
                {
                    "title": "NPSアンケートを依頼 / Ask for an NPS score",
                    "contact_id": uuid.UUID(contact_id),
                    "due_at": event.occurred_at + dt.timedelta(days=3),
                },
            )


@hookimpl
def enishi_personal_data():
    return [
        PersonalDataField("nps_response", "score", "user.survey", provenance="provided"),
        PersonalDataField("nps_response", "comment", "user.content", provenance="provided"),
    ]


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    if entity != "contact":
        return []
    return [MergeMove("nps", "nps_response", await service.move_responses(uow, survivor_id, merged_ids, dry_run))]


@hookimpl
async def enishi_subject_collect(uow, subject):
    rows = (
        await uow.session.execute(select(models.NpsResponse).where(models.NpsResponse.contact_id == subject.contact_id))
    ).scalars()
    return {"responses": [{"score": r.score, "comment": r.comment, "answered_at": r.answered_at.isoformat()} for r in rows]}


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("nps")
    report.add("nps_response", "delete", await service.erase_responses(uow, subject.contact_id))
    return report


@hookimpl
def enishi_cli_commands():
    async def report(runtime, args):
        async with runtime.read_session() as session:
            score = await service.net_promoter_score(session)
        print("NPS: no answers yet" if score is None else f"NPS: {score}")

    return [CliCommand("nps-report", "print the Net Promoter Score", lambda parser: None, report)]

"""Bundled plugin `insights`: who the best customers are and who drifts away (RFM), and whether
the business keeps its customers (churn, retention, cohorts, ARPU, LTV, CAC, expansion), all from
the core's purchases (`purchase.recorded`, `purchase.refunded`); and NPS, CSAT and CES surveys
(surveys.py), counting every plugin's answers (`survey.answered`). Cooperates without depending: the
sales plugin's won deals arrive through `enishi_won_deals`, support's CSAT through `survey.answered`."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import strawberry
from sqlalchemy import delete, select

from enishi.plugin import (
    ACCOUNT_DELETED,
    ACCOUNT_RESTORED,
    ACTIVITY_LOGGED,
    CONTACT_DELETED,
    CONTACT_RESTORED,
    PURCHASE_RECORDED,
    PURCHASE_REFUNDED,
    SURVEY_ANSWERED,
    ActivityType,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    ScheduledJob,
    hookimpl,
)

from . import (
    charts,
    health,
    health_schema,
    inferred_data,
    report_schema,
    reports,
    rfm,
    schema,
    segment_schema,
    segments,
    survey_links,
    survey_privacy,
    survey_schema,
    survey_scores,
    surveys,
    types,
)
from .models import InsightsRfm


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [
        types.InsightsRfmType,
        survey_schema.InsightsSurveyType,
        health_schema.InsightsHealthType,
        segment_schema.InsightsSegmentType,
        segment_schema.InsightsSegmentMemberType,
        report_schema.ScheduledReportType,
    ]


@hookimpl
def enishi_graphql_query():
    return [
        schema.InsightsQuery,
        survey_schema.InsightsSurveyQuery,
        health_schema.HealthQuery,
        segment_schema.SegmentQuery,
        charts.ChartQuery,
        report_schema.ReportQuery,
    ]


@hookimpl
def enishi_graphql_mutation():
    return [survey_schema.InsightsSurveyMutation, segment_schema.SegmentMutation, report_schema.ReportMutation]


@hookimpl
def enishi_http_routes():
    return survey_links.ROUTES


@hookimpl
def enishi_event_types():
    return [surveys.SURVEY_REQUESTED, segments.SEGMENT_ENTERED, segments.SEGMENT_LEFT, reports.REPORT_DUE]


@hookimpl
def enishi_activity_types():
    return [ActivityType(surveys.ACTIVITY_TYPE, "Survey answer", "アンケート回答", "A score and comment given through a link")]


@hookimpl
async def enishi_deliver_event(event, runtime):
    if event.is_(surveys.SURVEY_REQUESTED):
        await surveys.mail_survey(runtime, event)
    elif event.is_(reports.REPORT_DUE):
        await reports.mail_report(runtime, event)


@hookimpl
def enishi_graphql_type_fields():
    description = "RFM over the configured window, None until the customer has bought in it (insights plugin)."
    return [
        (
            "Contact",
            strawberry.field(
                resolver=schema.contact_rfm, name="rfm", graphql_type=types.InsightsRfmType | None, description=description
            ),
        ),
        (
            "Account",
            strawberry.field(
                resolver=schema.account_rfm, name="rfm", graphql_type=types.InsightsRfmType | None, description=description
            ),
        ),
        *health_schema.type_fields(),
    ]


@hookimpl
def enishi_permissions():
    return [
        Permission(
            "insights.read",
            "See RFM scores and segments, customer KPIs and cohorts",
            ("manager", "sales", "marketing", "support"),
            "insights:read",
        ),
        Permission(
            survey_schema.WRITE, "Create surveys and send them to contacts", ("manager", "marketing", "support"), "insights:write"
        ),
        Permission("insights.write", "Define, evaluate and delete saved segments", ("manager", "marketing"), "insights:write"),
        # A report mails figures (and, to those who may export them, customers' names) to other
        # staff every week or month: the manager's decision, like who reads what.
        Permission(report_schema.MANAGE, "Schedule reports mailed to users or roles", ("manager",), "insights:write"),
    ]


@hookimpl
def enishi_scheduled_jobs():
    return [
        ScheduledJob("insights.rfm", dt.timedelta(hours=24), rfm.recompute_all, "score every customer's RFM again"),
        ScheduledJob("insights.health", dt.timedelta(hours=24), health.recompute_all, "score every customer's churn risk again"),
        ScheduledJob("insights.segments", dt.timedelta(hours=24), segments.evaluate_all, "evaluate every saved segment again"),
        ScheduledJob(
            "insights.reports",
            dt.timedelta(hours=1),
            reports.report_due_periods,
            "mail the scheduled reports of periods just over",
        ),
    ]


@hookimpl
async def enishi_segment_members(session, segment_id):
    return await segments.members_of(session, segment_id)


@hookimpl
async def enishi_on_event(event, uow):
    if event.is_(SURVEY_ANSWERED):
        await surveys.record_reported(uow, event)
    elif event.is_(PURCHASE_RECORDED) or event.is_(PURCHASE_REFUNDED):
        for kind in rfm.KINDS:
            owner = event.payload.get(f"{kind}_id")
            if owner is not None:
                await rfm.recompute_customer(uow, kind, uuid.UUID(owner))
                await health.recompute_customer(uow, kind, uuid.UUID(owner))
    elif event.is_(ACTIVITY_LOGGED):
        for kind in rfm.KINDS:
            # In id order: two activities naming the same customers lock them in the same order.
            for owner in sorted(uuid.UUID(owner) for owner in event.payload.get(f"{kind}_ids") or []):
                await health.recompute_customer(uow, kind, owner)
    elif any(event.is_(t) for t in (CONTACT_DELETED, CONTACT_RESTORED, ACCOUNT_DELETED, ACCOUNT_RESTORED)):
        if event.entity_id is None:  # the core's services name the record; an event read from the outbox is data
            raise ValueError(f"event {event.type}: names no {event.entity}")
        await health.recompute_customer(uow, event.entity, event.entity_id)


@hookimpl
async def enishi_on_events(events, uow):
    """Events raised together (an import's notes): every customer they concern rescored at once."""
    if events[0].is_(ACTIVITY_LOGGED):
        for kind in rfm.KINDS:
            owners = [uuid.UUID(owner) for event in events for owner in event.payload.get(f"{kind}_ids") or []]
            if owners:
                await health.recompute_customers(uow, kind, owners)
    else:
        for event in events:
            await enishi_on_event(event, uow)


@hookimpl
def enishi_personal_data():
    # Scores are inferred from the person's purchases: exported with them, not portable (nothing
    # another service could take over), erased with them.
    return (
        [
            PersonalDataField(
                "insights_rfm",
                field,
                "user.behavior.purchase_history",
                purposes=("analytics",),
                provenance="inferred",
                portable=False,
            )
            for field in ("contact_id", "segment", "recency_score", "frequency_score", "monetary_score")
        ]
        + survey_privacy.PERSONAL_DATA
        + [
            PersonalDataField(table, field, "user.behavior", purposes=("analytics",), provenance="inferred", portable=False)
            for table, fields in (
                ("insights_health", ("contact_id", "score", "band", "reasons")),
                ("insights_segment_member", ("contact_id", "segment_id")),
            )
            for field in fields
        ]
    )


@hookimpl
async def enishi_subject_collect(uow, subject):
    row = (
        await uow.session.execute(select(InsightsRfm).where(InsightsRfm.contact_id == subject.contact_id))
    ).scalar_one_or_none()
    found = {} if row is None else {"rfm": _rfm_export(row)}
    if answers := await survey_privacy.collect(uow, subject.contact_id):
        found["surveys"] = answers
    return found | await inferred_data.collect(uow.session, subject.contact_id) or None


def _rfm_export(row: InsightsRfm) -> dict:
    return {
        "segment": row.segment,
        "score": f"{row.recency_score}{row.frequency_score}{row.monetary_score}",
        "last_purchase_at": row.last_purchase_at.isoformat(),
        "frequency": row.frequency,
        "monetary": row.monetary,
        "computed_at": row.computed_at.isoformat(),
    }


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("insights")
    removed = await uow.session.execute(delete(InsightsRfm).where(InsightsRfm.contact_id == subject.contact_id))
    report.add("insights_rfm", "delete", removed.rowcount)
    await survey_privacy.erase(uow, subject.contact_id, report)
    for table, count in (await inferred_data.erase(uow.session, subject.contact_id)).items():
        report.add(table, "delete", count)
    return report


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    """The merged records' scores go; the survivor's are scored again from the purchases the core
    moved to it (the core's merge runs before this hook). Survey answers move to the surviving contact."""
    column = rfm.rfm_column(entity) if entity in rfm.KINDS else None
    if column is None:
        return []
    count = len((await uow.session.execute(select(InsightsRfm.id).where(column.in_(merged_ids)))).all())
    moves = await inferred_data.merge(uow, entity, survivor_id, merged_ids, dry_run)
    if entity == "contact":
        moves.append(await survey_privacy.merge(uow, survivor_id, merged_ids, dry_run))
    if not dry_run:
        await uow.session.execute(delete(InsightsRfm).where(column.in_(merged_ids)))
        await rfm.recompute_customer(uow, entity, survivor_id)
        await health.recompute_customer(uow, entity, survivor_id)  # after the answers moved: the last NPS counts
    return [MergeMove("insights", "insights_rfm", count), *moves]


@hookimpl
async def enishi_customer_signals(session, kind, customer_ids, now):
    return await survey_scores.latest_nps(session, kind, customer_ids, now)

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

from . import rfm, schema, survey_links, survey_privacy, survey_schema, surveys, types
from .models import InsightsRfm


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [types.InsightsRfmType, survey_schema.InsightsSurveyType]


@hookimpl
def enishi_graphql_query():
    return [schema.InsightsQuery, survey_schema.InsightsSurveyQuery]


@hookimpl
def enishi_graphql_mutation():
    return [survey_schema.InsightsSurveyMutation]


@hookimpl
def enishi_http_routes():
    return survey_links.ROUTES


@hookimpl
def enishi_event_types():
    return [surveys.SURVEY_REQUESTED]


@hookimpl
def enishi_activity_types():
    return [ActivityType(surveys.ACTIVITY_TYPE, "Survey answer", "アンケート回答", "A score and comment given through a link")]


@hookimpl
async def enishi_deliver_event(event, runtime):
    if event.is_(surveys.SURVEY_REQUESTED):
        await surveys.mail_survey(runtime, event)


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
    ]


@hookimpl
def enishi_scheduled_jobs():
    return [ScheduledJob("insights.rfm", dt.timedelta(hours=24), rfm.recompute_all, "score every customer's RFM again")]


@hookimpl
async def enishi_on_event(event, uow):
    if event.is_(SURVEY_ANSWERED):
        await surveys.record_reported(uow, event)
        return
    if not (event.is_(PURCHASE_RECORDED) or event.is_(PURCHASE_REFUNDED)):
        return
    for kind in rfm.KINDS:
        owner = event.payload.get(f"{kind}_id")
        if owner is not None:
            await rfm.recompute_customer(uow, kind, uuid.UUID(owner))


@hookimpl
def enishi_personal_data():
    # Scores are inferred from the person's purchases: exported with them, not portable (nothing
    # another service could take over), erased with them.
    return [
        PersonalDataField(
            "insights_rfm",
            field,
            "user.behavior.purchase_history",
            purposes=("analytics",),
            provenance="inferred",
            portable=False,
        )
        for field in ("contact_id", "segment", "recency_score", "frequency_score", "monetary_score")
    ] + survey_privacy.PERSONAL_DATA


@hookimpl
async def enishi_subject_collect(uow, subject):
    row = (
        await uow.session.execute(select(InsightsRfm).where(InsightsRfm.contact_id == subject.contact_id))
    ).scalar_one_or_none()
    export: dict = {}
    if row is not None:
        export["rfm"] = {
            "segment": row.segment,
            "score": f"{row.recency_score}{row.frequency_score}{row.monetary_score}",
            "last_purchase_at": row.last_purchase_at.isoformat(),
            "frequency": row.frequency,
            "monetary": row.monetary,
            "computed_at": row.computed_at.isoformat(),
        }
    if answers := await survey_privacy.collect(uow, subject.contact_id):
        export["surveys"] = answers
    return export or None


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("insights")
    removed = await uow.session.execute(delete(InsightsRfm).where(InsightsRfm.contact_id == subject.contact_id))
    report.add("insights_rfm", "delete", removed.rowcount)
    await survey_privacy.erase(uow, subject.contact_id, report)
    return report


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    """The merged records' scores go; the survivor's are scored again from the purchases the core
    moved to it (the core's merge runs before this hook). Survey answers move to the surviving contact."""
    column = rfm.rfm_column(entity) if entity in rfm.KINDS else None
    if column is None:
        return []
    count = len((await uow.session.execute(select(InsightsRfm.id).where(column.in_(merged_ids)))).all())
    if not dry_run:
        await uow.session.execute(delete(InsightsRfm).where(column.in_(merged_ids)))
        await rfm.recompute_customer(uow, entity, survivor_id)
    moves = [MergeMove("insights", "insights_rfm", count)]
    if entity == "contact":
        moves.append(await survey_privacy.merge(uow, survivor_id, merged_ids, dry_run))
    return moves

"""Bundled plugin `insights`: who the best customers are and who drifts away (RFM), and whether
the business keeps its customers (churn, retention, cohorts, ARPU, LTV, CAC, expansion), all from
the core's purchases (`purchase.recorded`, `purchase.refunded`). Cooperates without depending: the
sales plugin's won deals arrive through `enishi_won_deals` when it is installed."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import strawberry
from sqlalchemy import delete, select

from enishi.plugin import (
    PURCHASE_RECORDED,
    PURCHASE_REFUNDED,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    ScheduledJob,
    hookimpl,
)

from . import rfm, schema, types
from .models import InsightsRfm


@hookimpl
def enishi_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def enishi_graphql_types():
    return [types.InsightsRfmType]


@hookimpl
def enishi_graphql_query():
    return [schema.InsightsQuery]


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
    ]


@hookimpl
def enishi_scheduled_jobs():
    return [ScheduledJob("insights.rfm", dt.timedelta(hours=24), rfm.recompute_all, "score every customer's RFM again")]


@hookimpl
async def enishi_on_event(event, uow):
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
    ]


@hookimpl
async def enishi_subject_collect(uow, subject):
    row = (
        await uow.session.execute(select(InsightsRfm).where(InsightsRfm.contact_id == subject.contact_id))
    ).scalar_one_or_none()
    if row is None:
        return None
    return {
        "rfm": {
            "segment": row.segment,
            "score": f"{row.recency_score}{row.frequency_score}{row.monetary_score}",
            "last_purchase_at": row.last_purchase_at.isoformat(),
            "frequency": row.frequency,
            "monetary": row.monetary,
            "computed_at": row.computed_at.isoformat(),
        }
    }


@hookimpl
async def enishi_subject_erase(uow, subject):
    report = ErasureReport("insights")
    removed = await uow.session.execute(delete(InsightsRfm).where(InsightsRfm.contact_id == subject.contact_id))
    report.add("insights_rfm", "delete", removed.rowcount)
    return report


@hookimpl
async def enishi_merge(uow, entity, survivor_id, merged_ids, dry_run):
    """The merged records' scores go; the survivor's are scored again from the purchases the core
    moved to it (the core's merge runs before this hook)."""
    column = rfm.rfm_column(entity) if entity in rfm.KINDS else None
    if column is None:
        return []
    count = len((await uow.session.execute(select(InsightsRfm.id).where(column.in_(merged_ids)))).all())
    if not dry_run:
        await uow.session.execute(delete(InsightsRfm).where(column.in_(merged_ids)))
        await rfm.recompute_customer(uow, entity, survivor_id)
    return [MergeMove("insights", "insights_rfm", count)]

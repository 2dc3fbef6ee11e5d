"""Scheduled reports in GraphQL: `scheduledReports`, `createScheduledReport`,
`updateScheduledReport`, `deleteScheduledReport`, all needing `insights.report` (reports.py says
what is sent to whom)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable
from enum import Enum

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from enishi.plugin import (
    User,
    UserErrorType,
    UserNode,
    input_values,
    load_for_update,
    load_row,
    node_resolver,
    parse_global_id,
    run_mutation,
    then,
)

from . import reports
from .report_models import InsightsReport, InsightsReportRun
from .types import InsightsCustomer

MANAGE = "insights.report"
RECIPIENT_ID = {"recipient_user_id": "User"}


@strawberry.enum(
    description="How often a report goes out: each ISO week (Monday to Sunday) or calendar month, in the configured zone."
)
class InsightsReportFrequency(Enum):
    WEEK = "week"
    MONTH = "month"


@strawberry.type(description="A period a scheduled report went out for.")
class InsightsReportRunType:
    first_day: dt.date
    last_day: dt.date
    recipients: int = strawberry.field(description="How many users it was mailed to.")
    created_at: dt.datetime


@strawberry.type(name="ScheduledReport", description="A weekly or monthly report mailed to a user or a role (insights plugin).")
class ScheduledReportType(relay.Node):
    id: relay.NodeID[str]
    name: str
    frequency: InsightsReportFrequency
    customer: InsightsCustomer
    recipient_role: str | None = strawberry.field(description="Every active user holding this role gets it (or `recipientUser`).")
    created_at: dt.datetime
    updated_at: dt.datetime
    _row: strawberry.Private[InsightsReport]

    @classmethod
    def from_row(cls, row: InsightsReport) -> ScheduledReportType:
        return cls(
            id=str(row.id),
            name=row.name,
            frequency=InsightsReportFrequency(row.frequency),
            customer=InsightsCustomer(row.customer),
            recipient_role=row.recipient_role,
            created_at=row.created_at,
            updated_at=row.updated_at,
            _row=row,
        )

    @strawberry.field(graphql_type=UserNode | None, description="The one user who gets it (or `recipientRole`).")
    def recipient_user(self, info: Info) -> Awaitable[UserNode | None] | None:
        if self._row.recipient_user_id is None:
            return None
        return then(load_row(info.context, User, self._row.recipient_user_id), lambda row: row and UserNode.from_row(row))

    @strawberry.field(description="The periods it went out for, the latest first.")
    async def runs(self, info: Info, first: int = 12) -> list[InsightsReportRunType]:
        rows = await info.context.scalars(
            select(InsightsReportRun)
            .where(InsightsReportRun.report_id == self._row.id)
            .order_by(InsightsReportRun.first_day.desc())
            .limit(max(0, min(first, 100)))
        )
        return [
            InsightsReportRunType(first_day=r.first_day, last_day=r.last_day, recipients=r.recipients, created_at=r.created_at)
            for r in rows
        ]

    resolve_nodes = node_resolver(InsightsReport, MANAGE)


@strawberry.input(description="A report: give exactly one of `recipientUserId` and `recipientRole`.")
class CreateScheduledReportInput:
    name: str
    frequency: InsightsReportFrequency
    customer: InsightsCustomer = InsightsCustomer.CONTACT
    recipient_user_id: strawberry.ID | None = strawberry.UNSET
    recipient_role: str | None = strawberry.UNSET


@strawberry.input(description="The fields given change; a new recipient replaces the old (give one of the two).")
class UpdateScheduledReportInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    frequency: InsightsReportFrequency | None = strawberry.UNSET
    customer: InsightsCustomer | None = strawberry.UNSET
    recipient_user_id: strawberry.ID | None = strawberry.UNSET
    recipient_role: str | None = strawberry.UNSET


@strawberry.input
class DeleteScheduledReportInput:
    id: strawberry.ID


@strawberry.type
class ScheduledReportPayload:
    report: ScheduledReportType | None
    user_errors: list[UserErrorType]


@strawberry.type
class DeleteScheduledReportPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserErrorType]


def _values(input) -> dict:
    values = input_values(input, RECIPIENT_ID)
    return {key: value.value if isinstance(value, Enum) else value for key, value in values.items()}


async def _report(uow, report_id: str) -> InsightsReport:
    return await load_for_update(
        uow, InsightsReport, parse_global_id(report_id, "ScheduledReport", "id"), what="scheduled report"
    )


@strawberry.type
class ReportQuery:
    @strawberry.field(description="Every scheduled report, by name.")
    async def scheduled_reports(self, info: Info) -> list[ScheduledReportType]:
        info.context.require(MANAGE)
        rows = await info.context.scalars(select(InsightsReport).order_by(InsightsReport.name))
        return [ScheduledReportType.from_row(row) for row in rows]


@strawberry.type
class ReportMutation:
    @strawberry.mutation(description="Schedule a weekly or monthly report, mailed after each period ends.")
    async def create_scheduled_report(self, info: Info, input: CreateScheduledReportInput) -> ScheduledReportPayload:
        values = _values(input)
        row, errors = await run_mutation(info, MANAGE, lambda uow: reports.save_report(uow, None, values))
        return ScheduledReportPayload(report=ScheduledReportType.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Change a scheduled report.")
    async def update_scheduled_report(self, info: Info, input: UpdateScheduledReportInput) -> ScheduledReportPayload:
        async def work(uow):
            values = _values(input)
            return await reports.save_report(uow, await _report(uow, input.id), values)

        row, errors = await run_mutation(info, MANAGE, work)
        return ScheduledReportPayload(report=ScheduledReportType.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Stop a scheduled report (the periods it reported go with it).")
    async def delete_scheduled_report(self, info: Info, input: DeleteScheduledReportInput) -> DeleteScheduledReportPayload:
        async def work(uow) -> uuid.UUID:
            report = await _report(uow, input.id)
            await uow.session.delete(report)
            return report.id

        deleted, errors = await run_mutation(info, MANAGE, work)
        return DeleteScheduledReportPayload(deleted_id=input.id if deleted else None, user_errors=errors)

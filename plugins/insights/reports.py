"""Scheduled reports (定期報告): a weekly or monthly report to one user, or to every active user
holding a role, mailed through the outbox with a CSV, an .xlsx and an HTML summary showing a
chart (report_files.py).

The `insights.reports` job (hourly) finds, for each report, the last complete period in the
configured zone (an ISO week, Monday to Sunday, or a calendar month) that ended after the report
was created, and reports it once: recording the period (`insights_report_run`, unique per report
and period) and queueing one `insights.report_due` event per recipient happen in one transaction,
under the report's row lock. A second worker running the job (the job lease makes that rare, a
lease that ran out makes it possible) finds the period recorded and queues nothing.

Who gets what: a recipient needs `insights.read` (else nothing is sent to them, and a report for
them is refused); the riskiest customers (a person by id, never by name) come only to a
recipient whose role may take personal data out of Enishi — `crm.read` and `crm.export`, what
exporting contacts needs — and everyone else receives the aggregates only."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from enishi.plugin import (
    ROLES,
    Checker,
    EventType,
    InputError,
    MailAttachment,
    PayloadField,
    UnitOfWork,
    User,
    UserError,
    next_period,
    period_start,
    send_for_event,
)

from . import report_files
from .report_models import InsightsReport, InsightsReportRun
from .rfm import KINDS
from .types import READ

FREQUENCIES = ("week", "month")
PEOPLE_PERMISSIONS = frozenset({"crm.read", "crm.export"})
CHART_ID = "chart@enishi"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

REPORT_DUE = EventType(
    "insights.report_due",
    "insights_report",
    "A scheduled report's period is over: delivery mails it to one recipient.",
    (
        PayloadField("user_id", str, "the recipient (a user)"),
        PayloadField("first_day", str, "the period's first day (ISO date, configured zone)"),
        PayloadField("last_day", str, "the period's last day"),
    ),
    fires="by the hourly `insights.reports` job, once per report, period and recipient; mailed from the outbox after commit",
)


def _error(field: str, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


def may_read(runtime, roles) -> bool:
    return READ in runtime.permissions.for_roles(roles)


def may_see_people(runtime, roles) -> bool:
    return runtime.permissions.for_roles(roles) >= PEOPLE_PERMISSIONS


async def _check_recipient(uow: UnitOfWork, user_id: uuid.UUID | None, role: str | None) -> None:
    if (user_id is None) == (role is None):
        raise _error("recipientUserId", "give exactly one of `recipientUserId` and `recipientRole`", "REQUIRED")
    if role is not None:
        if role not in ROLES:
            raise _error("recipientRole", f"one of {', '.join(ROLES)}", "INVALID_CHOICE")
        if not may_read(uow.runtime, [role]):
            raise _error("recipientRole", f"the role {role} may not read insights", "RECIPIENT_NOT_ALLOWED")
        return
    user = await uow.session.get(User, user_id)
    if user is None or not user.is_active:
        raise _error("recipientUserId", "no such active user", "NOT_FOUND")
    if not user.email:
        raise _error("recipientUserId", "the user has no e-mail address", "NO_EMAIL")
    if not may_read(uow.runtime, user.roles):
        raise _error("recipientUserId", "the user may not read insights", "RECIPIENT_NOT_ALLOWED")


async def save_report(uow: UnitOfWork, report: InsightsReport | None, data: dict) -> InsightsReport:
    """Create (`report` None) or update a report; `data` holds the fields given (snake_case)."""
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True) if report is None or "name" in data else None
    check.choice(data, "frequency", FREQUENCIES)
    check.choice(data, "customer", KINDS)
    if name:
        taken = select(InsightsReport.id).where(InsightsReport.name == name)
        if report is not None:
            taken = taken.where(InsightsReport.id != report.id)
        if (await uow.session.execute(taken)).first():
            check.fail("name", "another report has this name", "DUPLICATE")
    check.done()
    recipient_given = "recipient_user_id" in data or "recipient_role" in data
    if report is None or recipient_given:
        await _check_recipient(uow, data.get("recipient_user_id"), data.get("recipient_role"))
    now = uow.clock.now()
    if report is None:
        report = InsightsReport(customer="contact", created_by=uow.actor_id, created_at=now)
        uow.session.add(report)
    if name:
        report.name = name
    for key in ("frequency", "customer"):
        if data.get(key) is not None:
            setattr(report, key, data[key])
    if recipient_given:
        report.recipient_user_id, report.recipient_role = data.get("recipient_user_id"), data.get("recipient_role")
    report.updated_at = now
    await uow.session.flush()
    return report


def last_complete_period(now: dt.datetime, frequency: str, zone) -> tuple[dt.date, dt.date, dt.datetime]:
    """(first day, last day, end instant) of the latest week or month over by `now` in `zone`."""
    current = period_start(now.astimezone(zone).date(), frequency)
    first = period_start(current - dt.timedelta(days=1), frequency)
    assert next_period(first, frequency) == current
    return first, current - dt.timedelta(days=1), dt.datetime.combine(current, dt.time(), tzinfo=zone)


async def recipients(session, runtime, report: InsightsReport) -> list[User]:
    """The active users with an address who may read insights: the named one, or the role's."""
    if report.recipient_user_id is not None:
        found = [await session.get(User, report.recipient_user_id)]
    else:
        users = await session.execute(select(User).where(User.is_active.is_(True)).order_by(User.id))
        found = [user for user in users.scalars() if report.recipient_role in (user.roles or [])]
    return [user for user in found if user is not None and user.is_active and user.email and may_read(runtime, user.roles)]


async def _report_period(uow: UnitOfWork, report_id: uuid.UUID) -> int:
    """Record the report's last complete period and queue its mails, unless done before; how many."""
    report = await uow.session.get(InsightsReport, report_id, with_for_update=True)
    if report is None:
        return 0
    first, last, ended = last_complete_period(uow.clock.now(), report.frequency, uow.settings.zone)
    if report.created_at >= ended:  # created after that period: its first period is still running
        return 0
    done = select(InsightsReportRun.id).where(InsightsReportRun.report_id == report.id, InsightsReportRun.first_day == first)
    if (await uow.session.execute(done)).first():
        return 0
    to = await recipients(uow.session, uow.runtime, report)
    try:
        async with uow.session.begin_nested():
            uow.session.add(
                InsightsReportRun(
                    report_id=report.id, first_day=first, last_day=last, recipients=len(to), created_at=uow.clock.now()
                )
            )
    except IntegrityError:  # another worker recorded it since we looked
        return 0
    for user in to:
        payload = {"user_id": str(user.id), "first_day": first.isoformat(), "last_day": last.isoformat()}
        await uow.emit(REPORT_DUE, report.id, payload)
    return len(to)


async def report_due_periods(runtime) -> int:
    """The `insights.reports` job: every report's last complete period, each in its own
    transaction; returns how many mails were queued."""
    async with runtime.read_session() as session:
        ids = list((await session.execute(select(InsightsReport.id).order_by(InsightsReport.name))).scalars())
    queued = 0
    for report_id in ids:
        async with runtime.unit_of_work() as uow:
            queued += await _report_period(uow, report_id)
    return queued


async def mail_report(runtime, event) -> None:
    """Render the report for its recipient (people only when they may see them) and mail it."""
    async with runtime.read_session() as session:
        report = await session.get(InsightsReport, event.entity_id)
        user = await session.get(User, uuid.UUID(event.payload["user_id"]))
        if report is None or user is None or not user.is_active or not user.email or not may_read(runtime, user.roles):
            return  # deleted, deactivated, or no longer allowed since the period was recorded
        first, last = dt.date.fromisoformat(event.payload["first_day"]), dt.date.fromisoformat(event.payload["last_day"])
        content = await report_files.gather(
            session, runtime.settings, report.name, report.customer, first, last, people=may_see_people(runtime, user.roles)
        )
        address = user.email
    stem = f"insights-{first.isoformat()}"
    attachments = [
        MailAttachment(f"{stem}.csv", "text/csv", report_files.to_csv(content)),
        MailAttachment(f"{stem}.xlsx", XLSX, report_files.to_xlsx(content)),
        MailAttachment("chart.png", "image/png", report_files.chart_png(content), inline_id=CHART_ID),
    ]
    await send_for_event(
        runtime.settings,
        event,
        to=address,
        subject=f"定期報告 / Report: {report.name} {first}〜{last}",
        body=report_files.to_text(content),
        html=report_files.to_html(content, CHART_ID),
        attachments=attachments,
        data_subject=None,
    )

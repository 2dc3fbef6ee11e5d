"""Reminders of the reports an incident still owes: the job `privacy.incident_reminders` (hourly)
raises, for each report not filed of an incident not closed, a task for the officer who
registered it and the event `incident.report_due`, once the deadline is within the report's
reminder window (`extra.privacy_incident_reminder_hours`; by default 24 hours before the GDPR
authority's 72 hours and the APPI 速報, 7 days before the 確報) or already past.

Each reminder is claimed by a conditional update of its own column (`*_reminded_at`) that succeeds
in one transaction only, which then creates the task: reruns and several workers raise it once."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ColumnElement, and_, select, true, update

from enishi.plugin import create_task

from . import deadlines
from .events import INCIDENT_REPORT_DUE
from .incidents import FILED_COLUMNS, log_step
from .models import PrivacyIncident

DEFAULT_REMINDER_HOURS = {"gdpr_authority": 24, "appi_preliminary": 24, "appi_final": 7 * 24}
TITLES = {
    "gdpr_authority": "監督機関への通知 (GDPR 第33条, 72時間)",
    "appi_preliminary": "個人情報保護委員会への速報",
    "appi_final": "個人情報保護委員会への確報",
}


def _column(kind: str, suffix: str):
    return getattr(PrivacyIncident, f"{kind}_{suffix}")


def reminder_window(settings, kind: str) -> dt.timedelta:
    hours = {**DEFAULT_REMINDER_HOURS, **settings.extra.get("privacy_incident_reminder_hours", {})}
    return dt.timedelta(hours=int(hours[kind]))


def _due(runtime, kind: str) -> ColumnElement[bool]:
    """The incidents whose `kind` report is owed, not filed, not reminded of, and due within its window."""
    horizon = runtime.clock.now() + reminder_window(runtime.settings, kind)
    return and_(
        PrivacyIncident.status != "closed",
        PrivacyIncident.appi_report_required.is_(True) if kind != "gdpr_authority" else true(),
        getattr(PrivacyIncident, FILED_COLUMNS[kind]).is_(None),
        _column(kind, "reminded_at").is_(None),
        _column(kind, "due_at") <= horizon,
    )


async def due_reminders(runtime) -> list[tuple[uuid.UUID, str]]:
    async with runtime.read_session() as session:
        return [
            (incident_id, kind)
            for kind in DEFAULT_REMINDER_HOURS
            for incident_id in await session.scalars(
                select(PrivacyIncident.id).where(_due(runtime, kind)).order_by(PrivacyIncident.id)
            )
        ]


async def remind_incidents(runtime) -> int:
    """The scheduled job: every reminder due now."""
    return await remind(runtime, await due_reminders(runtime))


async def remind(runtime, pending: list[tuple[uuid.UUID, str]]) -> int:
    """Raise the reminders in `pending` (a list that may be stale: another worker may have raised
    some since); returns how many this call raised."""
    raised = 0
    for incident_id, kind in pending:
        async with runtime.unit_of_work() as uow:
            claimed = await uow.session.execute(
                update(PrivacyIncident)
                .where(PrivacyIncident.id == incident_id, _due(runtime, kind))
                .values({_column(kind, "reminded_at"): uow.clock.now()})
            )
            if not claimed.rowcount:
                continue  # another worker raised it, or the report was filed meanwhile
            incident = await uow.session.get_one(PrivacyIncident, incident_id, populate_existing=True)
            due: dt.datetime = getattr(incident, f"{kind}_due_at")
            # The 72 hours end at a minute; the APPI reports at the end of a day, which is named.
            deadline = (
                f"{due.astimezone(uow.settings.zone):%Y-%m-%d %H:%M}"
                if kind == "gdpr_authority"
                else deadlines.due_day(uow.settings, due).isoformat()
            )
            await create_task(
                uow,
                {
                    "title": f"{TITLES[kind]}: {incident.title} (期限 {deadline})",
                    "assignee_id": incident.created_by,
                    "due_at": due,
                },
            )
            await log_step(uow, incident, "reminder", kind, note=f"期限 {deadline}")
            await uow.emit(INCIDENT_REPORT_DUE, incident.id, {"kind": kind, "due_at": due.isoformat()})
            raised += 1
    return raised

"""Personal-data breaches: the incident register, what each incident owes and by when, the
people it affected and their notice, and the timeline that proves what was filed when.

The deadlines (all from when the business became aware, `aware_at`):

* GDPR Art. 33(1): the supervisory authority within 72 hours — the instant, to the minute.
* APPI 速報 (規則第8条第1項: 「速やかに」; the PPC's guidance: 概ね3～5日以内): a target of
  `extra.privacy_appi_preliminary_days` days (3 by default), counted in calendar days in the
  business's time zone with the day of awareness not counted (民法第140条), due at the end of the
  last day: aware Monday 2 June 10:00 → by the end of Thursday 5 June.
* APPI 確報 (規則第8条第2項): 30 days, or 60 when the breach was (or may have been) for an unlawful
  purpose (規則第7条第3号), counted the same way: aware 2 June → 2 July, or 1 August when
  malicious. The last day is not moved off weekends or holidays: file before it.

APPI reporting applies when one of 規則第7条's triggers does — 要配慮個人情報, a risk of financial
harm, an unlawful purpose, more than 1,000 people — unless the data was protected by strong
encryption whose keys did not leak (the exemption in 第7条第1号 and the PPC's guidance)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from enishi.plugin import Checker, Contact, ContactEmail, UnitOfWork, send_for_event

from . import deadlines
from .events import (
    INCIDENT_CREATED,
    INCIDENT_REPORT_RECORDED,
    INCIDENT_STATUS_CHANGED,
    INCIDENT_SUBJECT_NOTICE,
)
from .models import (
    INCIDENT_CAUSES,
    INCIDENT_STATUSES,
    REPORT_KINDS,
    PrivacyAccessLog,
    PrivacyIncident,
    PrivacyIncidentEvent,
    PrivacyIncidentSubject,
)
from .service import fail

GDPR_AUTHORITY_WINDOW = dt.timedelta(hours=72)
DEFAULT_APPI_PRELIMINARY_DAYS = 3
APPI_FINAL_DAYS, APPI_FINAL_DAYS_MALICIOUS = 30, 60
APPI_PEOPLE_THRESHOLD = 1000  # 規則第7条第4号: 「1,000人を超える」
MAX_CATEGORIES = 30
TRIGGERS = ("sensitive_data", "financial_harm", "malicious", "over_1000_people")
# The report each kind of filing closes, by its column on the incident.
FILED_COLUMNS = {
    "gdpr_authority": "gdpr_authority_filed_at",
    "appi_preliminary": "appi_preliminary_filed_at",
    "appi_final": "appi_final_filed_at",
    "subjects_notified": "subjects_notified_at",
}
STATUS_MOVES = {"open": ("contained", "closed"), "contained": ("open", "closed"), "closed": ()}


def appi_preliminary_days(settings) -> int:
    return int(settings.extra.get("privacy_appi_preliminary_days", DEFAULT_APPI_PRELIMINARY_DAYS))


def _days_after(settings, instant: dt.datetime, days: int) -> dt.datetime:
    """The end of the `days`-th day after the one `instant` falls on, in the business's zone."""
    return deadlines.end_of(settings, instant.astimezone(settings.zone).date() + dt.timedelta(days=days))


def triggers(incident: PrivacyIncident) -> list[str]:
    """Which of APPI 規則第7条's reporting triggers apply, in the rule's order."""
    found = {
        "sensitive_data": incident.sensitive_data,
        "financial_harm": incident.financial_harm_risk,
        "malicious": incident.malicious,
        "over_1000_people": incident.affected_count > APPI_PEOPLE_THRESHOLD,
    }
    return [name for name in TRIGGERS if found[name]]


def appi_exempt(incident: PrivacyIncident) -> bool:
    return incident.encrypted and incident.keys_safe


def _schedule(settings, incident: PrivacyIncident) -> None:
    incident.gdpr_authority_due_at = incident.aware_at + GDPR_AUTHORITY_WINDOW
    incident.appi_preliminary_due_at = _days_after(settings, incident.aware_at, appi_preliminary_days(settings))
    final_days = APPI_FINAL_DAYS_MALICIOUS if incident.malicious else APPI_FINAL_DAYS
    incident.appi_final_due_at = _days_after(settings, incident.aware_at, final_days)
    incident.appi_report_required = bool(triggers(incident)) and not appi_exempt(incident)


def owed(incident: PrivacyIncident) -> list[tuple[str, dt.datetime]]:
    """The reports this incident owes and their due instants (filed or not)."""
    steps = [("gdpr_authority", incident.gdpr_authority_due_at)]
    if incident.appi_report_required:
        steps += [("appi_preliminary", incident.appi_preliminary_due_at), ("appi_final", incident.appi_final_due_at)]
    return steps


async def log_step(uow: UnitOfWork, incident: PrivacyIncident, kind: str, detail: str, **values) -> None:
    """A step on the incident's timeline, with who took it."""
    uow.session.add(
        PrivacyIncidentEvent(
            incident_id=incident.id, kind=kind, detail=detail, actor_id=uow.actor_id, at=uow.clock.now(), **values
        )
    )
    await uow.session.flush()


async def _existing_contacts(uow: UnitOfWork, check: Checker, contact_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(contact_ids))
    found = set((await uow.session.execute(select(Contact.id).where(Contact.id.in_(wanted)))).scalars()) if wanted else set()
    if missing := [c for c in wanted if c not in found]:
        check.fail("contactIds", f"no such contact ({len(missing)} of {len(wanted)})", "NOT_FOUND")
    return wanted


async def create(uow: UnitOfWork, data: dict) -> PrivacyIncident:
    """Register an incident; `data` holds UTC instants (the API refused times without an offset)."""
    check = Checker()
    title = check.text(data, "title", max_length=200, required=True)
    cause = check.choice(data, "cause", INCIDENT_CAUSES)
    if cause is None and data.get("cause") is None:
        check.fail("cause", "is required", "REQUIRED")
    affected = check.non_negative(data, "affected_count")
    discovered, aware, now = data["discovered_at"], data["aware_at"], uow.clock.now()
    if aware < discovered:
        check.fail(
            "awareAt", "must not be before discoveredAt: the business cannot know of a breach not yet found", "OUT_OF_RANGE"
        )
    for field, instant in (("discoveredAt", discovered), ("awareAt", aware)):
        if instant > now:
            check.fail(field, "must not be in the future", "OUT_OF_RANGE")
    categories = [c.strip() for c in data.get("data_categories") or []]
    if len(categories) > MAX_CATEGORIES or any(not c or len(c) > 60 for c in categories):
        check.fail("dataCategories", f"at most {MAX_CATEGORIES} non-blank names of up to 60 characters", "INVALID_VALUE")
    if data.get("keys_safe") and not data.get("encrypted"):
        check.fail("keysSafe", "only data that was encrypted has keys to keep safe", "INVALID_VALUE")
    subjects = await _existing_contacts(uow, check, data.get("contact_ids") or [])
    check.done()
    assert title is not None and cause is not None and affected is not None  # refused above when missing
    incident = PrivacyIncident(
        title=title,
        status="open",
        cause=cause,
        malicious=bool(data.get("malicious")),
        discovered_at=discovered,
        aware_at=aware,
        data_categories=list(dict.fromkeys(categories)),
        sensitive_data=bool(data.get("sensitive_data")),
        financial_harm_risk=bool(data.get("financial_harm_risk")),
        affected_count=affected,
        encrypted=bool(data.get("encrypted")),
        keys_safe=bool(data.get("keys_safe")),
        created_by=uow.actor_id,
        created_at=now,
    )
    _schedule(uow.settings, incident)
    uow.session.add(incident)
    await uow.session.flush()
    uow.session.add_all(PrivacyIncidentSubject(incident_id=incident.id, contact_id=c) for c in subjects)
    await log_step(uow, incident, "created", "open", note=f"{len(subjects)} subject(s) named")
    await uow.emit(
        INCIDENT_CREATED, incident.id, {"cause": cause, "malicious": incident.malicious, "triggers": triggers(incident)}
    )
    return incident


async def load(uow: UnitOfWork, incident_id) -> PrivacyIncident:
    incident = (
        await uow.session.execute(select(PrivacyIncident).where(PrivacyIncident.id == incident_id).with_for_update())
    ).scalar_one_or_none()
    if incident is None:
        raise fail("incidentId", "no such incident", "NOT_FOUND")
    return incident


async def record_report(uow: UnitOfWork, incident_id, data: dict) -> PrivacyIncident:
    """A report filed (to the authority, the PPC) or the people notified, once per kind."""
    check = Checker()
    kind = check.choice(data, "kind", REPORT_KINDS)
    reference = check.text(data, "reference", max_length=200)
    note = check.text(data, "note", max_length=1000)
    filed_at = data.get("filed_at") or uow.clock.now()
    if filed_at > uow.clock.now():
        check.fail("filedAt", "must not be in the future", "OUT_OF_RANGE")
    check.done()
    assert kind is not None  # the API's enum requires it, and check.choice refused anything else
    incident = await load(uow, incident_id)
    if filed_at < incident.aware_at:
        raise fail("filedAt", "must not be before the business became aware of the incident", "OUT_OF_RANGE")
    if getattr(incident, FILED_COLUMNS[kind]) is not None:
        raise fail("kind", "this report was recorded already", "ALREADY_RECORDED")
    setattr(incident, FILED_COLUMNS[kind], filed_at)
    await log_step(uow, incident, "report", kind, reference=reference, note=note)
    await uow.emit(INCIDENT_REPORT_RECORDED, incident.id, {"kind": kind, "filed_at": filed_at.isoformat()})
    return incident


async def change_status(uow: UnitOfWork, incident_id, status: str, note: str | None) -> PrivacyIncident:
    check = Checker()
    check.choice({"status": status}, "status", INCIDENT_STATUSES)
    note = check.text({"note": note}, "note", max_length=1000)
    check.done()
    incident = await load(uow, incident_id)
    if status not in STATUS_MOVES[incident.status]:
        raise fail("status", f"an incident that is {incident.status} cannot become {status}", "INVALID_STATUS")
    incident.status = status
    await log_step(uow, incident, "status", status, note=note)
    await uow.emit(INCIDENT_STATUS_CHANGED, incident.id, {"status": status})
    return incident


async def add_subjects_from_access_log(uow: UnitOfWork, incident_id, user_id, since: dt.datetime, until: dt.datetime):
    """The people whose data a (compromised) user read or exported in [since, until), from the
    access log, added to the incident: who is affected when an account was misused."""
    if until <= since:
        raise fail("until", "must be after since", "OUT_OF_RANGE")
    incident = await load(uow, incident_id)
    read = set(
        (
            await uow.session.execute(
                select(PrivacyAccessLog.contact_id).where(
                    PrivacyAccessLog.user_id == user_id, PrivacyAccessLog.at >= since, PrivacyAccessLog.at < until
                )
            )
        ).scalars()
    )
    known = set(
        (
            await uow.session.execute(
                select(PrivacyIncidentSubject.contact_id).where(PrivacyIncidentSubject.incident_id == incident.id)
            )
        ).scalars()
    )
    added = sorted(read - known)
    uow.session.add_all(PrivacyIncidentSubject(incident_id=incident.id, contact_id=c) for c in added)
    await log_step(uow, incident, "subjects_added", str(len(added)), note="from the access log")
    return incident


async def subject_ids(session, incident_id) -> list[uuid.UUID]:
    return list(
        (
            await session.execute(
                select(PrivacyIncidentSubject.contact_id)
                .where(PrivacyIncidentSubject.incident_id == incident_id)
                .order_by(PrivacyIncidentSubject.contact_id)
            )
        ).scalars()
    )


async def notify_subjects(uow: UnitOfWork, incident_id, data: dict) -> PrivacyIncident:
    """Mail the officer's notice to every affected person not told yet (through the outbox, one
    event each: `send_notice` delivers it); the first time, SUBJECTS_NOTIFIED is recorded."""
    check = Checker()
    subject = check.text(data, "subject", max_length=200, required=True)
    body = check.text(data, "body", max_length=10_000, required=True)
    check.done()
    incident = await load(uow, incident_id)
    pending = (
        (
            await uow.session.execute(
                select(PrivacyIncidentSubject).where(
                    PrivacyIncidentSubject.incident_id == incident.id, PrivacyIncidentSubject.notified_at.is_(None)
                )
            )
        )
        .scalars()
        .all()
    )
    if not pending:
        raise fail("incidentId", "every person this incident names was notified already", "NOTHING_TO_NOTIFY")
    now = uow.clock.now()
    incident.notice_subject, incident.notice_body = subject, body
    for person in pending:
        person.notified_at = now
        await uow.emit(INCIDENT_SUBJECT_NOTICE, person.contact_id, {"incident_id": str(incident.id)})
    if incident.subjects_notified_at is None:
        incident.subjects_notified_at = now
        await log_step(uow, incident, "report", "subjects_notified", note=f"{len(pending)} notified through the outbox")
        await uow.emit(INCIDENT_REPORT_RECORDED, incident.id, {"kind": "subjects_notified", "filed_at": now.isoformat()})
    else:
        await log_step(uow, incident, "subjects_notified", str(len(pending)), note="notified through the outbox")
    return incident


async def send_notice(runtime, event) -> None:
    """Mail an incident's notice to the person's primary address (the outbox delivers the event)."""
    async with runtime.read_session() as session:
        incident = await session.get(PrivacyIncident, uuid.UUID(event.payload["incident_id"]))
        email = (
            await session.execute(
                select(ContactEmail).where(ContactEmail.contact_id == event.entity_id, ContactEmail.is_primary.is_(True))
            )
        ).scalar_one_or_none()
    if incident is None or incident.notice_body is None or email is None or email.address is None:
        return  # erased since: nobody to tell
    await send_for_event(
        runtime.settings,
        event,
        to=email.address,
        subject=incident.notice_subject or "",
        body=incident.notice_body,
        data_subject=email.contact_id,
    )

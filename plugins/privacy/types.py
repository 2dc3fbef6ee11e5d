"""Privacy's GraphQL types: the consent record, the data-subject request with its runs, history
and exports, legal holds, the access log, and the inputs and payloads of the mutations. Separate
from `schema.py`, which holds the root fields that resolve to them."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Contact,
    ContactNode,
    RowsByColumn,
    User,
    UserErrorType,
    UserNode,
    load_row,
    load_rows,
    node_resolver,
    node_types_by_table,
    to_global_id,
)

from . import deadlines, incidents, intake
from . import models as orm

REQUEST_RUNS = RowsByColumn(orm.PrivacyRequestRun, orm.PrivacyRequestRun.request_id, orm.PrivacyRequestRun.position)
REQUEST_EVENTS = RowsByColumn(orm.PrivacyRequestEvent, orm.PrivacyRequestEvent.request_id, orm.PrivacyRequestEvent.seq)
REQUEST_EXPORTS = RowsByColumn(orm.PrivacyExport, orm.PrivacyExport.request_id, orm.PrivacyExport.format)


@strawberry.type
class PrivacyConsentRecord:
    purpose: str
    state: str
    notice_id: str | None
    notice_version: str | None
    source: str
    method: str | None
    captured_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> PrivacyConsentRecord:
        return cls(
            purpose=r.purpose,
            state=r.state,
            notice_id=r.notice_id,
            notice_version=r.notice_version,
            source=r.source,
            method=r.method,
            captured_at=r.captured_at,
            _row=r,
        )


@strawberry.type
class PrivacyConsentPayload:
    consent: PrivacyConsentRecord | None
    user_errors: list[UserErrorType]


@strawberry.input
class RecordConsentInput:
    contact_id: strawberry.ID
    purpose: str = strawberry.field(description="e.g. marketing, profiling, third_party_provision")
    state: str = strawberry.field(description="granted or withdrawn")
    notice_id: str | None = None
    notice_version: str | None = None
    source: str = strawberry.field(default="api", description="web_form, import, api, agent, gpc or link")
    method: str | None = None
    evidence: str | None = strawberry.field(default=None, description="Stored encrypted under the subject's key.")


@strawberry.input
class WithdrawConsentInput:
    contact_id: strawberry.ID
    purpose: str
    source: str = "agent"


# --- data-subject requests ---------------------------------------------------------------------


@strawberry.type(description="One plugin's part of a request: what it found or erased, and what it kept and why.")
class DataSubjectRequestRun:
    plugin: str
    action: str = strawberry.field(description="collect or erase")
    status: str = strawberry.field(description="pending, done or failed")
    attempts: int
    affected: JSON = strawberry.field(description='Rows per "entity:strategy", e.g. {"core_contact:anonymise": 1}.')
    retained: JSON = strawberry.field(description="Rows kept: entity, rows, basis, until, reference, legalHold.")
    error: str | None = strawberry.field(description="The failure's kind (never its message, which may quote personal data).")
    finished_at: dt.datetime | None


@strawberry.type(description="A status change, with who made it and why: the request's proof.")
class DataSubjectRequestEvent:
    status: str
    note: str | None
    at: dt.datetime
    actor: UserNode | None


@strawberry.type(description="A prepared export; download it once through `dataSubjectExportLink`.")
class DataSubjectExport:
    format: str = strawberry.field(description="json, or zip (CSV files with a UTF-8 BOM for Excel)")
    size: int
    created_at: dt.datetime
    link_expires_at: dt.datetime | None
    downloaded_at: dt.datetime | None


@strawberry.type(description="A data-subject request under the GDPR or the APPI.")
class DataSubjectRequest(relay.Node):
    id: relay.NodeID[str]
    type: str
    status: str
    regime: str
    channel: str
    received_at: dt.datetime
    due_at: dt.datetime = strawberry.field(description="The deadline: the end of the due day in the business's time zone.")
    extended: bool
    extension_reason: str | None
    decision_reason: str | None
    completed_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> DataSubjectRequest:
        return cls(
            id=str(r.id),
            type=r.type,
            status=r.status,
            regime=r.regime,
            channel=r.channel,
            received_at=r.received_at,
            due_at=r.due_at,
            extended=r.extended,
            extension_reason=r.extension_reason,
            decision_reason=r.decision_reason,
            completed_at=r.completed_at,
            _row=r,
        )

    resolve_nodes = node_resolver(orm.PrivacyRequest, "privacy.request.manage")

    @strawberry.field(description="The due day in the business's time zone.")
    def due_date(self, info: Info) -> dt.date:
        return deadlines.local_due_date(info.context.settings, self._row)

    @strawberry.field(description="Days until the due day (0 on it, negative when late).")
    def days_left(self, info: Info) -> int:
        return deadlines.days_left(info.context.settings, self._row, info.context.runtime.clock.now())

    @strawberry.field
    def overdue(self, info: Info) -> bool:
        return deadlines.is_overdue(self._row, info.context.runtime.clock.now())

    @strawberry.field
    async def contact(self, info: Info) -> ContactNode | None:
        row = await load_row(info.context, Contact, self._row.contact_id) if self._row.contact_id else None
        return ContactNode.from_row(row) if row else None

    @strawberry.field(description="What the subject asked (corrections, the verification note); decrypted for the officer.")
    async def details(self, info: Info) -> JSON:
        async with info.context.runtime.unit_of_work(info.context.viewer.user_id) as uow:
            return cast(JSON, await intake.details_of(uow, self._row))

    @strawberry.field
    async def runs(self, info: Info) -> list[DataSubjectRequestRun]:
        rows = await REQUEST_RUNS.load(info.context, self._row.id)
        return [
            DataSubjectRequestRun(
                plugin=r.plugin,
                action=r.action,
                status=r.status,
                attempts=r.attempts,
                affected=cast(JSON, r.affected or {}),
                retained=cast(JSON, r.retained or []),
                error=r.error,
                finished_at=r.finished_at,
            )
            for r in rows
        ]

    @strawberry.field
    async def history(self, info: Info) -> list[DataSubjectRequestEvent]:
        rows = await REQUEST_EVENTS.load(info.context, self._row.id)
        users = {u.id: u for u in await load_rows(info.context, User, list({r.actor_id for r in rows if r.actor_id})) if u}
        return [
            DataSubjectRequestEvent(
                status=r.status, note=r.note, at=r.at, actor=UserNode.from_row(users[r.actor_id]) if r.actor_id in users else None
            )
            for r in rows
        ]

    @strawberry.field
    async def exports(self, info: Info) -> list[DataSubjectExport]:
        rows = await REQUEST_EXPORTS.load(info.context, self._row.id)
        return [
            DataSubjectExport(
                format=r.format,
                size=r.size,
                created_at=r.created_at,
                link_expires_at=r.link_expires_at,
                downloaded_at=r.downloaded_at,
            )
            for r in rows
        ]


@strawberry.input
class DataSubjectRequestFilter:
    status: list[str] | None = None
    type: list[str] | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="Open requests past their deadline (or, false, not past it)."
    )
    contact_id: strawberry.ID | None = None


@strawberry.type(description="A legal hold: keeps one record through erasure until it ends.")
class LegalHold(relay.Node):
    id: relay.NodeID[str]
    basis: str
    reference: str | None
    until: dt.date | None
    created_at: dt.datetime
    released_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @strawberry.field
    def node_type(self, info: Info) -> str:
        return self._node_type(info)

    @strawberry.field(description="The global id of the held record.")
    def record_id(self, info: Info) -> strawberry.ID:
        return strawberry.ID(to_global_id(self._node_type(info), self._row.record_id))

    def _node_type(self, info: Info) -> str:
        # The table itself when no Node type is backed by it any more (its plugin was removed).
        return node_types_by_table(info.schema).get(self._row.entity, self._row.entity)

    @classmethod
    def from_row(cls, r) -> LegalHold:
        return cls(
            id=str(r.id),
            basis=r.basis,
            reference=r.reference,
            until=r.until,
            created_at=r.created_at,
            released_at=r.released_at,
            _row=r,
        )

    resolve_nodes = node_resolver(orm.PrivacyLegalHold, "privacy.request.manage")


@strawberry.type(description="Who read or exported a person's personal data. Hash-chained; holds no personal data.")
class AccessLogEntry:
    seq: int
    at: dt.datetime
    user: UserNode | None
    contact_id: strawberry.ID = strawberry.field(
        description="The person whose data it was (a Contact's id, kept after their erasure)."
    )
    roles: list[str]
    action: str
    purpose: str
    hash: str
    prev_hash: str


@strawberry.type
class AccessLogVerification:
    valid: bool
    entries: int
    first_broken_seq: int | None


@strawberry.type
class DataSubjectRequestPayload:
    request: DataSubjectRequest | None
    user_errors: list[UserErrorType]


@strawberry.input
class CreateDataSubjectRequestInput:
    contact_id: strawberry.ID
    type: str
    channel: str = strawberry.field(description="phone, letter, email, in_person or web")
    verification_note: str = strawberry.field(description="How the person's identity was checked.")
    received_at: dt.datetime | None = strawberry.field(default=None, description="When it really arrived (starts the clock).")
    details: str | None = None
    regime: str | None = None


@strawberry.input
class PlaceLegalHoldInput:
    contact_id: strawberry.ID
    record_id: strawberry.ID = strawberry.field(
        description="The global id of a record of a type that erasure can hold back "
        "(`legalHoldTypes`: Activity, SupportTicket, …)."
    )
    basis: str = strawberry.field(description="Why it must be kept, e.g. a statutory retention or a pending claim.")
    reference: str | None = None
    until: dt.date | None = None


@strawberry.type
class LegalHoldPayload:
    hold: LegalHold | None
    user_errors: list[UserErrorType]


@strawberry.type
class ExportLinkPayload:
    url: str | None = strawberry.field(description="Works once, for seven days. Shown only now.")
    user_errors: list[UserErrorType]


@strawberry.type
class RestrictionPayload:
    contact_id: strawberry.ID | None
    user_errors: list[UserErrorType]


@strawberry.input
class SubmitDataSubjectRequestInput:
    type: str = strawberry.field(description="access, portability, rectification, erasure, restriction, objection, appi_…")
    email: str = strawberry.field(description="An address the business knows you by: the code is sent there.")
    details: str | None = None
    regime: str | None = strawberry.field(
        default=None, description="gdpr or appi; from the type and the business's zone if omitted"
    )


@strawberry.type
class SubmitDataSubjectRequestPayload:
    request_id: strawberry.ID | None = strawberry.field(description="For verifyDataSubjectRequest, with the mailed code.")
    message: str | None
    user_errors: list[UserErrorType]


@strawberry.input
class VerifyDataSubjectRequestInput:
    request_id: strawberry.ID
    code: str


@strawberry.type
class VerifyDataSubjectRequestPayload:
    verified: bool
    user_errors: list[UserErrorType]


# --- breach incidents --------------------------------------------------------------------------


@strawberry.enum(description="A report an incident may owe, or the notice to the people affected.")
class IncidentReportKind(Enum):
    GDPR_AUTHORITY = "gdpr_authority"
    APPI_PRELIMINARY = "appi_preliminary"
    APPI_FINAL = "appi_final"
    SUBJECTS_NOTIFIED = "subjects_notified"


@strawberry.enum(description="APPI 規則第7条's reporting triggers.")
class AppiTrigger(Enum):
    SENSITIVE_DATA = "sensitive_data"
    FINANCIAL_HARM = "financial_harm"
    MALICIOUS = "malicious"
    OVER_1000_PEOPLE = "over_1000_people"


@strawberry.type(description="A report filed on an incident (or the people notified), with when.")
class IncidentReport:
    kind: IncidentReportKind
    filed_at: dt.datetime


@strawberry.type(description="One entry of an incident's timeline: created, a status change, a report, people added.")
class IncidentTimelineEntry:
    kind: str
    detail: str = strawberry.field(description="The new status, the report's kind, or how many people.")
    reference: str | None
    note: str | None
    at: dt.datetime
    actor: UserNode | None


@strawberry.type(description="A personal-data breach, what it owes and by when (docs: plugins/privacy/README.md).")
class Incident(relay.Node):
    id: relay.NodeID[str]
    title: str
    status: str = strawberry.field(description="open, contained or closed")
    cause: str
    malicious: bool
    discovered_at: dt.datetime
    aware_at: dt.datetime
    data_categories: list[str]
    sensitive_data: bool = strawberry.field(description="要配慮個人情報 were affected.")
    financial_harm_risk: bool
    affected_count: int
    encrypted: bool
    keys_safe: bool
    gdpr_authority_due_at: dt.datetime = strawberry.field(description="GDPR Art. 33: 72 hours from awareness.")
    appi_preliminary_due_at: dt.datetime = strawberry.field(description="APPI 速報 target: the end of the configured day.")
    appi_final_due_at: dt.datetime = strawberry.field(description="APPI 確報: the end of day 30, or 60 when malicious.")
    appi_report_required: bool = strawberry.field(description="A trigger applies and the encryption exemption does not.")
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> Incident:
        return cls(
            id=str(r.id),
            **{name: getattr(r, name) for name in _INCIDENT_COLUMNS},
            _row=r,
        )

    resolve_nodes = node_resolver(orm.PrivacyIncident, "privacy.incident.manage")

    @strawberry.field(description="The 確報's due day in the business's time zone.")
    def appi_final_due_date(self, info: Info) -> dt.date:
        return deadlines.due_day(info.context.settings, self._row.appi_final_due_at)

    @strawberry.field
    def appi_triggers(self) -> list[AppiTrigger]:
        return [AppiTrigger(t) for t in incidents.triggers(self._row)]

    @strawberry.field(description="Strongly encrypted and the keys safe: no APPI report or notice is owed.")
    def appi_exempt(self) -> bool:
        return incidents.appi_exempt(self._row)

    @strawberry.field
    def reports(self) -> list[IncidentReport]:
        filed = [(kind, getattr(self._row, column)) for kind, column in incidents.FILED_COLUMNS.items()]
        return [IncidentReport(kind=IncidentReportKind(kind), filed_at=at) for kind, at in filed if at is not None]

    @strawberry.field(description="The people affected, as Contact ids (kept after an erasure).")
    async def subject_ids(self, info: Info) -> list[strawberry.ID]:
        async with info.context.runtime.read_session() as session:
            return [to_global_id("Contact", c) for c in await incidents.subject_ids(session, self._row.id)]

    @strawberry.field
    async def timeline(self, info: Info) -> list[IncidentTimelineEntry]:
        rows = await INCIDENT_EVENTS.load(info.context, self._row.id)
        users = {u.id: u for u in await load_rows(info.context, User, list({r.actor_id for r in rows if r.actor_id})) if u}
        return [
            IncidentTimelineEntry(
                kind=r.kind,
                detail=r.detail,
                reference=r.reference,
                note=r.note,
                at=r.at,
                actor=UserNode.from_row(users[r.actor_id]) if r.actor_id in users else None,
            )
            for r in rows
        ]


_INCIDENT_COLUMNS = [
    name for name in Incident.__annotations__ if name not in ("id", "_row") and name in orm.PrivacyIncident.__table__.c
]
INCIDENT_EVENTS = RowsByColumn(orm.PrivacyIncidentEvent, orm.PrivacyIncidentEvent.incident_id, orm.PrivacyIncidentEvent.seq)


@strawberry.input
class CreateIncidentInput:
    title: str = strawberry.field(description="What happened, without naming the people affected.")
    cause: str = strawberry.field(
        description="unauthorized_access, malware, insider, theft, loss, misdelivery, misconfiguration, processor or other"
    )
    discovered_at: dt.datetime
    aware_at: dt.datetime = strawberry.field(description="When the business became aware: starts every deadline.")
    affected_count: int = strawberry.field(description="How many people are (or may be) affected.")
    malicious: bool = strawberry.field(default=False, description="For (or possibly for) an unlawful purpose.")
    data_categories: list[str] = strawberry.field(default_factory=list)
    sensitive_data: bool = False
    financial_harm_risk: bool = False
    encrypted: bool = strawberry.field(default=False, description="Protected by strong encryption.")
    keys_safe: bool = strawberry.field(default=False, description="The encryption keys did not leak.")
    contact_ids: list[strawberry.ID] = strawberry.field(default_factory=list, description="People known to be affected.")


@strawberry.input
class RecordIncidentReportInput:
    incident_id: strawberry.ID
    kind: IncidentReportKind
    filed_at: dt.datetime | None = strawberry.field(default=None, description="When it was filed (now if omitted).")
    reference: str | None = strawberry.field(default=None, description="The authority's receipt number.")
    note: str | None = None


@strawberry.input
class AddIncidentSubjectsFromAccessLogInput:
    incident_id: strawberry.ID
    user_id: strawberry.ID = strawberry.field(description="The account that was misused.")
    since: dt.datetime
    until: dt.datetime


@strawberry.input
class NotifyIncidentSubjectsInput:
    incident_id: strawberry.ID
    subject: str
    body: str = strawberry.field(description="The notice, the same for everyone (name no one in it).")


@strawberry.type
class IncidentPayload:
    incident: Incident | None
    user_errors: list[UserErrorType]


@strawberry.enum(description="A step owed: a report on an incident, or the answer to a data-subject request.")
class ComplianceDeadlineKind(Enum):
    GDPR_AUTHORITY = "gdpr_authority"
    APPI_PRELIMINARY = "appi_preliminary"
    APPI_FINAL = "appi_final"
    DSR_RESPONSE = "dsr_response"


@strawberry.type(description="A step owed, with its due time; `reference` is the Incident or DataSubjectRequest id.")
class ComplianceDeadline:
    kind: ComplianceDeadlineKind
    reference: strawberry.ID
    due_at: dt.datetime
    overdue: bool

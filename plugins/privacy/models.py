"""Privacy tables: the append-only consent ledger, data-subject requests with their per-plugin runs
and exports, legal holds, restrictions, third-party provision records (APPI) and the hash-chained
access log. (Subject keys are the core's: `enishi.plugin.SubjectKey`.)"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, JSONType, UTCDateTime, new_id

from . import provision_models  # noqa: F401  (privacy_recipient, which provision records name)

CONSENT_STATES = ("granted", "withdrawn")
CONSENT_SOURCES = ("web_form", "import", "api", "agent", "gpc", "link", "dsr")


class PrivacyConsent(Base):
    """One consent event. Never updated or deleted: the current state of a purpose is the
    subject's latest record for it, and the history is the proof."""

    __tablename__ = "privacy_consent"
    __table_args__ = (Index("ix_privacy_consent_subject_purpose", "contact_id", "purpose", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(10))
    notice_id: Mapped[str | None] = mapped_column(String(100))
    notice_version: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    method: Mapped[str | None] = mapped_column(String(40))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    captured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    evidence: Mapped[bytes | None] = mapped_column(LargeBinary)  # AES-GCM under the subject's key


REQUEST_TYPES = (
    "access",
    "portability",
    "rectification",
    "erasure",
    "restriction",
    "objection",
    "appi_disclosure",
    "appi_stop_use",
    "appi_stop_provision",
)
REQUEST_STATUSES = (
    "received",
    "identity_unverified",
    "pending_review",
    "approved",
    "denied",
    "in_progress",
    "awaiting_manual",
    "completed",
    "completed_with_exceptions",
    "failed",
    "canceled",
)
OPEN_STATUSES = ("received", "identity_unverified", "pending_review", "approved", "in_progress", "awaiting_manual", "failed")
REGIMES = ("gdpr", "appi")


class PrivacyRequest(Base):
    """A data-subject request. Who asked is the contact (unknown until the identity is verified);
    what was done is in its runs and its status history."""

    __tablename__ = "privacy_request"
    __table_args__ = (Index("ix_privacy_request_status_due", "status", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(30), info={"personal": False})
    status: Mapped[str] = mapped_column(String(30), info={"personal": False})
    regime: Mapped[str] = mapped_column(String(10), info={"personal": False})
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(20), info={"personal": False})  # web, email, phone, letter, in_person
    # HMAC of the normalised address given at intake: limits requests per address without keeping it.
    address_index: Mapped[str | None] = mapped_column(String(64), index=True, info={"personal": False})
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_reason: Mapped[str | None] = mapped_column(String(1000), info={"personal": False})
    # The subject's own words (what to correct, the verification note) under their key.
    details: Mapped[bytes | None] = mapped_column(LargeBinary)
    code_hash: Mapped[str | None] = mapped_column(String(64), info={"personal": False})
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    decision_reason: Mapped[str | None] = mapped_column(String(1000), info={"personal": False})
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PrivacyRequestEvent(Base):
    """Each status change of a request, with who made it: the proof of what was done and when."""

    __tablename__ = "privacy_request_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_request.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(1000))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyRequestRun(Base):
    """One plugin's part of a request (collect or erase): its status and report. A failed run is
    retried alone."""

    __tablename__ = "privacy_request_run"
    __table_args__ = (UniqueConstraint("request_id", "plugin", "action"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_request.id", ondelete="CASCADE"), index=True)
    plugin: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(10))  # collect | erase
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    affected: Mapped[dict] = mapped_column(JSONType, default=dict, info={"personal": False})
    retained: Mapped[list] = mapped_column(JSONType, default=list, info={"personal": False})
    # Only the exception's class: messages may quote personal data.
    error: Mapped[str | None] = mapped_column(String(200))
    section: Mapped[bytes | None] = mapped_column(LargeBinary)  # collected data, under the subject's key
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PrivacyExport(Base):
    """An access/portability export (JSON or CSV zip), encrypted under the subject's key, handed
    out once through an expiring link and wiped when downloaded."""

    __tablename__ = "privacy_export"
    __table_args__ = (UniqueConstraint("request_id", "format"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_request.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(10))  # json | zip
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    downloaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyLegalHold(Base):
    """Keeps one record through erasure until `until` (or until released)."""

    __tablename__ = "privacy_legal_hold"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    entity: Mapped[str] = mapped_column(String(60), info={"personal": False})  # the held record's table (enishi_holdable_types)
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    basis: Mapped[str] = mapped_column(String(300), info={"personal": False})
    reference: Mapped[str | None] = mapped_column(String(200), info={"personal": False})
    until: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PrivacyRestriction(Base):
    """A restriction of processing (GDPR Art. 18) or an APPI stop of use: while it stands only
    storage, legal claims and data-subject work touch the person."""

    __tablename__ = "privacy_restriction"

    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), info={"personal": False})  # restriction | stop_use
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyProvision(Base):
    """A record of personal data provided to a third party (APPI Art. 29), disclosed on request; or
    of an anonymised extract provided (Art. 44), which names no one: `extract_id`, no contact."""

    __tablename__ = "privacy_provision"
    __table_args__ = (Index("ix_privacy_provision_contact", "contact_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    extract_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("privacy_extract.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(300), info={"personal": False})
    purpose: Mapped[str] = mapped_column(String(200), info={"personal": False})
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    provided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The register's entry, the data items, the basis (provision_models.PROVISION_BASES), whether
    # the record is one 法第29条 does not require (exempt), and how long it must be kept (規則第21条).
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("privacy_recipient.id"), index=True)
    data_items: Mapped[list] = mapped_column(JSONType, default=list, info={"personal": False})
    basis: Mapped[str] = mapped_column(String(30), default="consent", info={"personal": False})
    legal_ground: Mapped[str | None] = mapped_column(String(1000), info={"personal": False})
    exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    country: Mapped[str | None] = mapped_column(String(2), info={"personal": False})
    record_method: Mapped[str] = mapped_column(String(20), default="individual", info={"personal": False})
    recorded_on: Mapped[dt.date | None] = mapped_column(Date)
    keep_until: Mapped[dt.date | None] = mapped_column(Date)


class PrivacyAccessLog(Base):
    """Who read or exported whose personal data, when and why. Append-only (the database refuses
    UPDATE and DELETE) and hash-chained: each entry's hash covers the previous one's. It holds ids,
    never personal data, and deliberately no foreign key: it outlives the records it speaks of."""

    __tablename__ = "privacy_access_log"
    __table_args__ = (
        Index("ix_privacy_access_log_user_seq", "user_id", "seq"),
        Index("ix_privacy_access_log_contact_user_at", "contact_id", "user_id", "at"),
        {"info": {"append_only": True}},
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    roles: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(60))
    purpose: Mapped[str] = mapped_column(String(200))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))  # unforgeable by the chain; no index (see migration privacy_0014)


INCIDENT_STATUSES = ("open", "contained", "closed")
INCIDENT_CAUSES = (
    "unauthorized_access",
    "malware",
    "insider",
    "theft",
    "loss",
    "misdelivery",
    "misconfiguration",
    "processor",
    "other",
)
REPORT_KINDS = ("gdpr_authority", "appi_preliminary", "appi_final", "subjects_notified")


class PrivacyIncident(Base):
    """A personal-data breach (GDPR Art. 33, APPI Art. 26): what happened, when the business knew,
    what it owes and by when, and what it filed. Kept regardless of erasures: it names people by
    contact id only (`PrivacyIncidentSubject`), and its own text is the officer's, about the breach."""

    __tablename__ = "privacy_incident"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200), info={"personal": False})
    status: Mapped[str] = mapped_column(String(20), info={"personal": False})
    cause: Mapped[str] = mapped_column(String(30), info={"personal": False})
    malicious: Mapped[bool] = mapped_column(Boolean)
    discovered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    aware_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    data_categories: Mapped[list] = mapped_column(JSONType, default=list, info={"personal": False})
    sensitive_data: Mapped[bool] = mapped_column(Boolean)  # 要配慮個人情報
    financial_harm_risk: Mapped[bool] = mapped_column(Boolean)
    affected_count: Mapped[int] = mapped_column(Integer)
    encrypted: Mapped[bool] = mapped_column(Boolean)
    keys_safe: Mapped[bool] = mapped_column(Boolean)
    appi_report_required: Mapped[bool] = mapped_column(Boolean)
    gdpr_authority_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    appi_preliminary_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    appi_final_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    gdpr_authority_filed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    appi_preliminary_filed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    appi_final_filed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    subjects_notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the reminder of each report was raised (incident_reminders.py): once per report.
    gdpr_authority_reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    appi_preliminary_reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    appi_final_reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The notice mailed to the people affected (the officer's template, the same for everyone).
    notice_subject: Mapped[str | None] = mapped_column(String(200), info={"personal": False})
    notice_body: Mapped[str | None] = mapped_column(String(10000), info={"personal": False})
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyIncidentSubject(Base):
    """A person an incident affected. No foreign key to the contact: the record outlives an erasure."""

    __tablename__ = "privacy_incident_subject"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_incident.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PrivacyIncidentEvent(Base):
    """An incident's timeline: its creation, status changes, reports filed, people added and notified."""

    __tablename__ = "privacy_incident_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_incident.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # created | status | report | subjects_added
    detail: Mapped[str] = mapped_column(String(60))  # the new status, the report's kind, a count
    reference: Mapped[str | None] = mapped_column(String(200))  # the authority's receipt number
    note: Mapped[str | None] = mapped_column(String(1000))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

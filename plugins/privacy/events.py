"""The privacy plugin's events. Payloads name purposes, kinds and ids, never what a person said."""

from __future__ import annotations

from enishi.plugin import EventType, PayloadField

_CONSENT = (
    PayloadField("purpose", str, "the purpose (`marketing`, …)"),
    PayloadField("source", str, "where it was captured (`web_form`, `import`, `api`, `agent`, `gpc`, `link`, `dsr`)"),
)
_KIND = PayloadField("kind", str, "`restriction` (GDPR art. 18) or `stop_use` (APPI)")

CONSENT_GRANTED = EventType("privacy.consent_granted", "contact", "A contact gave consent for a purpose.", _CONSENT)
CONSENT_WITHDRAWN = EventType("privacy.consent_withdrawn", "contact", "A contact withdrew consent for a purpose.", _CONSENT)
REQUEST_STATUS_CHANGED = EventType(
    "privacy.request_status_changed",
    "privacy_request",
    "A data-subject request moved to a new status.",
    (PayloadField("type", str, "the request's type (`access`, `erasure`, …)"), PayloadField("status", str, "its new status")),
)
VERIFICATION_CODE_ISSUED = EventType(
    "privacy.verification_code_issued",
    "privacy_request",
    "A request from the subject waits for the code mailed to the address it matched.",
    (
        PayloadField("email_id", str, "the contact email row the code is mailed to"),
        PayloadField("_code", str, "the one-time code (delivery only: forgotten once delivered)"),
    ),
    fires="in the transaction that receives the request, after it is recorded; the mail goes out from the outbox after commit",
)
RESTRICTED = EventType("privacy.restricted", "contact", "Processing of a contact was restricted.", (_KIND,))
RESTRICTION_LIFTED = EventType("privacy.restriction_lifted", "contact", "A contact's restriction was lifted.", (_KIND,))
LEGAL_HOLD_PLACED = EventType(
    "privacy.legal_hold_placed",
    "contact",
    "A legal hold now keeps one of the contact's records through erasure.",
    (
        PayloadField("entity", str, "the held record's table (`support_ticket`)"),
        PayloadField("record_id", str, "the record held"),
    ),
)
LEGAL_HOLD_RELEASED = EventType(
    "privacy.legal_hold_released",
    "contact",
    "A legal hold on one of the contact's records ended.",
    (PayloadField("hold_id", str, "the hold released"),),
)

_REPORT_KIND = PayloadField(
    "kind", str, "`gdpr_authority`, `appi_preliminary` (速報), `appi_final` (確報) or `subjects_notified`"
)
INCIDENT_CREATED = EventType(
    "incident.created",
    "privacy_incident",
    "A personal-data breach was registered.",
    (
        PayloadField("cause", str, "what caused it (`unauthorized_access`, `malware`, …)"),
        PayloadField("malicious", bool, "whether it was, or may have been, for an unlawful purpose"),
        PayloadField("triggers", list[str], "the APPI reporting triggers that apply (`malicious`, `over_1000_people`, …)"),
    ),
)
INCIDENT_REPORT_DUE = EventType(
    "incident.report_due",
    "privacy_incident",
    "A report an incident owes is not filed yet and due soon (or late), by `due_at`: a reminder.",
    (_REPORT_KIND, PayloadField("due_at", str, "when it is due (ISO 8601, UTC)")),
    fires="from the hourly job `privacy.incident_reminders`, once per report, with the officer's task, when the "
    "deadline comes within the report's reminder window (`extra.privacy_incident_reminder_hours`)",
)
INCIDENT_REPORT_RECORDED = EventType(
    "incident.report_recorded",
    "privacy_incident",
    "A report on an incident was filed, or its people were notified.",
    (_REPORT_KIND, PayloadField("filed_at", str, "when (ISO 8601, UTC)")),
)
INCIDENT_STATUS_CHANGED = EventType(
    "incident.status_changed",
    "privacy_incident",
    "An incident moved to a new status.",
    (PayloadField("status", str, "`open`, `contained` or `closed`"),),
)
INCIDENT_SUBJECT_NOTICE = EventType(
    "incident.subject_notice",
    "contact",
    "A person affected by an incident is to be told (the outbox mails the incident's notice).",
    (PayloadField("incident_id", str, "the incident"),),
)

RETENTION_APPLIED = EventType(
    "privacy.retention_applied",
    "privacy_retention_run",
    "A retention sweep anonymised or deleted a batch of records whose period had run.",
    (
        PayloadField("entity", str, "the retainable entity (`support_ticket`, `contact`, …)"),
        PayloadField("action", str, "`anonymise` or `delete`"),
        PayloadField("count", int, "how many records"),
    ),
    fires="in the batch's transaction, after the records are changed and before it commits",
)

CONSENT_EVENTS = {"granted": CONSENT_GRANTED, "withdrawn": CONSENT_WITHDRAWN}
EVENT_TYPES = [
    CONSENT_GRANTED,
    CONSENT_WITHDRAWN,
    REQUEST_STATUS_CHANGED,
    VERIFICATION_CODE_ISSUED,
    RESTRICTED,
    RESTRICTION_LIFTED,
    LEGAL_HOLD_PLACED,
    LEGAL_HOLD_RELEASED,
    INCIDENT_CREATED,
    INCIDENT_REPORT_DUE,
    INCIDENT_REPORT_RECORDED,
    INCIDENT_STATUS_CHANGED,
    INCIDENT_SUBJECT_NOTICE,
    RETENTION_APPLIED,
]

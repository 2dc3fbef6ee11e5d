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
]

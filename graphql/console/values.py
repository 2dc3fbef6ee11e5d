"""Stored values of the privacy plugin that the console's pages show, in the reader's language: the
regime, the channel, a plugin run's action and status, and the history notes the plugin writes in
English (plugins/privacy: intake.py, requests.py, execution.py, retention.py); the access log's
actions and purposes; the overview's retention entities and actions, incident statuses, report
kinds and triggers, recipient kinds and transfer routes. The stored values stay as they are; a
value or note of a form not listed here (a plugin's own entity, a person's words) is shown as written."""

from __future__ import annotations

import re
from collections.abc import Callable

from .i18n import N_

# The privacy plugin's request statuses and types (plugins/privacy/models.py; the core imports no
# plugin, so tests/console/test_console_http.py checks the two agree), with the words the pages show.
STATUS_LABELS = {
    "received": N_("received"),
    "identity_unverified": N_("identity not verified"),
    "pending_review": N_("pending review"),
    "approved": N_("approved"),
    "denied": N_("denied"),
    "in_progress": N_("in progress"),
    "awaiting_manual": N_("awaiting manual work"),
    "completed": N_("completed"),
    "completed_with_exceptions": N_("completed with exceptions"),
    "failed": N_("failed"),
    "canceled": N_("canceled"),
}
TYPE_LABELS = {
    "access": N_("access"),
    "portability": N_("portability"),
    "rectification": N_("rectification"),
    "erasure": N_("erasure"),
    "restriction": N_("restriction"),
    "objection": N_("objection"),
    "appi_disclosure": N_("APPI disclosure"),
    "appi_stop_use": N_("APPI stop of use"),
    "appi_stop_provision": N_("APPI stop of provision"),
}
REGIME_LABELS = {"gdpr": N_("GDPR"), "appi": N_("APPI (Act on the Protection of Personal Information)")}
CHANNEL_LABELS = {
    "web": N_("web form"),
    "email": N_("email"),
    "phone": N_("phone"),
    "letter": N_("letter"),
    "in_person": N_("in person"),
    "retention": N_("retention rule"),
}
RUN_LABELS = {
    "collect": N_("collect"),
    "erase": N_("erase"),
    "pending": N_("pending"),
    "done": N_("done"),
    "failed": N_("failed"),
}

# What the access log says was done (plugins/privacy: access_log.py, hooks.py, provisions.py,
# export_delivery.py, execution.py, sensitive.py).
ACCESS_ACTION_LABELS = {
    "read": N_("read"),
    "personal_data_read": N_("all personal data read"),
    "provided": N_("provided to a third party"),
    "dsr_export_prepared": N_("export prepared for a request"),
    "dsr_export_downloaded": N_("export downloaded by the person"),
    "dsr_erasure_executed": N_("erasure executed"),
    "sensitive_field_unmarked": N_("no longer marked sensitive"),
}
# The roles (enishi.auth.ROLES; tests/console/test_console_display.py checks they agree) of whoever read.
ROLE_LABELS = {
    "admin": N_("admin"),
    "manager": N_("manager"),
    "sales": N_("sales"),
    "marketing": N_("marketing"),
    "support": N_("support"),
    "compliance": N_("compliance"),
    "integration": N_("integration"),
}
# Purposes of processing and of consent that the bundled plugins name (the `purposes` of their
# personal data, consents asked for, the access log's purposes); the data subject's pages show them too.
PURPOSE_LABELS = {
    "crm": N_("managing our customer relationship"),
    "support": N_("customer support"),
    "surveys": N_("surveys"),
    "loyalty": N_("the loyalty programme"),
    "sales": N_("sales activities"),
    "marketing": N_("marketing"),
    "account_based_marketing": N_("marketing to business customers"),
    "analytics": N_("analytics"),
    "legal_obligation": N_("legal obligations"),
    "security": N_("security"),
    "sensitive_data": N_("handling sensitive personal data"),
    "third_party_provision": N_("provision to third parties"),
    "compliance_review": N_("compliance review"),
}
RETENTION_ENTITY_LABELS = {
    "contact": N_("contacts"),
    "support_ticket": N_("support tickets"),
    "loyalty_entry": N_("points ledger entries"),
}
RETENTION_ACTION_LABELS = {"ANONYMISE": N_("anonymise"), "DELETE": N_("delete")}
INCIDENT_STATUS_LABELS = {"open": N_("open"), "contained": N_("contained"), "closed": N_("closed")}
REPORT_KIND_LABELS = {
    "GDPR_AUTHORITY": N_("GDPR authority notified"),
    "APPI_PRELIMINARY": N_("APPI preliminary report (速報)"),
    "APPI_FINAL": N_("APPI final report (確報)"),
    "SUBJECTS_NOTIFIED": N_("people notified"),
}
APPI_TRIGGER_LABELS = {
    "SENSITIVE_DATA": N_("sensitive data"),
    "FINANCIAL_HARM": N_("risk of financial harm"),
    "MALICIOUS": N_("malicious"),
    "OVER_1000_PEOPLE": N_("over 1,000 people"),
}
RECIPIENT_KIND_LABELS = {
    "PROCESSOR": N_("processor (委託先)"),
    "THIRD_PARTY": N_("third party"),
    "JOINT_USER": N_("joint user"),
    "SUCCESSOR": N_("business successor"),
}
TRANSFER_ROUTE_LABELS = {
    "DOMESTIC": N_("domestic"),
    "ADEQUACY": N_("adequacy decision"),
    "EQUIVALENT_MEASURES": N_("equivalent measures"),
    "CONSENT": N_("the person's consent"),
}
EXPORT_FORMAT_LABELS = {"json": N_("JSON"), "zip": N_("ZIP")}

# Each note the plugin writes, as a pattern and its message; `channel` is translated, `note` is a
# note itself (translated in turn), other parts (plugin names, reasons) are shown as written.
NOTE_FORMS = [
    (re.compile(r"taken by an agent \((?P<channel>\w+)\)"), N_("taken by an agent (%(channel)s)")),
    (re.compile(r"received from the subject"), N_("received from the subject")),
    (re.compile(r"too many wrong verification codes"), N_("too many wrong verification codes")),
    (re.compile(r"identity verified by one-time code"), N_("identity verified by one-time code")),
    (re.compile(r"identity verified by the agent"), N_("identity verified by the agent")),
    (
        re.compile(r"(?P<note>.+); objection to direct marketing needs no review"),
        N_("%(note)s; an objection to direct marketing needs no review"),
    ),
    (re.compile(r"failed in: (?P<plugins>.+)"), N_("failed in: %(plugins)s")),
    (
        re.compile(r"apply the corrections, then complete the request"),
        N_("apply the corrections, then complete the request"),
    ),
    (
        re.compile(r"verification found personal data left in: (?P<tables>.+)"),
        N_("verification found personal data left in: %(tables)s"),
    ),
    (re.compile(r"kept under legal hold: (?P<kept>.+)"), N_("kept under legal hold: %(kept)s")),
    (
        re.compile(r"deadline extended by (?P<months>\d+) month\(s\): (?P<reason>.*)", re.DOTALL),
        N_("deadline extended by %(months)s month(s): %(reason)s"),
    ),
    (re.compile(r"done by hand"), N_("done by hand")),
    (re.compile(r"retention rule (?P<rule>\S+) \((?P<basis>.*)\)", re.DOTALL), N_("retention rule %(rule)s (%(basis)s)")),
]


def note_label(note: str | None, gettext: Callable[[str], str]) -> str:
    """A history note in the reader's language, or as written when it is not one the plugin writes."""
    if not note:
        return ""
    for pattern, message in NOTE_FORMS:
        if match := pattern.fullmatch(note):
            parts = match.groupdict()
            if "channel" in parts:
                parts["channel"] = gettext(CHANNEL_LABELS.get(parts["channel"], parts["channel"]))
            if "note" in parts:
                parts["note"] = note_label(parts["note"], gettext)
            return gettext(message) % parts
    return note


# The access log's purposes that are not one word: what a provision or a request's export or erasure
# was for (the ids are shown as stored).
ACCESS_PURPOSE_FORMS = [
    (re.compile(r"recipient:(?P<recipient>\S+)"), N_("provision to recipient %(recipient)s")),
    (
        re.compile(r"data-subject request (?P<request>\S+) \((?P<what>\w+)\)"),
        N_("data-subject request %(request)s (%(what)s)"),
    ),
]


def access_purpose_label(purpose: str, gettext: Callable[[str], str]) -> str:
    """An access-log entry's purpose in the reader's language, or as written when it is not one the
    plugins write (a field's name, a plugin's own purpose)."""
    if purpose in PURPOSE_LABELS:
        return gettext(PURPOSE_LABELS[purpose])
    for pattern, message in ACCESS_PURPOSE_FORMS:
        if match := pattern.fullmatch(purpose):
            parts = match.groupdict()
            if "what" in parts:
                what = parts["what"]
                parts["what"] = gettext({**TYPE_LABELS, **EXPORT_FORMAT_LABELS}.get(what, what))
            return gettext(message) % parts
    return purpose

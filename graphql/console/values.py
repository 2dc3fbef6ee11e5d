"""Stored values of the privacy plugin that the request page shows, in the reader's language: the
regime, the channel, a plugin run's action and status, and the history notes the plugin writes in
English (plugins/privacy: intake.py, requests.py, execution.py, retention.py). The stored values stay
as they are; a note of a form not listed here (a person's own words) is shown as written."""

from __future__ import annotations

import re
from collections.abc import Callable

from .i18n import N_

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

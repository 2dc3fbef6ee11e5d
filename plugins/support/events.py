"""The support plugin's events; each names a ticket (`entity_id` is the ticket's id)."""

from __future__ import annotations

from enishi.plugin import EventType, PayloadField

TICKET = "support_ticket"
_STATUS_CHANGE = (
    "in the transaction that changes the status, after the status change is recorded; delivered from the outbox after commit"
)
_SLA_FIELDS = (
    PayloadField("timer", str, "the SLA timer (`first_reply`, `next_reply`, `resolution`)"),
    PayloadField("level", int, "the escalation rule's level (0: a warning before the breach)"),
)
_SLA_SWEEP = (
    "in the `support.escalations` job's transaction, once per rule and timer cycle, after the firing is recorded; "
    "delivered from the outbox after commit"
)

TICKET_CREATED = EventType(
    "support.ticket_created",
    TICKET,
    "A new ticket, from any channel.",
    (PayloadField("number", int, "the ticket's number"), PayloadField("priority", str, "its priority")),
)
TICKET_UPDATED = EventType(
    "support.ticket_updated", TICKET, "A ticket's fields were edited.", (PayloadField("fields", list[str], "the fields given"),)
)
TICKET_ASSIGNED = EventType("support.ticket_assigned", TICKET, "A ticket's group or assignee changed.")
STATUS_CHANGED = EventType(
    "support.status_changed",
    TICKET,
    "A ticket's status changed.",
    (PayloadField("from", str, "the previous status"), PayloadField("to", str, "the new status")),
    fires=_STATUS_CHANGE,
)
TICKET_SOLVED = EventType(
    "support.ticket_solved",
    TICKET,
    "A ticket was solved (its CSAT survey is scheduled).",
    fires=_STATUS_CHANGE + "; before `support.status_changed`",
)
TICKET_CLOSED = EventType(
    "support.ticket_closed", TICKET, "A ticket was closed.", fires=_STATUS_CHANGE + "; before `support.status_changed`"
)
TICKET_REOPENED = EventType(
    "support.ticket_reopened",
    TICKET,
    "A solved ticket was reopened (its scheduled survey is cancelled).",
    fires=_STATUS_CHANGE + "; before `support.status_changed`",
)
ARTICLE_ADDED = EventType(
    "support.article_added",
    TICKET,
    "A reply or an internal note was added to a ticket.",
    (
        PayloadField("public", bool, "whether the requester sees it"),
        PayloadField("author", str, "who wrote it: `agent`, `customer` or `system`"),
    ),
)
FIRST_REPLIED = EventType("support.first_replied", TICKET, "The first public reply of an agent (after `support.article_added`).")
TICKETS_MERGED = EventType(
    "support.tickets_merged",
    TICKET,
    "Tickets were merged into this one.",
    (PayloadField("merged", list[str], "the ids of the tickets merged into it"),),
)
SLA_WARNING = EventType("support.sla_warning", TICKET, "An SLA timer is about to breach.", _SLA_FIELDS, fires=_SLA_SWEEP)
SLA_BREACHED = EventType("support.sla_breached", TICKET, "An SLA timer breached.", _SLA_FIELDS, fires=_SLA_SWEEP)
ESCALATED = EventType(
    "support.escalated",
    TICKET,
    "An escalation rule fired (it may reassign or raise the priority).",
    _SLA_FIELDS,
    fires=_SLA_SWEEP + "; after the ticket is reassigned or its priority raised",
)
CSAT_REQUESTED = EventType(
    "support.csat_requested",
    TICKET,
    "A satisfaction survey is due: delivery mails its link to the requester.",
    (PayloadField("_token", str, "the survey link's single-use token (delivery only: forgotten once delivered)"),),
    fires=(
        "in the `support.csat` job's transaction, after the survey is marked sent; the mail goes out from the outbox after commit"
    ),
)
CSAT_RECEIVED = EventType(
    "support.csat_received", TICKET, "The requester answered the survey.", (PayloadField("rating", int, "the rating given"),)
)

EVENT_TYPES = [
    TICKET_CREATED,
    TICKET_UPDATED,
    TICKET_ASSIGNED,
    STATUS_CHANGED,
    TICKET_SOLVED,
    TICKET_CLOSED,
    TICKET_REOPENED,
    ARTICLE_ADDED,
    FIRST_REPLIED,
    TICKETS_MERGED,
    SLA_WARNING,
    SLA_BREACHED,
    ESCALATED,
    CSAT_REQUESTED,
    CSAT_RECEIVED,
]

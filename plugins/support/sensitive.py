"""A ticket's custom fields may hold sensitive personal data about its requester (a symptom, a
disability needing an accommodation), so compliance may mark any of them sensitive with the
privacy plugin (`enishi_sensitive_capable_fields`). Marked, one is written only with the
requester's consent or a legal ground (the service puts each write to the guard), is shown only to
`crm.read_sensitive` and kept when someone without it replaces the others. Nothing else of the
plugin hands them out: tickets reach segments, health scores and extracts by counts and statuses
only, webhooks carry ids, and workflows never read sealed columns. A ticket's messages cannot be
marked: the customer's own message is data they chose to give (a consent by the PPC's reading,
通則編 3-3-2), and an agent's reply or note is free text; record 要配慮 information in a marked
custom field."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from enishi.plugin import SensitiveCapableField, UnitOfWork, unrecorded_reads

from .models import SupportTicket

TICKET_ENTITY = "support_ticket"


async def custom_field_holders(uow: UnitOfWork, field: str, marked: bool) -> list[uuid.UUID]:
    """The requesters of the tickets holding a value in `field` (`custom_fields.<key>`): each
    ticket with custom fields is opened, as the system's work rather than the officer's read.
    Tickets have no filter terms, so nothing is re-indexed either way."""
    key = field.removeprefix("custom_fields.")
    tickets = select(SupportTicket).where(SupportTicket.sealed_custom_fields.is_not(None))
    with unrecorded_reads():
        rows = (await uow.session.execute(tickets)).scalars()
        return sorted({t.requester_id for t in rows if t.requester_id is not None and key in (t.custom_fields or {})})


CAPABLE_FIELDS = [
    SensitiveCapableField(
        TICKET_ENTITY,
        "custom_fields.*",
        SupportTicket.__tablename__,
        "sealed_custom_fields",
        custom_field_holders,
        description="A ticket's custom field, about its requester.",
    )
]

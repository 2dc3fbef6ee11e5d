"""Erasing a requester: tickets stay for numbers and metrics, but lose the person and their text
(the ticket key destroyed). Separate because only the data-subject hook calls it."""

from __future__ import annotations

from sqlalchemy import select, update

from enishi.plugin import UnitOfWork, shred_records

from .models import (
    SupportArticle,
    SupportCsat,
    SupportTicket,
    SupportTicketKey,
)


async def erase_requester(uow: UnitOfWork, contact_id, kept_ticket_ids=()) -> dict:
    """Tickets stay (their numbers and metrics matter) but lose the person: requester unlinked and
    the ticket's key destroyed, so its subject, custom fields, messages (agents' replies greet
    them by name) and survey comment are unreadable for good; surveys not answered yet are
    cancelled. Their own messages on other people's tickets (as a CC) are emptied. Tickets in
    `kept_ticket_ids` (under a legal hold) stay whole."""
    kept = list(kept_ticket_ids)
    tickets = (
        (
            await uow.session.execute(
                select(SupportTicket.id).where(SupportTicket.requester_id == contact_id, SupportTicket.id.not_in(kept))
            )
        )
        .scalars()
        .all()
    )
    cc_messages = (
        await uow.session.execute(
            update(SupportArticle)
            .where(SupportArticle.author_contact_id == contact_id, SupportArticle.ticket_id.not_in([*tickets, *kept]))
            .values(sealed_body=None, author_contact_id=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
    shredded, requesters = await anonymise_tickets(uow, tickets)
    return {"support_ticket:shred": shredded, "support_article:anonymise": cc_messages, "support_ticket:anonymise": requesters}


async def anonymise_tickets(uow: UnitOfWork, tickets) -> tuple[int, int]:
    """The tickets lose their people: each ticket's key destroyed (subject, custom fields, messages
    and survey comment unreadable for good), surveys not answered yet cancelled, requester and
    message authors unlinked. Returns the keys destroyed and the requesters unlinked."""
    shredded = await shred_records(uow, SupportTicketKey.ticket_id, tickets)
    await uow.session.execute(
        update(SupportCsat)
        .where(SupportCsat.ticket_id.in_(tickets), SupportCsat.status.in_(("scheduled", "sent")))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    await uow.session.execute(
        update(SupportArticle)
        .where(SupportArticle.ticket_id.in_(tickets), SupportArticle.author_contact_id.is_not(None))
        .values(author_contact_id=None)
        .execution_options(synchronize_session=False)
    )
    requesters = (
        await uow.session.execute(
            update(SupportTicket)
            .where(SupportTicket.id.in_(tickets), SupportTicket.requester_id.is_not(None))
            .values(requester_id=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
    return shredded, requesters

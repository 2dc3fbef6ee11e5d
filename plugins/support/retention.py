"""Tickets under retention rules (`enishi_retainable_entities`): a ticket's period runs from when
it was closed. Anonymising it is what an erasure does to a requester's ticket (its key destroyed,
its people unlinked; the number and metrics stay); deleting it removes the ticket and its
messages, status history and survey."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update

from enishi.plugin import RetainableEntity, UnitOfWork

from .erasure import anonymise_tickets
from .models import SupportArticle, SupportTicket, SupportTicketKey


async def _closed_before(session, cutoff: dt.datetime, action: str, record_ids=None) -> list[tuple]:
    statement = select(SupportTicket.id, SupportTicket.requester_id).where(
        SupportTicket.status == "closed", SupportTicket.closed_at <= cutoff
    )
    if action == "anonymise":  # not yet: a key left to destroy, or a person still linked
        key_alive = select(SupportTicketKey.ticket_id).where(
            SupportTicketKey.ticket_id == SupportTicket.id, SupportTicketKey.wrapped_key.is_not(None)
        )
        statement = statement.where(key_alive.exists() | SupportTicket.requester_id.is_not(None))
    if record_ids is not None:
        statement = statement.where(SupportTicket.id.in_(list(record_ids))).with_for_update(of=SupportTicket)
    rows = await session.execute(statement.order_by(SupportTicket.closed_at, SupportTicket.id))
    return [tuple(row) for row in rows.all()]


async def _apply(uow: UnitOfWork, action: str, record_ids) -> int:
    tickets = list(record_ids)
    if action == "anonymise":
        await anonymise_tickets(uow, tickets)
        return len(tickets)
    # Messages moved here by a merge name the ticket they came from; that link is all they lose.
    await uow.session.execute(
        update(SupportArticle)
        .where(SupportArticle.merged_from_id.in_(tickets))
        .values(merged_from_id=None)
        .execution_options(synchronize_session=False)
    )
    deleted = await uow.session.execute(
        delete(SupportTicket).where(SupportTicket.id.in_(tickets)).execution_options(synchronize_session=False)
    )
    return deleted.rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult


RETAINABLE = RetainableEntity(
    "support_ticket",
    "support_ticket",
    "closed",
    ("anonymise", "delete"),
    _closed_before,
    _apply,
    description="A support ticket: anonymised, it keeps its number and metrics without its people or text.",
)

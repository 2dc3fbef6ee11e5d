"""Ledger entries under retention rules (`enishi_retainable_entities`): an entry's period runs from
when it was written (accounting law keeps books seven years). Anonymising it clears what can
name or describe the person — the sealed reason, the source reference, the idempotency key — and
keeps kind, amount and balance, so the ledger stays whole and balanced. Entries are never
deleted: each balance follows from the ones before it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from enishi.plugin import RetainableEntity, UnitOfWork

from .models import LoyaltyEntry, LoyaltyMember


async def _written_before(session, cutoff: dt.datetime, action: str, record_ids=None) -> list[tuple]:
    statement = (
        select(LoyaltyEntry.id, LoyaltyMember.contact_id)
        .join(LoyaltyMember, LoyaltyMember.id == LoyaltyEntry.member_id)
        .where(
            LoyaltyEntry.created_at <= cutoff,
            LoyaltyEntry.sealed_reason.is_not(None)
            | LoyaltyEntry.source_id.is_not(None)
            | LoyaltyEntry.idempotency_key.is_not(None),
        )
    )
    if record_ids is not None:
        statement = statement.where(LoyaltyEntry.id.in_(list(record_ids))).with_for_update(of=LoyaltyEntry)
    rows = await session.execute(statement.order_by(LoyaltyEntry.created_at, LoyaltyEntry.id))
    return [tuple(row) for row in rows.all()]


async def _anonymise(uow: UnitOfWork, action: str, record_ids) -> int:
    cleared = await uow.session.execute(
        update(LoyaltyEntry)
        .where(LoyaltyEntry.id.in_(list(record_ids)))
        .values(sealed_reason=None, source_id=None, idempotency_key=None, request_hash=None)
        .execution_options(synchronize_session=False)
    )
    return cleared.rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult


RETAINABLE = RetainableEntity(
    "loyalty_entry",
    "loyalty_entry",
    "written",
    ("anonymise",),
    _written_before,
    _anonymise,
    description="A points ledger entry: anonymised, it keeps kind, amount and balance (never deleted: balances chain).",
)

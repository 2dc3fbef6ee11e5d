"""Legal holds: records kept through an erasure while a statutory retention or a claim requires
them. Separate because holds outlive any one request: placed and released on their own, read by
every erasure."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from enishi.plugin import Checker, Contact, UnitOfWork

from .events import LEGAL_HOLD_PLACED, LEGAL_HOLD_RELEASED
from .models import PrivacyLegalHold
from .service import fail


async def active_holds(session, contact_id, today: dt.date) -> list[PrivacyLegalHold]:
    return list(
        (
            await session.execute(
                select(PrivacyLegalHold).where(
                    PrivacyLegalHold.contact_id == contact_id,
                    PrivacyLegalHold.released_at.is_(None),
                    (PrivacyLegalHold.until.is_(None)) | (PrivacyLegalHold.until >= today),
                )
            )
        ).scalars()
    )


async def place_hold(uow: UnitOfWork, contact_id, entity: str, record_id, data: dict) -> PrivacyLegalHold:
    """Keep the record `record_id` of the holdable table `entity` through erasure."""
    check = Checker()
    basis = check.text(data, "basis", max_length=300, required=True)
    reference = check.text(data, "reference", max_length=200)
    until = data.get("until")
    if until is not None and until < uow.clock.now().astimezone(uow.settings.zone).date():
        check.fail("until", "must not be in the past", "OUT_OF_RANGE")
    if await uow.session.get(Contact, contact_id) is None:
        check.fail("contactId", "no such contact", "NOT_FOUND")
    check.done()
    hold = PrivacyLegalHold(
        contact_id=contact_id,
        entity=entity,
        record_id=record_id,
        basis=basis,
        reference=reference,
        until=until,
        created_by=uow.actor_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(hold)
    await uow.session.flush()
    await uow.emit(LEGAL_HOLD_PLACED, contact_id, {"entity": entity, "record_id": str(record_id)})
    return hold


async def release_hold(uow: UnitOfWork, hold_id) -> PrivacyLegalHold:
    hold = (
        await uow.session.execute(select(PrivacyLegalHold).where(PrivacyLegalHold.id == hold_id).with_for_update())
    ).scalar_one_or_none()
    if hold is None or hold.released_at is not None:
        raise fail("id", "no such active hold", "NOT_FOUND")
    hold.released_at = uow.clock.now()
    await uow.emit(LEGAL_HOLD_RELEASED, hold.contact_id, {"hold_id": str(hold.id)})
    return hold

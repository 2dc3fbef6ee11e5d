"""Sensitive personal information (要配慮個人情報, 法第2条第3項; GDPR Art. 9): the register of
fields marked sensitive, which the core reads through `enishi_sensitive_fields` (and then keeps
them out of filter terms, exports and the view of roles without `crm.read_sensitive`), and the
guard on writing one (`enishi_field_write_guard`): acquiring such data needs the person's consent
(法第20条第2項; purpose `sensitive_data` in the consent ledger) or a legal ground recorded for
them (`recordLegalGround`, 同項各号: a law requires it, to protect a life, …). A new contact has
neither yet, so a sensitive field is written once the person exists and the basis is recorded."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from enishi.plugin import (
    Checker,
    Contact,
    InputError,
    UnitOfWork,
    UserError,
    live_ids,
    reindex_custom_field,
    reindex_unmarked_custom_field,
)

from . import access_log, service
from .provision_models import PrivacyLegalGround, PrivacySensitiveField, PrivacySensitiveFieldChange

SENSITIVE_PURPOSE = "sensitive_data"
ENTITIES = ("contact",)
CUSTOM_PREFIX = "custom_fields."


async def fields_of(session, entity: str) -> list[str]:
    return list(
        (await session.execute(select(PrivacySensitiveField.field).where(PrivacySensitiveField.entity == entity))).scalars()
    )


async def mark(uow: UnitOfWork, entity: str, field: str) -> PrivacySensitiveField:
    """Mark a field sensitive from now on; the filter terms of what people already hold in it go."""
    check = Checker()
    if entity not in ENTITIES:
        check.fail("entity", "only contacts' fields can be marked (accounts are not people)", "INVALID_ENTITY")
    key = field[len(CUSTOM_PREFIX) :] if field.startswith(CUSTOM_PREFIX) else ""
    if not key.strip() or len(key) > 100:
        check.fail("field", "name a custom field as custom_fields.<key> (at most 100 characters)", "INVALID_FIELD")
    check.done()
    taken = await uow.session.execute(
        select(PrivacySensitiveField.id).where(PrivacySensitiveField.entity == entity, PrivacySensitiveField.field == field)
    )
    if taken.first() is not None:
        raise InputError(UserError("field", "is marked sensitive already", "ALREADY_SENSITIVE"))
    row = PrivacySensitiveField(entity=entity, field=field, marked_by=uow.actor_id, marked_at=uow.clock.now())
    uow.session.add(row)
    await uow.session.flush()
    holders = await reindex_custom_field(uow, key)
    _log_change(uow, entity, field, "marked", None, holders)
    return row


async def unmark(uow: UnitOfWork, entity: str, field: str, reason: str | None) -> PrivacySensitiveFieldChange:
    """Unmark a field, with the officer's reason: its values become filterable, exportable and
    visible to every role that sees contacts again. Each person holding a value in it gets an
    access-log entry (`sensitive_field_unmarked`, purpose the field's name): their data is now
    open to more eyes."""
    check = Checker()
    why = check.text({"reason": reason}, "reason", max_length=500, required=True)
    check.done()
    row = (
        await uow.session.execute(
            select(PrivacySensitiveField).where(PrivacySensitiveField.entity == entity, PrivacySensitiveField.field == field)
        )
    ).scalar_one_or_none()
    if row is None:
        raise InputError(UserError("field", "is not marked sensitive", "NOT_SENSITIVE"))
    await uow.session.delete(row)
    await uow.session.flush()
    holders = await reindex_unmarked_custom_field(uow, field.removeprefix(CUSTOM_PREFIX))
    await access_log.append_many(uow, holders, "sensitive_field_unmarked", field)
    change = _log_change(uow, entity, field, "unmarked", why, len(holders))
    await uow.session.flush()
    return change


def _log_change(uow: UnitOfWork, entity: str, field: str, change: str, reason: str | None, holders: int):
    row = PrivacySensitiveFieldChange(
        entity=entity, field=field, change=change, reason=reason, holders=holders, actor_id=uow.actor_id, at=uow.clock.now()
    )
    uow.session.add(row)
    return row


async def has_basis(session, contact_id: uuid.UUID) -> bool:
    """Consent to `sensitive_data` stands (granted, not withdrawn, processing not restricted), or a
    legal ground is recorded."""
    if (await service.check(session, [contact_id], SENSITIVE_PURPOSE)).get(contact_id):
        return True
    ground = await session.execute(
        select(PrivacyLegalGround.seq).where(
            PrivacyLegalGround.contact_id == contact_id, PrivacyLegalGround.purpose == SENSITIVE_PURPOSE
        )
    )
    return ground.first() is not None


async def guard(uow: UnitOfWork, record_id: uuid.UUID | None, fields: list[str]) -> None:
    if record_id is None or not await has_basis(uow.session, record_id):
        raise InputError(
            UserError(
                "customFields",
                f"{', '.join(f.removeprefix(CUSTOM_PREFIX) for f in fields)}: sensitive data (要配慮個人情報) needs the "
                f"person's consent ({SENSITIVE_PURPOSE}) or a recorded legal ground first",
                "SENSITIVE_DATA_BASIS_REQUIRED",
            )
        )


async def record_legal_ground(uow: UnitOfWork, contact_id: uuid.UUID, data: dict) -> PrivacyLegalGround:
    check = Checker()
    purpose = check.text(data, "purpose", max_length=60, required=True)
    ground = check.text(data, "ground", max_length=1000, required=True)
    if not await live_ids(uow, Contact, [contact_id]):
        check.fail("contactId", "no such contact", "NOT_FOUND")
    check.done()
    row = PrivacyLegalGround(
        contact_id=contact_id, purpose=purpose, ground=ground, actor_id=uow.actor_id, recorded_at=uow.clock.now()
    )
    uow.session.add(row)
    await uow.session.flush()
    return row

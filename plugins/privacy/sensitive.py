"""Sensitive personal information (要配慮個人情報, 法第2条第3項; GDPR Art. 9): the register of
fields marked sensitive — among those the core and plugins offer (`enishi_sensitive_capable_fields`:
a contact's custom fields, a support ticket's) — which the core and the declaring plugins read
through `enishi_sensitive_fields` (and then keep them out of filter terms, segments, exports and
the view of roles without `crm.read_sensitive`), and the guard on writing one
(`enishi_field_write_guard`): acquiring such data needs each person's consent (法第20条第2項;
purpose `sensitive_data` in the consent ledger) or a legal ground recorded for them
(`recordLegalGround`, 同項各号: a law requires it, to protect a life, …). A new contact has
neither yet, so a sensitive field is written once the person exists and the basis is recorded."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from enishi.plugin import (
    Base,
    Checker,
    Contact,
    InputError,
    SensitiveCapableField,
    UnitOfWork,
    UserError,
    camel,
    live_ids,
)

from . import access_log, service
from .provision_models import PrivacyLegalGround, PrivacySensitiveField, PrivacySensitiveFieldChange

SENSITIVE_PURPOSE = "sensitive_data"
CUSTOM_PREFIX = "custom_fields."
KEYED = CUSTOM_PREFIX + "*"


async def fields_of(session, entity: str) -> list[str]:
    return list(
        (await session.execute(select(PrivacySensitiveField.field).where(PrivacySensitiveField.entity == entity))).scalars()
    )


def capable(runtime) -> list[SensitiveCapableField]:
    return [field for _, field in runtime.plugins.contributions("enishi_sensitive_capable_fields")]


def offered_name(spec: SensitiveCapableField) -> str:
    """How the API shows what may be marked: `custom_fields.<key>` for a custom-field document."""
    return spec.field.replace("*", "<key>")


def _offered(spec: SensitiveCapableField, field: str) -> bool:
    if spec.field != KEYED:
        return field == spec.field
    key = field.removeprefix(CUSTOM_PREFIX)
    return field.startswith(CUSTOM_PREFIX) and bool(key.strip()) and len(key) <= 100


def _spec(runtime, entity: str, field: str) -> SensitiveCapableField | None:
    return next((s for s in capable(runtime) if s.entity == entity and _offered(s, field)), None)


def _sealed(spec: SensitiveCapableField) -> bool:
    table = Base.metadata.tables.get(spec.table)
    return table is not None and spec.column in table.c and spec.column.startswith("sealed_")


def _checked_spec(runtime, entity: str, field: str) -> SensitiveCapableField:
    """The declaration offering `field` of `entity` for marking, or a typed refusal: an entity no
    one offers (accounts are companies, not people), a field it does not offer (a name is not
    要配慮 by nature), or one kept in clear (a marked field is always sealed)."""
    offered = capable(runtime)
    entities = sorted({s.entity for s in offered})
    check = Checker()
    if entity not in entities:
        check.fail("entity", f"fields of {', '.join(entities)} can be marked (accounts are not people)", "INVALID_ENTITY")
        check.done()
    spec = _spec(runtime, entity, field)
    if spec is None:
        names = ", ".join(offered_name(s) for s in offered if s.entity == entity)
        check.fail("field", f"name one of: {names} (a key of at most 100 characters)", "INVALID_FIELD")
    elif not _sealed(spec):
        check.fail("field", "is kept in clear by its plugin: it cannot hold sensitive data", "NOT_SEALED")
    check.done()
    assert spec is not None  # check.done() raised when it was missing
    return spec


async def mark(uow: UnitOfWork, entity: str, field: str) -> PrivacySensitiveField:
    """Mark a field sensitive from now on; the filter terms of what people already hold in it go."""
    spec = _checked_spec(uow.runtime, entity, field)
    taken = await uow.session.execute(
        select(PrivacySensitiveField.id).where(PrivacySensitiveField.entity == entity, PrivacySensitiveField.field == field)
    )
    if taken.first() is not None:
        raise InputError(UserError("field", "is marked sensitive already", "ALREADY_SENSITIVE"))
    row = PrivacySensitiveField(entity=entity, field=field, marked_by=uow.actor_id, marked_at=uow.clock.now())
    uow.session.add(row)
    await uow.session.flush()
    holders = await spec.holders(uow, field, True)
    _log_change(uow, entity, field, "marked", None, len(holders))
    return row


async def unmark(uow: UnitOfWork, entity: str, field: str, reason: str | None) -> PrivacySensitiveFieldChange:
    """Unmark a field, with the officer's reason: its values become filterable, exportable and
    visible to every role that sees the records again. Each person holding a value in it gets an
    access-log entry (`sensitive_field_unmarked`, purpose the field's name): their data is now
    open to more eyes. A field whose plugin no longer offers it (uninstalled) is unmarked with no
    one to re-index or log."""
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
    spec = _spec(uow.runtime, entity, field)
    holders = await spec.holders(uow, field, False) if spec else []
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


async def guard(uow: UnitOfWork, subject_ids: list[uuid.UUID], fields: list[str]) -> None:
    """Refuse the write unless every person the record is about has a basis; with no one named (a
    contact being created, a ticket without a requester) there is no one whose basis it could be."""
    lacking = [s for s in subject_ids if not await has_basis(uow.session, s)]
    if lacking or not subject_ids:
        names = ", ".join(f.removeprefix(CUSTOM_PREFIX) for f in fields)
        where = "customFields" if fields[0].startswith(CUSTOM_PREFIX) else camel(fields[0])
        raise InputError(
            UserError(
                where,
                f"{names}: sensitive data (要配慮個人情報) needs the person's consent ({SENSITIVE_PURPOSE}) "
                "or a recorded legal ground first",
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

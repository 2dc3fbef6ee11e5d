"""Fields holding sensitive personal data (APPI 要配慮個人情報, GDPR Art. 9), as plugins declare
them (`enishi_sensitive_fields`; the privacy plugin keeps a register of the fields compliance
marked among those `enishi_sensitive_capable_fields` offers), and what the core does about them:
a write that sets one is first put to `enishi_field_write_guard` (which may refuse it); a
contact's sensitive custom fields get no filter terms (no `customField` filter or segment finds
anyone by them), are left out of exports, and are shown only to holders of `crm.read_sensitive`.
A plugin's records get the same through the kit (`guard_sensitive_custom_fields`,
`keep_sensitive_custom_fields`, `visible_custom_fields`). Field names are `custom_fields.<key>`
for custom fields."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from ..unit_of_work import UnitOfWork

CUSTOM_PREFIX = "custom_fields."
READ_PERMISSION = "crm.read_sensitive"


async def sensitive_fields(plugins, session, entity: str) -> frozenset[str]:
    """The fields of `entity` (`"contact"`, `"support_ticket"`) some plugin marks sensitive."""
    if not plugins.implementations("enishi_sensitive_fields"):
        return frozenset()
    answers = await plugins.call("enishi_sensitive_fields", session=session, entity=entity)
    return frozenset(field for _, fields in answers for field in fields or ())


def custom_keys(fields: Collection[str]) -> frozenset[str]:
    """The custom-field keys among field names."""
    return frozenset(field[len(CUSTOM_PREFIX) :] for field in fields if field.startswith(CUSTOM_PREFIX))


async def hidden_contact_keys(uow: UnitOfWork) -> frozenset[str]:
    """The contact custom fields marked sensitive now, which no filter or index may find anyone by."""
    return custom_keys(await sensitive_fields(uow.runtime.plugins, uow.session, "contact"))


def without(custom_fields: dict | None, keys: Collection[str]) -> dict | None:
    """A custom-field document without the sensitive keys."""
    if not custom_fields or not keys:
        return custom_fields
    return {key: value for key, value in custom_fields.items() if key not in keys}


def custom_fields_written(before: dict | None, after: dict | None) -> set[str]:
    """The custom fields a write sets to a value (added or changed): clearing one is not writing it."""
    before = before or {}
    return {CUSTOM_PREFIX + key for key, value in (after or {}).items() if value is not None and before.get(key) != value}


async def guard(
    uow: UnitOfWork,
    entity: str,
    record_id: uuid.UUID | None,
    subject_ids: Collection[uuid.UUID],
    written: Collection[str],
    sensitive: Collection[str],
) -> None:
    """Put a write of sensitive fields of the record, which is about the people `subject_ids`, to
    `enishi_field_write_guard`, which raises to refuse it."""
    touched = sorted(set(written) & set(sensitive))
    if touched:
        await uow.runtime.plugins.call(
            "enishi_field_write_guard",
            uow=uow,
            entity=entity,
            record_id=record_id,
            subject_ids=sorted(set(subject_ids)),
            fields=touched,
        )


async def guard_custom_fields(
    uow: UnitOfWork,
    entity: str,
    record_id: uuid.UUID | None,
    subject_ids: Collection[uuid.UUID],
    before: dict | None,
    after: dict | None,
) -> None:
    """A write replacing a record's custom fields `before` by `after`: put to the guard when it
    sets a sensitive one (clearing one is not writing it)."""
    if written := custom_fields_written(before, after):
        await guard(
            uow, entity, record_id, subject_ids, written, await sensitive_fields(uow.runtime.plugins, uow.session, entity)
        )


async def keep_hidden(uow: UnitOfWork, entity: str, current: dict | None, sent: dict | None) -> dict | None:
    """The custom fields to store when someone who cannot see the sensitive ones replaces them:
    what they sent, over the sensitive values kept as they were (not seeing a field must not
    erase it)."""
    hidden = custom_keys(await sensitive_fields(uow.runtime.plugins, uow.session, entity))
    kept = {key: value for key, value in (current or {}).items() if key in hidden}
    return {**kept, **(sent or {})} if kept else sent

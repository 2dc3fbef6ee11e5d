"""Data keys: each person's (`SubjectKey`) and each record's own (`ActivityKey`, and plugins'
key tables made with `DataKey`), destroyed on erasure (crypto-shredding) and re-wrapped when the
key-encryption key changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import contains_eager

from .. import crypto
from ..db import Base
from ..models import Contact, ContactEmail, ContactPhone, SubjectKey
from ..sealing import DataKey
from ..unit_of_work import UnitOfWork
from .contacts import refresh_search_tokens, seal_names


async def subject_key(uow: UnitOfWork, contact_id) -> bytes | None:
    """The person's data key; None once it was destroyed (or for no such person)."""
    row = await uow.session.get(SubjectKey, contact_id)
    if row is None or row.wrapped_key is None:
        return None
    return crypto.installed().unwrap(row.kek_id, row.wrapped_key)


async def shred_records(uow: UnitOfWork, key_column, record_ids) -> int:
    """Destroy the keys of these records (`key_column` is the key table's record column, such as
    `ActivityKey.activity_id`): what was sealed under them can never be read again; the records stay."""
    key_model = key_column.class_
    result = await uow.session.execute(
        update(key_model)
        .where(key_column.in_(record_ids), key_model.wrapped_key.is_not(None))
        .values(wrapped_key=None, destroyed_at=uow.clock.now())
    )
    return result.rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult


async def rotate_keys(runtime, batch: int = 200) -> tuple[int, int]:
    """Re-wrap every live data key under the current KEK (`enishi keys rotate`), and recompute
    the person's blind indexes and search tokens, which are keyed by the KEK. Resumable: keys
    done already are skipped, and each batch commits on its own. Returns the subject keys and the
    record keys (activities', plugins') re-wrapped."""
    people = await _rotate_subject_keys(runtime, batch)
    records = 0
    for key_model in _record_key_models(runtime):
        records += await _rotate_record_keys(runtime, key_model, batch * 10)
    return people, records


def _record_key_models(runtime) -> list:
    """The key tables of the installed plugins (a table's name starts with its plugin's)."""
    owners = {info.name for info in runtime.plugins.installed()}
    return sorted(
        (
            mapper.class_
            for mapper in Base.registry.mappers
            if issubclass(mapper.class_, DataKey)
            and mapper.class_ is not SubjectKey
            and mapper.tables[0].name.split("_", 1)[0] in owners
        ),
        key=lambda model: model.__tablename__,
    )


def _stale(model):
    ring = crypto.installed()
    return model.wrapped_key.is_not(None) & ((model.kek_id != ring.current_id) | model.kek_id.is_(None))


async def _rotate_record_keys(runtime, key_model, batch: int) -> int:
    ring = crypto.installed()
    rotated = 0
    while True:
        async with runtime.unit_of_work() as uow:
            keys = (
                (await uow.session.execute(select(key_model).where(_stale(key_model)).limit(batch).with_for_update()))
                .scalars()
                .all()
            )
            for key in keys:
                key.wrapped_key, key.kek_id = crypto.wrap(ring.current, ring.unwrap(key.kek_id, key.wrapped_key)), ring.current_id
        rotated += len(keys)
        if len(keys) < batch:
            return rotated


async def _rotate_subject_keys(runtime, batch: int) -> int:
    ring = crypto.installed()
    rotated = 0
    key_relationship: Any = Contact.key  # on the class, the relationship (Sealable types `key` for rows)
    while True:
        async with runtime.unit_of_work() as uow:
            contacts = (
                (
                    await uow.session.execute(
                        select(Contact)
                        .join(key_relationship)
                        .options(contains_eager(key_relationship))
                        .where(_stale(SubjectKey))
                        .limit(batch)
                        .with_for_update()
                    )
                )
                .scalars()
                .all()
            )
            for contact in contacts:
                data_key = contact.data_key()
                seal_names(contact, {})
                for row in (contact, *await _rows(uow, ContactEmail, contact), *await _rows(uow, ContactPhone, contact)):
                    row.reindex()
                await refresh_search_tokens(uow, contact)
                contact.key.wrapped_key, contact.key.kek_id = crypto.wrap(ring.current, data_key), ring.current_id
        rotated += len(contacts)
        if len(contacts) < batch:
            return rotated


async def _rows(uow: UnitOfWork, model, contact: Contact) -> list:
    return list((await uow.session.execute(select(model).where(model.contact_id == contact.id))).scalars())

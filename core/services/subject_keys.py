"""Data keys: each contact's (`SubjectKey`) and each activity's (`ActivityKey`), destroyed on
erasure (crypto-shredding) and re-wrapped when the key-encryption key changes."""
from __future__ import annotations

from sqlalchemy import select, update

from .. import crypto
from ..models import ActivityKey, Contact, ContactEmail, ContactPhone, SubjectKey
from ..runtime import UnitOfWork
from .contacts import refresh_search_tokens, seal_names


async def subject_key(uow: UnitOfWork, contact_id) -> bytes | None:
    """The person's data key; None once it was destroyed (or for no such person)."""
    row = await uow.session.get(SubjectKey, contact_id)
    if row is None or row.wrapped_key is None:
        return None
    return crypto.installed().unwrap(row.kek_id, row.wrapped_key)


async def shred(uow: UnitOfWork, contact_id) -> int:
    """Destroy the person's data key: their ciphertexts can never be read again."""
    row = await uow.session.get(SubjectKey, contact_id, with_for_update=True)
    if row is None or row.wrapped_key is None:
        return 0
    row.wrapped_key, row.destroyed_at = None, uow.clock.now()
    await uow.session.flush()
    return 1


async def shred_activities(uow: UnitOfWork, activity_ids) -> int:
    """Destroy these activities' keys: their text can never be read again; the entries stay."""
    result = await uow.session.execute(update(ActivityKey).where(ActivityKey.activity_id.in_(activity_ids),
                                                                 ActivityKey.wrapped_key.is_not(None))
                                       .values(wrapped_key=None, destroyed_at=uow.clock.now()))
    return result.rowcount


async def rotate_keys(runtime, batch: int = 200) -> tuple[int, int]:
    """Re-wrap every live data key under the current KEK (`enishi keys rotate`), and recompute
    the person's blind indexes and search tokens, which are keyed by the KEK. Resumable: keys
    done already are skipped, and each batch commits on its own. Returns the subject keys and the
    activity keys re-wrapped."""
    return await _rotate_subject_keys(runtime, batch), await _rotate_activity_keys(runtime, batch * 10)


def _stale(model):
    ring = crypto.installed()
    return model.wrapped_key.is_not(None) & ((model.kek_id != ring.current_id) | model.kek_id.is_(None))


async def _rotate_activity_keys(runtime, batch: int) -> int:
    ring = crypto.installed()
    rotated = 0
    while True:
        async with runtime.unit_of_work() as uow:
            keys = (await uow.session.execute(select(ActivityKey).where(_stale(ActivityKey)).limit(batch).with_for_update())).scalars().all()
            for key in keys:
                key.wrapped_key, key.kek_id = crypto.wrap(ring.current, ring.unwrap(key.kek_id, key.wrapped_key)), ring.current_id
        rotated += len(keys)
        if len(keys) < batch:
            return rotated


async def _rotate_subject_keys(runtime, batch: int) -> int:
    ring = crypto.installed()
    rotated = 0
    while True:
        async with runtime.unit_of_work() as uow:
            contacts = (await uow.session.execute(
                select(Contact).join(SubjectKey, SubjectKey.contact_id == Contact.id).where(_stale(SubjectKey))
                .limit(batch).with_for_update())).unique().scalars().all()
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

"""Subject keys: the data key each contact's personal fields are sealed under (`SubjectKey`),
destroyed on erasure (crypto-shredding) and re-wrapped when the key-encryption key changes."""
from __future__ import annotations

from sqlalchemy import select

from .. import crypto
from ..models import Contact, ContactEmail, ContactPhone, SubjectKey
from ..normalize import normalize_email
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


async def rotate_keys(runtime, batch: int = 200) -> int:
    """Re-wrap every live subject key under the current KEK (`enishi keys rotate`), and recompute
    the person's blind indexes and search tokens, which are keyed by the KEK. Resumable: people
    done already are skipped, and each batch commits on its own."""
    ring = crypto.installed()
    rotated = 0
    while True:
        async with runtime.unit_of_work() as uow:
            contacts = (await uow.session.execute(
                select(Contact).join(SubjectKey, SubjectKey.contact_id == Contact.id).where(SubjectKey.wrapped_key.is_not(None),
                                      (SubjectKey.kek_id != ring.current_id) | SubjectKey.kek_id.is_(None))
                .limit(batch).with_for_update())).unique().scalars().all()
            for contact in contacts:
                data_key = contact.subject_data_key()
                seal_names(contact, {})
                for email in await _rows(uow, ContactEmail, contact):
                    email.address_index = ring.blind_index(normalize_email(email.address))
                for phone in await _rows(uow, ContactPhone, contact):
                    phone.e164_index = ring.blind_index(phone.e164)
                await refresh_search_tokens(uow, contact)
                contact.key.wrapped_key, contact.key.kek_id = crypto.wrap(ring.current, data_key), ring.current_id
        rotated += len(contacts)
        if len(contacts) < batch:
            return rotated


async def _rows(uow: UnitOfWork, model, contact: Contact) -> list:
    return list((await uow.session.execute(select(model).where(model.contact_id == contact.id))).scalars())

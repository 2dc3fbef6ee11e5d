"""The month-day index of contacts' date custom fields (`ContactCustomDateIndex`): a birthday is a
date custom field, sealed with the rest of the person's custom fields, so no SQL can select the
people born on 06-10. Beside the sealed document, each date field's month-day is kept as a blind
index (`blind_index("birth_date|06-10")`), written wherever the custom fields are (with the search
tokens: create, update, import, merge, a workflow's `update_field`, key rotation), so a yearly
date trigger finds whose day it is without opening anyone (`contacts_on_yearly_dates`).

A field counts when a contact custom-field definition gives it type `date` (its values are then
stored `YYYY-MM-DD`); a field marked sensitive is left out, as from every filter."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Collection, Iterable

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import crypto
from ..db import insert_rows
from ..models import Contact, ContactCustomDateIndex, CustomFieldDefinition
from ..sealing import unrecorded_reads
from ..unit_of_work import UnitOfWork
from .sensitive import hidden_contact_keys

LEAP_DAY = "02-29"


def month_day_term(key: str, month_day: str) -> str:
    """What is blind-indexed: the key and the month-day (`MM-DD`)."""
    return f"{key}|{month_day}"


async def date_keys(session: AsyncSession) -> set[str]:
    """The contact custom fields defined with type `date`."""
    rows = await session.scalars(
        select(CustomFieldDefinition.key).where(CustomFieldDefinition.entity == "contact", CustomFieldDefinition.type == "date")
    )
    return set(rows)


def month_day_indexes(custom_fields: dict | None, keys: Collection[str], hidden: Collection[str] = ()) -> dict[str, str]:
    """Each date field's month-day index by key, for the `keys` defined as dates but the `hidden`
    (sensitive) ones; a value that is not a date is left out."""
    ring = crypto.installed()
    indexes = {}
    for key, value in (custom_fields or {}).items():
        if key not in keys or key in hidden or not isinstance(value, str):
            continue
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            continue
        indexes[key] = ring.blind_index(month_day_term(key, day.strftime("%m-%d")))
    return indexes


async def write_date_indexes(uow: UnitOfWork, by_contact: dict[uuid.UUID, dict[str, str]], *, new: bool = False) -> None:
    """Store the month-day indexes of the given contacts (already flushed), replacing what they
    had unless they are `new`."""
    connection = await uow.session.connection()
    table: Table = ContactCustomDateIndex.__table__  # type: ignore[assignment]  # typed FromClause by SQLAlchemy; a Table
    if not new:
        await connection.execute(delete(table).where(table.c.contact_id.in_(list(by_contact))))
    rows = [
        {"contact_id": contact_id, "field": key, "md_index": index}
        for contact_id, indexes in by_contact.items()
        for key, index in indexes.items()
    ]
    await insert_rows(connection, table, rows)


async def forget_field(uow: UnitOfWork, key: str) -> None:
    """Delete every contact's index of `key` (its date definition was deleted)."""
    await uow.session.execute(delete(ContactCustomDateIndex).where(ContactCustomDateIndex.field == key))


def yearly_month_days(days: Iterable[dt.date]) -> dict[str, dt.date]:
    """Each month-day (`MM-DD`) whose yearly date falls on one of `days` → that day: its own, and
    29 February on 28 February of a year without one."""
    wanted = {day.strftime("%m-%d"): day for day in days}
    for day in list(wanted.values()):
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            wanted[LEAP_DAY] = day
    return wanted


async def contacts_on_yearly_dates(session: AsyncSession, key: str, days: Iterable[dt.date]) -> list[tuple[uuid.UUID, dt.date]]:
    """The live contacts whose date custom field `key` falls, year after year, on one of `days`
    (29 February on 28 February in other years), each with that day; found by the month-day index
    under every KEK of the ring (a key rotation midway misses nobody), nobody decrypted."""
    ring = crypto.installed()
    wanted = {
        index: day
        for month_day, day in yearly_month_days(days).items()
        for index in ring.blind_indexes(month_day_term(key, month_day))
    }
    if not wanted:
        return []
    rows = await session.execute(
        select(ContactCustomDateIndex.contact_id, ContactCustomDateIndex.md_index)
        .join(Contact, Contact.id == ContactCustomDateIndex.contact_id)
        .where(
            ContactCustomDateIndex.field == key,
            ContactCustomDateIndex.md_index.in_(list(wanted)),
            Contact.deleted_at.is_(None),
        )
        .order_by(ContactCustomDateIndex.contact_id)
    )
    return [(contact_id, wanted[index]) for contact_id, index in rows]


async def reindex_dates(runtime, batch: int = 200) -> int:
    """Rebuild every contact's month-day indexes from their sealed custom fields (`enishi db
    reindex-dates`: contacts written before the index existed, or a date field defined over values
    already stored). Opens each contact holding custom fields once, a batch per transaction (not a
    read by anyone: no access-log entry). Returns how many contacts were read."""
    done = 0
    after: uuid.UUID | None = None
    while True:
        async with runtime.unit_of_work() as uow:
            query = select(Contact).where(Contact.sealed_custom_fields.is_not(None)).order_by(Contact.id).limit(batch)
            if after is not None:
                query = query.where(Contact.id > after)
            contacts = list((await uow.session.scalars(query)).all())
            keys, hidden = await date_keys(uow.session), await hidden_contact_keys(uow)
            with unrecorded_reads():
                await write_date_indexes(uow, {c.id: month_day_indexes(c.custom_fields, keys, hidden) for c in contacts})
        done += len(contacts)
        if len(contacts) < batch:
            return done
        after = contacts[-1].id

"""What an export writes: the columns of contacts, accounts and activities, and their rows.

The columns are the importer's (`enishi import` recognises exactly these headers), so an export
re-imports to the same data. Rows are read in batches in one snapshot (REPEATABLE READ on
PostgreSQL; SQLite's read transaction is one already), so memory stays flat however many there
are. A contact's sealed fields are decrypted here, and `Sealed` records each read in
`sealing.personal_reads`: whoever runs an export hands those to `enishi_request_finished` (the
access log), as a GraphQL request does. The writers (CSV, .xlsx) are in `export_files`."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from ..contributions import ImportColumn
from ..ids import global_id
from ..models import Account, Activity, ActivityTarget, Contact, ContactAccount, ContactEmail, ContactPhone, User
from ..normalize import display_phone
from . import custom_fields
from .import_columns import CUSTOM_PREFIX, HEADERS

KINDS = ("contacts", "accounts", "activities")
BATCH = 500
# Several emails or phones in one cell, primary first.
SEPARATOR = ";"


@dataclass(frozen=True)
class Column:
    """One column: its header, and what its cells hold: `text` (kept as text everywhere, phone
    numbers included), `date`, `datetime` (Asia/Tokyo or the configured zone), `integer`, or
    `custom` (a custom field: numbers stay numbers where the file has types, anything else text)."""

    header: str
    kind: str = "text"


# The importer's fields, in this order, headed by the first spelling it reads (the one contract
# between the two: `import_columns.HEADERS`).
CONTACT_COLUMNS = tuple(
    Column(HEADERS[field][0], "date" if field == "last_contacted" else "text")
    for field in (
        "id",
        "family_name",
        "given_name",
        "family_name_kana",
        "given_name_kana",
        "email",
        "phone",
        "company",
        "department",
        "job_title",
        "postal_code",
        "address",
        "owner",
        "last_contacted",
    )
)
ACCOUNT_COLUMNS = (
    Column("ID"),
    Column("会社名"),
    Column("会社名カナ"),
    Column("ドメイン"),
    Column("業種"),
    Column("従業員数", "integer"),
    Column("親会社"),
    Column("担当"),
)
ACTIVITY_COLUMNS = (
    Column("ID"),
    Column("日時", "datetime"),
    Column("種別"),
    Column("チャネル"),
    Column("方向"),
    Column("件名"),
    Column("本文"),
    Column("担当"),
    Column("対象"),
)

Cell = str | int | float | dt.date | dt.datetime | None


@dataclass
class Table:
    """An export's columns and its rows, batch by batch (each row a list of cells in column order)."""

    columns: list[Column]
    batches: AsyncIterator[list[list[Cell]]]


def custom_cell(value: Any, is_date: bool = False) -> Cell:
    """A custom field's value as a cell: a date field's as a date (a date cell in .xlsx), text and
    numbers as they are, anything else (booleans, lists, objects) as JSON — what the import's
    coercion to the field's definition reads back."""
    if is_date and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value  # stored before the field was defined as a date: as it is
    if value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    return json.dumps(value, ensure_ascii=False)


async def snapshot(session: AsyncSession) -> None:
    """Make the session's reads one snapshot: the custom-field columns found by the first pass are
    then exactly those of the rows the second writes."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def table(
    session: AsyncSession,
    kind: str,
    condition: ColumnElement[bool],
    zone: ZoneInfo,
    plugin_columns: Sequence[ImportColumn] = (),
    hidden: Collection[str] = (),
) -> Table:
    """The export of `kind` for the records matching `condition` (a compiled filter; deleted and
    merged records are left out), read in `session` from here on. Contacts end with the columns
    plugins contribute to the import (`enishi_import_columns`) that can be exported, headed by
    their first spelling, so that their data travels in the same file; their `hidden` (sensitive)
    custom fields are left out."""
    await snapshot(session)
    if kind == "contacts":
        keys = [
            key
            for key in await _custom_keys(session, Contact, condition, lambda contact: contact.custom_fields)
            if key not in hidden
        ]
        exported = [column for column in plugin_columns if column.export is not None]
        dates = await _date_keys(session, "contact")
        columns = [*CONTACT_COLUMNS, *_custom_columns(keys, dates), *(Column(column.headers[0]) for column in exported)]
        exporters = [column.export for column in exported if column.export is not None]
        return Table(columns, _contact_rows(session, condition, zone, keys, dates, exporters))
    if kind == "accounts":
        keys = await _custom_keys(session, Account, condition, lambda account: account.custom_fields)
        dates = await _date_keys(session, "account")
        return Table([*ACCOUNT_COLUMNS, *_custom_columns(keys, dates)], _account_rows(session, condition, keys, dates))
    if kind == "activities":
        return Table(list(ACTIVITY_COLUMNS), _activity_rows(session, condition, zone))
    raise ValueError(f"unknown export kind {kind!r}")


def _custom_columns(keys: Sequence[str], dates: Collection[str]) -> list[Column]:
    return [Column(CUSTOM_PREFIX + key, "date" if key in dates else "custom") for key in keys]


async def _date_keys(session: AsyncSession, entity: str) -> frozenset[str]:
    """The custom fields defined as dates: written as dates (typed cells in .xlsx)."""
    return frozenset(key for key, rule in (await custom_fields.definitions(session, entity)).items() if rule.type == "date")


async def _pages(session: AsyncSession, model, condition, options=()) -> AsyncIterator[list]:
    """The live records matching `condition`, by id, a batch at a time; each batch leaves the
    session once the next is asked for, so memory holds one batch."""
    last: uuid.UUID | None = None
    while True:
        statement = select(model).options(*options).where(condition, model.deleted_at.is_(None)).order_by(model.id).limit(BATCH)
        if last is not None:
            statement = statement.where(model.id > last)
        rows = list((await session.execute(statement)).scalars())
        if not rows:
            return
        yield rows
        last = rows[-1].id
        session.expunge_all()


async def _custom_keys(session: AsyncSession, model, condition, fields_of: Callable[[Any], dict | None]) -> list[str]:
    """Every custom-field key of the records to export, sorted: the header is written before the
    first row, so a first pass reads only the custom fields."""
    keys: set[str] = set()
    # A contact's sealed fields need its key's columns, read in the same statement.
    columns = (Contact.sealed_custom_fields, Contact.wrapped_key, Contact.kek_id) if model is Contact else (model.custom_fields,)
    options = [load_only(*columns)]
    async for rows in _pages(session, model, condition, options):
        for row in rows:
            keys.update(fields_of(row) or {})
    return sorted(keys)


async def _owners(session: AsyncSession, user_ids: set) -> dict[uuid.UUID, str]:
    """Each owner as the importer matches them: email, else display name."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.email, User.display_name).where(User.id.in_(user_ids)))
    return {row.id: row.email or row.display_name for row in rows}


async def _by_contact(session: AsyncSession, model, ids: list[uuid.UUID]) -> dict[uuid.UUID, list]:
    """A batch's emails or phones by contact, primary first, then in their order."""
    found: dict[uuid.UUID, list] = {}
    statement = select(model).where(model.contact_id.in_(ids)).order_by(model.is_primary.desc(), model.position, model.id)
    for row in (await session.execute(statement)).scalars():
        found.setdefault(row.contact_id, []).append(row)
    return found


def _joined(values) -> str | None:
    return SEPARATOR.join(values) or None


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


async def _contact_rows(
    session: AsyncSession,
    condition,
    zone: ZoneInfo,
    keys: list[str],
    dates: Collection[str],
    exporters: Sequence[Callable[..., Any]],
) -> AsyncIterator[list[list[Cell]]]:
    async for contacts in _pages(session, Contact, condition):
        ids = [contact.id for contact in contacts]
        emails = await _by_contact(session, ContactEmail, ids)
        phones = await _by_contact(session, ContactPhone, ids)
        companies: dict[uuid.UUID, str] = {}
        for contact_id, name in await session.execute(
            select(ContactAccount.contact_id, Account.name)
            .join(Account, Account.id == ContactAccount.account_id)
            .where(ContactAccount.contact_id.in_(ids))
            .order_by(ContactAccount.is_primary.desc(), Account.name)
        ):
            companies.setdefault(contact_id, name)
        # `.all()`: a Result has `keys()`, so dict() would take it for a mapping.
        latest = (
            select(ActivityTarget.contact_id, func.max(Activity.occurred_at))
            .join(Activity, Activity.id == ActivityTarget.activity_id)
            .where(ActivityTarget.contact_id.in_(ids))
            .group_by(ActivityTarget.contact_id)
        )
        last_contacted = dict((await session.execute(latest)).all())
        owners = await _owners(session, {contact.owner_id for contact in contacts if contact.owner_id})
        plugin_cells = [await _maybe_await(export(session, ids)) for export in exporters]
        batch: list[list[Cell]] = []
        for contact in contacts:
            custom = contact.custom_fields or {}
            last = last_contacted.get(contact.id)
            batch.append(
                [
                    global_id("Contact", contact.id),
                    contact.family_name,
                    contact.given_name,
                    contact.family_name_kana,
                    contact.given_name_kana,
                    _joined(email.address for email in emails.get(contact.id, ())),
                    _joined(display_phone(phone.e164) for phone in phones.get(contact.id, ())),
                    companies.get(contact.id),
                    contact.department,
                    contact.job_title,
                    contact.postal_code,
                    contact.address,
                    owners.get(contact.owner_id) if contact.owner_id else None,
                    last.astimezone(zone).date() if last else None,
                    *(custom_cell(custom.get(key), key in dates) for key in keys),
                    *(cells.get(contact.id) for cells in plugin_cells),
                ]
            )
        yield batch


async def _account_rows(
    session: AsyncSession, condition, keys: list[str], dates: Collection[str]
) -> AsyncIterator[list[list[Cell]]]:
    async for accounts in _pages(session, Account, condition):
        parent_ids = {account.parent_id for account in accounts if account.parent_id}
        parents = dict((await session.execute(select(Account.id, Account.name).where(Account.id.in_(parent_ids)))).all())
        owners = await _owners(session, {account.owner_id for account in accounts if account.owner_id})
        yield [
            [
                global_id("Account", account.id),
                account.name,
                account.name_kana,
                account.domain,
                account.industry,
                account.employee_count,
                parents.get(account.parent_id) if account.parent_id else None,
                owners.get(account.owner_id) if account.owner_id else None,
                *(custom_cell((account.custom_fields or {}).get(key), key in dates) for key in keys),
            ]
            for account in accounts
        ]


async def _activity_rows(session: AsyncSession, condition, zone: ZoneInfo) -> AsyncIterator[list[list[Cell]]]:
    """Activities by id (the timeline has no deleted ones), each with whom it concerns."""
    last: uuid.UUID | None = None
    while True:
        statement = select(Activity).where(condition).order_by(Activity.id).limit(BATCH)
        if last is not None:
            statement = statement.where(Activity.id > last)
        activities = list((await session.execute(statement)).scalars())
        if not activities:
            return
        last = activities[-1].id
        targets: dict[uuid.UUID, list[str]] = {}
        for target in (
            await session.execute(
                select(ActivityTarget)
                .where(ActivityTarget.activity_id.in_([activity.id for activity in activities]))
                .order_by(ActivityTarget.id)
            )
        ).scalars():
            name, record = ("Contact", target.contact_id) if target.contact_id else ("Account", target.account_id)
            targets.setdefault(target.activity_id, []).append(global_id(name, str(record)))
        actors = await _owners(session, {activity.actor_id for activity in activities if activity.actor_id})
        yield [
            [
                global_id("Activity", activity.id),
                activity.occurred_at.astimezone(zone),
                activity.type,
                activity.channel,
                activity.direction,
                activity.summary,
                activity.body,
                actors.get(activity.actor_id) if activity.actor_id else None,
                _joined(targets.get(activity.id, ())),
            ]
            for activity in activities
        ]
        session.expunge_all()


async def people_exported(session: AsyncSession, kind: str, condition: ColumnElement[bool]) -> list[uuid.UUID]:
    """Whose personal data an export of `kind` matching `condition` holds: the live contacts it
    lists, or the people its activities concern (an account export holds no one's)."""
    statement: Select[Any]
    if kind == "contacts":
        statement = select(Contact.id).where(condition, Contact.deleted_at.is_(None))
    elif kind == "activities":
        statement = (
            select(ActivityTarget.contact_id)
            .join(Activity, Activity.id == ActivityTarget.activity_id)
            .join(Contact, Contact.id == ActivityTarget.contact_id)
            .where(condition, Contact.deleted_at.is_(None))
            .distinct()
        )
    else:
        return []
    return sorted(contact_id for contact_id in (await session.execute(statement)).scalars() if contact_id is not None)


def data_items(kind: str) -> list[str]:
    """The data items an export of `kind` provides: its columns' headers (custom fields as one item)."""
    columns = {"contacts": CONTACT_COLUMNS, "activities": ACTIVITY_COLUMNS}.get(kind, ())
    return [column.header for column in columns if column.header != "ID"] + (["カスタム項目"] if kind == "contacts" else [])

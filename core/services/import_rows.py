"""One row of a contact import: read and checked, matched to a contact, and written.

Matching, strongest first: the `ID` column (a contact's Enishi id, when it names a live one), an
email (`find_possible_duplicates`, the rule createContact reports by), a phone (E.164), the full
name within the same company. A matched contact gets what it lacks (empty fields filled, new
emails, phones and custom fields added, linked to the row's company if it has none); a value that
differs from a non-empty one is reported as a `CONFLICT` and kept, unless the import overwrites.
A contact an earlier row of the same file created is "merged": both rows were one person.

`最終対応日` and `メモ` become one dated note on the contact and its account; its blind index
(`ImportRow.note_key`) keeps a second import of the same row from writing it again. A row is
checked whole before it writes anything: a bad one is rejected with its problems and its cells
(sealed, for the error report), and writes nothing else."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import inspect
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from .. import crypto
from ..errors import InputError, UserError
from ..models import (
    Account,
    Activity,
    ActivityTarget,
    Contact,
    ContactAccount,
    ContactEmail,
    ContactPhone,
    ImportJob,
    ImportRow,
    User,
)
from ..normalize import InvalidPhoneNumber, company_match_name, is_valid_email, nfkc, normalize_email, normalize_phone, search_key
from ..unit_of_work import UnitOfWork
from .accounts import create_account
from .activities import MAX_BODY, log_activity
from .contacts import (
    ADDRESS_FIELDS,
    MAX_ADDRESS,
    MAX_EMAILS,
    MAX_PHONES,
    NAME_FIELDS,
    create_contact,
    find_possible_duplicates,
    update_contact,
)
from .import_columns import CUSTOM_PREFIX, IGNORED, LIST_FIELDS, Column, ColumnPlan
from .import_files import Cell, cell_text
from .import_values import parse_date, split_full_name, split_values

TEXT_FIELDS = (*NAME_FIELDS, "job_title", "department", *ADDRESS_FIELDS)
MAX_TEXT = {"company": 300, "memo": MAX_BODY, **dict.fromkeys(ADDRESS_FIELDS, MAX_ADDRESS)}
SUMMARY_LENGTH = 500
NOTE_SUMMARY = "最終対応"  # a dated row without a memo: the note says only that contact was made
# A service's field (as its UserError names it) → the import field whose column to report.
_SERVICE_FIELDS = {"familyName": "family_name", "emails": "email", "phones": "phone", "owner_id": "owner"}


class RowRejected(Exception):
    def __init__(self, problems: list[dict]) -> None:
        self.problems = problems


@dataclass
class RowValues:
    """A row's values, checked: what it would write, and which column each came from."""

    contact_id: uuid.UUID | None = None
    texts: dict[str, str] = field(default_factory=dict)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)  # E.164
    company: str | None = None
    owner_id: uuid.UUID | None = None
    custom: dict = field(default_factory=dict)
    last_contacted: dt.date | None = None
    memo: str | None = None
    plugin_values: list[tuple[Column, object]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field → the header of the column it came from
    notes: list[dict] = field(default_factory=list)  # problems that do not reject the row

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


@dataclass
class RowContext:
    """What a run of an import keeps between rows: the job, its plan and options, and caches."""

    job: ImportJob
    plan: ColumnPlan
    overwrite: bool
    accounts: dict[str, uuid.UUID] = field(default_factory=dict)
    owners: dict[str, uuid.UUID | None] = field(default_factory=dict)


def _problem(column: str, code: str) -> dict:
    return {"column": column, "code": code}


def is_blank(cells: list[Cell]) -> bool:
    return not any(cell_text(cell) for cell in cells)


def _contact_id(text: str) -> uuid.UUID | None:
    """A contact's id as GraphQL gives it (base64 of `Contact:<uuid>`) or as a bare UUID."""
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    try:
        type_name, _, raw = base64.b64decode(text.encode(), validate=True).decode().partition(":")
        return uuid.UUID(raw) if type_name == "Contact" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


async def _owner(uow: UnitOfWork, context: RowContext, text: str) -> uuid.UUID | None:
    """The user a 担当 cell names, by email or display name; None when none or several do."""
    key = nfkc(text).strip()
    if key not in context.owners:
        found = list(
            (
                await uow.session.execute(
                    select(User.id).where(
                        User.is_active.is_(True), (func.lower(User.email) == key.lower()) | (User.display_name == key)
                    )
                )
            ).scalars()
        )
        context.owners[key] = found[0] if len(found) == 1 else None
    return context.owners[key]


async def read_row(uow: UnitOfWork, context: RowContext, cells: list[Cell]) -> RowValues:
    """The row's values, every cell checked; RowRejected with every problem found."""
    values, problems = RowValues(), []
    for index, cell in enumerate(cells):
        if index >= len(context.plan.columns) or context.plan.columns[index].target is None:
            if cell_text(cell):
                problems.append(_problem(_column_letter(index), "UNMAPPED_COLUMN"))
            continue
        column = context.plan.columns[index]
        text = cell_text(cell)
        if not text or column.target == IGNORED:
            continue
        try:
            await _read_cell(uow, context, values, column, cell, text)
        except InputError as error:
            problems += [_problem(column.header, e.code) for e in error.errors]
    _split_names(values)
    if not problems and not (values.contact_id or values.emails or values.phones or values.texts.get("family_name")):
        problems.append(_problem(values.column("full_name") if "full_name" in values.columns else "file", "REQUIRED"))
    if len(values.emails) > MAX_EMAILS or len(values.phones) > MAX_PHONES:
        problems.append(_problem(values.column("email" if len(values.emails) > MAX_EMAILS else "phone"), "TOO_MANY"))
    if problems:
        raise RowRejected(problems)
    return values


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return f"column {letters}"


def _invalid(code: str) -> InputError:
    return InputError(UserError(None, "invalid cell", code))


async def _read_cell(uow: UnitOfWork, context: RowContext, values: RowValues, column: Column, cell: Cell, text: str) -> None:
    target = column.target or ""
    values.columns.setdefault(target, column.header)
    if column.plugin is not None:
        if column.plugin.importable:
            checked = column.plugin.check(uow, text)  # type: ignore[misc]  # importable: both set
            values.plugin_values.append((column, await checked if inspect.isawaitable(checked) else checked))
        return
    if target.startswith(CUSTOM_PREFIX):
        values.custom[target[len(CUSTOM_PREFIX) :]] = (
            cell if isinstance(cell, (int, float)) and not isinstance(cell, bool) else text
        )
    elif target in LIST_FIELDS:
        for part in split_values(text):
            if target == "email":
                if not is_valid_email(part):
                    raise _invalid("INVALID_EMAIL")
                if normalize_email(part) not in map(normalize_email, values.emails):
                    values.emails.append(part)
            else:
                try:
                    e164 = normalize_phone(part, uow.settings.default_phone_region)
                except InvalidPhoneNumber:
                    raise _invalid("INVALID_PHONE") from None
                if e164 not in values.phones:
                    values.phones.append(e164)
    elif target == "id":
        values.contact_id = _contact_id(text)
        if values.contact_id is None:
            raise _invalid("INVALID_ID")
    elif target == "last_contacted":
        try:
            values.last_contacted = parse_date(cell)
        except (ValueError, OverflowError):
            raise _invalid("INVALID_DATE") from None
    elif target == "owner":
        values.owner_id = await _owner(uow, context, text)
        if values.owner_id is None:
            raise _invalid("UNKNOWN_USER")
    else:
        if len(text) > MAX_TEXT.get(target, 200):
            raise _invalid("TOO_LONG")
        if target == "memo":
            values.memo = f"{values.memo}\n{text}" if values.memo else text  # several memo columns: one note
        elif target == "company":
            values.company = values.company or text
        else:
            values.texts.setdefault(target, text)


def _split_names(values: RowValues) -> None:
    """A full-name column fills the family and given names that no column of their own gave."""
    for full, family, given in (
        ("full_name", "family_name", "given_name"),
        ("full_name_kana", "family_name_kana", "given_name_kana"),
    ):
        text = values.texts.pop(full, None)
        if text is None or family in values.texts or given in values.texts:
            continue
        values.texts[family], given_name, ambiguous = split_full_name(text)
        if given_name:
            values.texts[given] = given_name
        if ambiguous:
            values.notes.append(_problem(values.column(full), "NAME_NOT_SPLIT"))


async def _match(uow: UnitOfWork, values: RowValues) -> Contact | None:
    session = uow.session
    contact_id = None
    if values.contact_id is not None:
        contact_id = (
            await session.execute(select(Contact.id).where(Contact.id == values.contact_id, Contact.deleted_at.is_(None)))
        ).scalar()
    full_name = search_key(values.texts.get("family_name", "") + values.texts.get("given_name", ""))
    if contact_id is None and values.emails:
        matches = await find_possible_duplicates(session, values.emails, limit=1)
        contact_id = matches[0].contact_id if matches else None
    if contact_id is None and values.phones:
        # Colleagues share a switchboard number: a phone matches only a contact of the same family name (or none).
        for match in await find_possible_duplicates(session, (), values.phones, limit=20):
            contact = await session.get(Contact, match.contact_id)
            if contact is not None and _names_agree(contact, search_key(values.texts.get("family_name"))):
                contact_id = contact.id
                break
    if contact_id is None and full_name and values.company:
        contact_id = (
            await session.execute(
                select(Contact.id)
                .join(ContactAccount, ContactAccount.contact_id == Contact.id)
                .join(Account, Account.id == ContactAccount.account_id)
                .where(
                    Contact.name_index.in_(crypto.installed().blind_indexes(full_name)),
                    Contact.deleted_at.is_(None),
                    Account.match_name == company_match_name(values.company),
                    Account.deleted_at.is_(None),
                )
                .order_by(Contact.created_at, Contact.id)
                .limit(1)
            )
        ).scalar()
    return await session.get(Contact, contact_id) if contact_id is not None else None


def _names_agree(contact: Contact, family_name: str) -> bool:
    theirs = search_key(contact.family_name)
    return not theirs or not family_name or theirs == family_name


async def account_for(uow: UnitOfWork, context: RowContext, company: str) -> uuid.UUID:
    """The live account of that name (any legal form or width), created if there is none."""
    key = company_match_name(company)
    if key not in context.accounts:
        found = (
            await uow.session.execute(
                select(Account.id)
                .where(Account.match_name == key, Account.deleted_at.is_(None))
                .order_by(Account.created_at, Account.id)
                .limit(1)
            )
        ).scalar()
        context.accounts[key] = found or (await create_account(uow, {"name": company})).id
    return context.accounts[key]


def _same(current, new) -> bool:
    return search_key(str(current)) == search_key(str(new))


async def _update(uow: UnitOfWork, context: RowContext, contact: Contact, values: RowValues) -> tuple[bool, list[dict]]:
    """Fill what the contact lacks: whether anything changed, and the conflicts (the contact's
    values kept, unless the import overwrites)."""
    data: dict = {}
    conflicts = []

    def fill(current, new, column: str) -> bool:
        if current in (None, "") or (context.overwrite and not _same(current, new)):
            return True
        if not _same(current, new):
            conflicts.append(_problem(column, "CONFLICT"))
        return False

    for name, new in values.texts.items():
        if fill(getattr(contact, name), new, values.column(name)):
            data[name] = new
    if values.owner_id is not None and fill(contact.owner_id, values.owner_id, values.column("owner")):
        data["owner_id"] = values.owner_id
    custom = dict(contact.custom_fields or {})
    for key, new in values.custom.items():
        if fill(custom.get(key), new, values.column(CUSTOM_PREFIX + key)):
            custom[key] = new
    if custom != (contact.custom_fields or {}):
        data["custom_fields"] = custom
    emails = (await uow.session.execute(select(ContactEmail).where(ContactEmail.contact_id == contact.id))).scalars().all()
    known = {normalize_email(row.address) for row in emails}
    if new_emails := [a for a in values.emails if normalize_email(a) not in known]:
        ordered = sorted(emails, key=lambda row: row.position)
        data["emails"] = [{"address": r.address, "label": r.label, "primary": r.is_primary} for r in ordered]
        data["emails"] += [{"address": a} for a in new_emails]
    phones = (await uow.session.execute(select(ContactPhone).where(ContactPhone.contact_id == contact.id))).scalars().all()
    if new_phones := [p for p in values.phones if p not in {row.e164 for row in phones}]:
        ordered_phones = sorted(phones, key=lambda row: row.position)
        data["phones"] = [{"number": r.e164, "label": r.label, "primary": r.is_primary} for r in ordered_phones]
        data["phones"] += [{"number": p} for p in new_phones]
    if values.company:
        account_id = await account_for(uow, context, values.company)
        links = (await uow.session.execute(select(ContactAccount).where(ContactAccount.contact_id == contact.id))).scalars().all()
        if account_id not in {link.account_id for link in links}:
            if links and not context.overwrite:
                conflicts.append(_problem(values.column("company"), "CONFLICT"))
            else:
                data["accounts"] = [{"account_id": link.account_id, "primary": False} for link in links]
                data["accounts"].append({"account_id": account_id, "primary": True})
    if data:
        await update_contact(uow, contact.id, data)
    return bool(data), conflicts


async def _create(uow: UnitOfWork, context: RowContext, values: RowValues) -> Contact:
    data: dict = dict(values.texts)
    if values.emails:
        data["emails"] = [{"address": a} for a in values.emails]
    if values.phones:
        data["phones"] = [{"number": p} for p in values.phones]
    if values.owner_id is not None:
        data["owner_id"] = values.owner_id
    if values.custom:
        data["custom_fields"] = values.custom
    contact = await create_contact(uow, data)
    if values.company:
        uow.session.add(
            ContactAccount(contact_id=contact.id, account_id=await account_for(uow, context, values.company), is_primary=True)
        )
        await uow.session.flush()
    return contact


def _note_key(contact_id: uuid.UUID, values: RowValues) -> str:
    return f"note|{contact_id}|{values.last_contacted or ''}|{values.memo or ''}"


async def _note(uow: UnitOfWork, context: RowContext, contact: Contact, values: RowValues) -> str | None:
    """The row's dated note, written unless an import already wrote it; its blind index."""
    if values.last_contacted is None and not values.memo:
        return None
    ring = crypto.installed()
    key = _note_key(contact.id, values)
    if (await uow.session.execute(select(ImportRow.id).where(ImportRow.note_key.in_(ring.blind_indexes(key))).limit(1))).first():
        return None
    if not values.memo and await _contacted_since(uow, contact.id, values.last_contacted):
        return None  # a bare date the timeline already shows (an export's 最終対応日 coming back) says nothing new
    memo = values.memo or NOTE_SUMMARY
    first_line = memo.splitlines()[0] if memo.strip() else NOTE_SUMMARY
    occurred_at = (
        dt.datetime.combine(values.last_contacted, dt.time(), uow.settings.zone).astimezone(dt.UTC)
        if values.last_contacted is not None
        else uow.clock.now()
    )
    account_ids = [await account_for(uow, context, values.company)] if values.company else []
    await log_activity(
        uow,
        {
            "type": "note",
            "summary": first_line[:SUMMARY_LENGTH],
            "body": memo if memo != first_line[:SUMMARY_LENGTH] else None,
            "occurred_at": occurred_at,
            "contact_ids": [contact.id],
            "account_ids": account_ids,
        },
    )
    return ring.blind_index(key)


async def _contacted_since(uow: UnitOfWork, contact_id: uuid.UUID, day: dt.date | None) -> bool:
    """Whether the contact's timeline has an activity on `day` (in the business's time zone) or later."""
    if day is None:
        return False
    start = dt.datetime.combine(day, dt.time(), uow.settings.zone).astimezone(dt.UTC)
    found = await uow.session.execute(
        select(ActivityTarget.id)
        .join(Activity, Activity.id == ActivityTarget.activity_id)
        .where(ActivityTarget.contact_id == contact_id, Activity.occurred_at >= start)
        .limit(1)
    )
    return found.first() is not None


async def _merged_into(uow: UnitOfWork, job: ImportJob, contact_id: uuid.UUID) -> int | None:
    return (
        await uow.session.execute(
            select(ImportRow.row_number).where(
                ImportRow.import_id == job.id, ImportRow.contact_id == contact_id, ImportRow.action == "created"
            )
        )
    ).scalar()


async def import_row(uow: UnitOfWork, context: RowContext, number: int, cells: list[Cell]) -> ImportRow:
    """Import one non-blank row; the record of what it did (added to the session)."""
    job = context.job
    row = ImportRow(import_id=job.id, row_number=number, problems=[])
    row.share_key_of(job)
    values = RowValues()
    try:
        values = await read_row(uow, context, cells)
        contact = await _match(uow, values)
        changed = False
        if contact is None:
            contact, action = await _create(uow, context, values), "created"
        else:
            changed, conflicts = await _update(uow, context, contact, values)
            values.notes += conflicts
            merged_into = await _merged_into(uow, job, contact.id)
            action = "merged" if merged_into is not None else "updated"
            row.merged_into_row = merged_into
    except RowRejected as rejected:
        return _rejected(uow, row, cells, rejected.problems)
    except InputError as error:
        columns = {name: values.column(target) for name, target in _SERVICE_FIELDS.items()}
        problems = [_problem(columns.get((e.field or "").split(".")[0], e.field or "file"), e.code) for e in error.errors]
        return _rejected(uow, row, cells, problems)
    row.note_key = await _note(uow, context, contact, values)
    for column, value in values.plugin_values:
        applied = column.plugin.apply(uow, contact.id, value)  # type: ignore[union-attr,misc]  # importable plugin columns only
        changed = bool(await applied if inspect.isawaitable(applied) else applied) or changed
    if action == "updated" and not (changed or row.note_key):
        action = "unchanged"
    row.action, row.contact_id, row.problems = action, contact.id, values.notes
    uow.session.add(row)
    return row


def _rejected(uow: UnitOfWork, row: ImportRow, cells: list[Cell], problems: list[dict]) -> ImportRow:
    row.action, row.problems = "rejected", problems
    row.cells = [cell_text(cell) for cell in cells]
    uow.session.add(row)
    return row

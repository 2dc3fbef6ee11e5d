"""One row of a contact import read and checked (`read_row`): every cell read into the field its
column fills, a bad cell reported with its column and code (`RowRejected`) before the row writes
anything. `import_writes` matches and writes the rows a chunk at a time."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import inspect
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..errors import InputError, UserError
from ..models import (
    ImportJob,
    User,
)
from ..normalize import InvalidPhoneNumber, is_valid_email, nfkc, normalize_email, normalize_phone
from ..unit_of_work import UnitOfWork
from . import custom_fields
from .activities import MAX_BODY
from .contacts import (
    ADDRESS_FIELDS,
    MAX_ADDRESS,
    MAX_EMAILS,
    MAX_PHONES,
    NAME_FIELDS,
)
from .custom_fields import FieldRule
from .import_columns import CUSTOM_PREFIX, IGNORED, LIST_FIELDS, Column, ColumnPlan
from .import_files import Cell, cell_text
from .import_values import parse_date, split_full_name, split_values

TEXT_FIELDS = (*NAME_FIELDS, "job_title", "department", *ADDRESS_FIELDS)
MAX_TEXT = {"company": 300, "memo": MAX_BODY, **dict.fromkeys(ADDRESS_FIELDS, MAX_ADDRESS)}


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
    new_accounts: list[str] = field(default_factory=list)  # `accounts` the row (or chunk) being written created
    custom_fields: dict[str, FieldRule] | None = None  # the contact's definitions, read at the first custom cell


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
        key = target[len(CUSTOM_PREFIX) :]
        value = cell if isinstance(cell, (int, float, dt.date)) and not isinstance(cell, bool) else text
        if context.custom_fields is None:
            context.custom_fields = await custom_fields.definitions(uow.session, "contact")
        if (rule := context.custom_fields.get(key)) is not None:
            if custom_fields.is_blank(value):
                return
            try:  # the definition's type from the cell's text: "120" → 120, 令和6年4月1日 → "2024-04-01"
                value = custom_fields.coerce(rule, value)
            except custom_fields.Refused as refused:
                raise _invalid(refused.code) from None
        elif isinstance(value, dt.date):
            value = text  # an undefined key stays text, as before definitions
        values.custom[key] = value
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
    """A full-name column fills the family and given names that no column of their own gave;
    a problem with either (a name too long once normalised) is then reported on that column."""
    for full, family, given in (
        ("full_name", "family_name", "given_name"),
        ("full_name_kana", "family_name_kana", "given_name_kana"),
    ):
        text = values.texts.pop(full, None)
        if text is None or family in values.texts or given in values.texts:
            continue
        values.texts[family], given_name, ambiguous = split_full_name(text)
        values.columns[family] = values.columns[given] = values.column(full)
        if given_name:
            values.texts[given] = given_name
        if ambiguous:
            values.notes.append(_problem(values.column(full), "NAME_NOT_SPLIT"))

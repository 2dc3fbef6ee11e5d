"""An export as a file (CSV or .xlsx), written as its rows arrive, and the single-use links that
hand one out.

CSV is UTF-8 with a BOM by default: Japanese Excel reads a file without one as Shift_JIS and
garbles it. CP932 (Excel's Shift_JIS) is offered for older tools; a character it cannot encode is
written as 〓 (the geta mark Japanese systems print for a missing glyph) and counted, so the CLI
can say how many. .xlsx is written by openpyxl in write-only mode: dates are date cells, text
(phone numbers, ids, names) is text cells, never a number or a formula. In a CSV, a cell a
spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first) is written behind a `'`
(`import_files.escape_formula`; the import takes it off again).

A link records the request, not the file: nothing personal is kept on the server. Its token is
256-bit random and only a hash of it is stored; the request (whose filter may name a person) is
sealed under a key derived from the token, and wiped when the link is used."""

from __future__ import annotations

import asyncio
import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select

from .. import crypto
from ..auth import PermissionRegistry
from ..errors import InputError, UserError
from ..models import ExportLink, User
from ..unit_of_work import UnitOfWork
from .exports import KINDS, Cell, Table
from .import_files import escape_formula

FORMATS = ("csv", "xlsx")
# The encodings a CSV can take (Python's names); .xlsx is always UTF-8 inside.
ENCODINGS = {"utf-8": "utf-8-sig", "cp932": "cp932"}
MISSING_GLYPH = "〓"
LINK_LIFETIME = dt.timedelta(minutes=15)
LINK_PREFIX = "enishi_export_"
# What using a link needs, besides being its creator: as creating it did.
EXPORT_PERMISSIONS = ("crm.read", "crm.export")
_REQUEST_CONTEXT = b"core_export_link.request"
_ROWS_PER_CHUNK = 200
_XLSX_CHUNK = 1 << 16


def _missing_glyph(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeEncodeError)  # registered for encoding only (the export's text)
    return MISSING_GLYPH * (error.end - error.start), error.end


codecs.register_error("enishi.missing_glyph", _missing_glyph)


@dataclass
class EncodingReport:
    """What a CSV in CP932 could not hold: how many characters became 〓."""

    replaced: int = 0


def check_request(kind: str, format: str, encoding: str) -> None:
    if kind not in KINDS:
        raise InputError(UserError("kind", f"export one of: {', '.join(KINDS)}", "INVALID_KIND"))
    if format not in FORMATS:
        raise InputError(UserError("format", f"write one of: {', '.join(FORMATS)}", "INVALID_FORMAT"))
    if encoding not in ENCODINGS:
        raise InputError(UserError("encoding", f"encode CSV as one of: {', '.join(ENCODINGS)}", "INVALID_ENCODING"))
    if format == "xlsx" and encoding != "utf-8":
        raise InputError(UserError("encoding", "an .xlsx file is UTF-8 inside: leave the encoding out", "INVALID_ENCODING"))


def media_type(format: str, encoding: str) -> str:
    if format == "xlsx":
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return f"text/csv; charset={'utf-8' if encoding == 'utf-8' else 'shift_jis'}"


def render(table: Table, format: str, encoding: str = "utf-8", report: EncodingReport | None = None) -> AsyncIterator[bytes]:
    """The file's bytes, chunk by chunk, as the table's rows are read."""
    if format == "xlsx":
        return _xlsx(table)
    return _csv(table, ENCODINGS[encoding], report or EncodingReport())


def _csv_text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, (dt.date, dt.datetime)):
        return cell.isoformat()
    return escape_formula(str(cell))  # a name like `=HYPERLINK(…)` is text, never a formula


def _encode(text: str, encoding: str, report: EncodingReport) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        encoded = text.encode(encoding, errors="enishi.missing_glyph")
        report.replaced += sum(1 for character in text if not _encodable(character, encoding))
        return encoded


def _encodable(character: str, encoding: str) -> bool:
    try:
        character.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


async def _csv(table: Table, encoding: str, report: EncodingReport) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # Excel's line ends
    writer.writerow([column.header for column in table.columns])
    # "utf-8-sig" writes its BOM once per encode call: the first chunk carries it, the rest plain UTF-8.
    first, rows = True, 0
    async for batch in table.batches:
        for row in batch:
            writer.writerow([_csv_text(cell) for cell in row])
            rows += 1
            if rows % _ROWS_PER_CHUNK == 0:
                yield _encode(buffer.getvalue(), encoding if first else encoding.removesuffix("-sig"), report)
                buffer.seek(0)
                buffer.truncate()
                first = False
    yield _encode(buffer.getvalue(), encoding if first else encoding.removesuffix("-sig"), report)


async def _xlsx(table: Table) -> AsyncIterator[bytes]:
    # Imported here: openpyxl is large, and only .xlsx exports need it.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("export")
    sheet.append([column.header for column in table.columns])
    kinds = [column.kind for column in table.columns]

    def cell(value: Cell, kind: str):
        if value is None:
            return None
        if kind == "integer" or (kind == "custom" and isinstance(value, (int, float))):
            return value
        if kind == "date":
            written = WriteOnlyCell(sheet, value)
            written.number_format = "yyyy-mm-dd"
            return written
        if kind == "datetime":
            assert isinstance(value, dt.datetime)  # a datetime column's value (UTCDateTime), None handled above
            written = WriteOnlyCell(sheet, value.replace(tzinfo=None))  # Excel has no zones: the configured zone's wall time
            written.number_format = "yyyy-mm-dd hh:mm:ss"
            return written
        # Text stays text: no leading zero lost, no 1.2E+10, and `=…` is never a formula. Characters
        # a worksheet cannot hold (control characters other than tab and line ends) are left out.
        written = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", str(value)))
        written.data_type = "s"
        written.number_format = "@"
        return written

    async for batch in table.batches:
        for row in batch:
            sheet.append([cell(value, kind) for value, kind in zip(row, kinds, strict=True)])
    # Zipping the sheet is seconds of CPU for a large export: in a thread, so a server keeps
    # answering meanwhile. The zipped file (a tenth of the CSV's size) is then sent from memory.
    output = io.BytesIO()
    await asyncio.to_thread(workbook.save, output)
    data = output.getbuffer()
    for start in range(0, len(data), _XLSX_CHUNK):
        yield bytes(data[start : start + _XLSX_CHUNK])


# --- single-use links ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRequest:
    """What a link exports, for whom: the filter as the API's JSON input (None: everything)."""

    kind: str
    format: str
    encoding: str
    filter: dict | None
    actor_id: uuid.UUID


class LinkGone(Exception):
    """The link was used already, or it expired: it will never work again."""


class LinkUnknown(Exception):
    """No such link (or its creator may no longer export)."""


def _request_key(token: str) -> bytes:
    # Distinct from the stored hash (sha256 of the token alone): knowing the row opens nothing.
    return hashlib.sha256(b"enishi export request\x00" + token.encode()).digest()


async def create_link(uow: UnitOfWork, kind: str, format: str, encoding: str, filter: dict | None) -> tuple[str, ExportLink]:
    """A new link (its token, shown once, and its row) to an export of `kind` by the unit of
    work's actor, working once within `LINK_LIFETIME`."""
    check_request(kind, format, encoding)
    if uow.actor_id is None:
        raise InputError(UserError(None, "an export link belongs to a user", "FORBIDDEN"))
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    now = uow.clock.now()
    link = ExportLink(
        token_hash=crypto.token_hash(token),
        kind=kind,
        format=format,
        encoding=encoding,
        sealed_request=crypto.encrypt(_request_key(token), json.dumps({"filter": filter}, ensure_ascii=False), _REQUEST_CONTEXT),
        created_by=uow.actor_id,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    uow.session.add(link)
    await uow.session.flush()
    return token, link


async def claim_link(uow: UnitOfWork, registry: PermissionRegistry, token: str) -> ExportRequest:
    """Use a link: its request, once. The row is locked, so two downloads at once cannot both get
    it; using it wipes the sealed request. The creator must still be active and still hold the
    permissions to export (a role taken away since stops the link)."""
    if not token.startswith(LINK_PREFIX) or len(token) > 200:
        raise LinkUnknown
    link = (
        await uow.session.execute(select(ExportLink).where(ExportLink.token_hash == crypto.token_hash(token)).with_for_update())
    ).scalar_one_or_none()
    if link is None:
        raise LinkUnknown
    if link.used_at is not None or link.expires_at <= uow.clock.now() or link.sealed_request is None:
        raise LinkGone
    creator = await uow.session.get(User, link.created_by)
    if creator is None or not creator.is_active or not set(EXPORT_PERMISSIONS) <= registry.for_roles(creator.roles):
        raise LinkUnknown
    request = json.loads(crypto.decrypt(_request_key(token), link.sealed_request, _REQUEST_CONTEXT))
    link.used_at, link.sealed_request = uow.clock.now(), None
    await uow.session.flush()
    return ExportRequest(link.kind, link.format, link.encoding, request["filter"], link.created_by)

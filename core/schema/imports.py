"""The contact import over GraphQL: `importContacts` (the file as base64, or uploaded by the GraphQL
multipart request specification as `upload`), `ContactImport` to poll, and `contactImport(id)`.
Registered by core/hooks.py through `enishi_graphql_*`, as a plugin's schema is."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import uuid
from typing import BinaryIO, cast

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.errors import InputError, UserError
from enishi.graphql.errors import UserErrorType
from enishi.graphql.mutation import run_mutation
from enishi.graphql.nodes import node_resolver
from enishi.graphql.relay import parse_global_id, to_global_id
from enishi.models import ImportJob, ImportRow
from enishi.services import imports

MAX_ROWS_PAGE = 1000


@strawberry.type(name="ContactImportRow", description="What the import did with one row of its file.")
class ContactImportRow:
    row: int = strawberry.field(description="The row number as Excel shows it (the header is row 1).")
    action: str = strawberry.field(description="created, updated, merged, unchanged or rejected")
    contact_id: strawberry.ID | None = strawberry.field(description="The contact the row created, updated or merged into.")
    merged_into_row: int | None = strawberry.field(description="For a merged row: the row that created its contact.")
    problems: JSON = strawberry.field(
        description="Column and code of each problem: why a rejected row was, and CONFLICT (a value differing "
        "from the contact's, kept) or NAME_NOT_SPLIT (the full name kept as family name) for the others."
    )

    @classmethod
    def of(cls, row: imports.RowOutcome) -> ContactImportRow:
        contact_id = strawberry.ID(to_global_id("Contact", row.contact_id)) if row.contact_id else None
        return cls(
            row=row.row,
            action=row.action,
            contact_id=contact_id,
            merged_into_row=row.merged_into_row,
            problems=cast(JSON, row.problems),
        )


@strawberry.type(description="A contact import: where it stands and what it did. Poll it with `node` or `contactImport`.")
class ContactImport(relay.Node):
    id: relay.NodeID[str]
    dry_run: bool = strawberry.field(description="A dry run's report: what importing the file would do. Nothing was written.")
    status: str = strawberry.field(description="queued, running, completed or failed")
    filename: str | None
    encoding: str = strawberry.field(
        description="xlsx, utf-8-sig (UTF-8, BOM or not), utf-16 (Excel's Unicode text) or cp932 (Shift_JIS as Excel writes it)"
    )
    total: int = strawberry.field(description="Data rows in the file (blank rows not counted).")
    processed: int = strawberry.field(description="Data rows done so far.")
    total_rows: int = strawberry.field(deprecation_reason="use `total`")
    processed_rows: int = strawberry.field(deprecation_reason="use `processed`")
    created_count: int
    updated_count: int = strawberry.field(description="Rows that filled in or added to a contact already there.")
    merged_count: int = strawberry.field(description="Rows that were the same person as an earlier row of the file.")
    unchanged_count: int = strawberry.field(description="Rows matching a contact already there, with nothing new.")
    duplicate_count: int = strawberry.field(
        description="Rows matching a contact already there (updated or unchanged): not created again."
    )
    error_count: int = strawberry.field(description="Rows rejected.")
    errors: JSON = strawberry.field(
        description="Rejected rows' problems (at most 1000): row number, column and code; never values."
    )
    created_at: dt.datetime
    finished_at: dt.datetime | None
    preview: strawberry.Private[imports.ImportReport | None] = None

    @classmethod
    def from_row(cls, r: ImportJob, preview: imports.ImportReport | None = None) -> ContactImport:
        return cls(
            id=str(r.id),
            dry_run=preview is not None,
            status=r.status,
            filename=r.filename,
            encoding=r.encoding,
            total=r.total_rows,
            processed=r.processed_rows,
            total_rows=r.total_rows,
            processed_rows=r.processed_rows,
            created_count=r.created_count,
            updated_count=r.updated_count,
            merged_count=r.merged_count,
            unchanged_count=r.duplicate_count,
            duplicate_count=r.duplicate_count + r.updated_count,
            error_count=r.error_count,
            errors=cast(JSON, list(r.errors or [])),
            created_at=r.created_at,
            finished_at=r.finished_at,
            preview=preview,
        )

    @strawberry.field(description="What the import did with each data row, in file order, after row `after`.")
    async def rows(self, info: Info, first: int = 100, after: int = 0, action: str | None = None) -> list[ContactImportRow]:
        first = max(0, min(first, MAX_ROWS_PAGE))
        if self.preview is not None:
            chosen = [r for r in self.preview.rows if r.row > after and (action is None or r.action == action)]
            return [ContactImportRow.of(r) for r in chosen[:first]]
        query = select(ImportRow).where(ImportRow.import_id == uuid.UUID(self.id), ImportRow.row_number > after)
        if action is not None:
            query = query.where(ImportRow.action == action)
        rows = await info.context.scalars(query.order_by(ImportRow.row_number).limit(first))
        return [
            ContactImportRow.of(imports.RowOutcome(r.row_number, r.action, r.contact_id, r.merged_into_row, list(r.problems)))
            for r in rows
        ]

    @strawberry.field(
        description="The rejected rows as a CSV file, base64: the file's own encoding and delimiter (a workbook's: "
        "UTF-8 with a BOM), its header and cells, and an extra column エラー giving each problem's column and code. "
        "Fixed in Excel, it imports as it is. Null when no row was rejected."
    )
    async def error_report(self, info: Info) -> str | None:
        info.context.require("crm.import")
        if self.preview is not None:
            report = self.preview.error_report
        else:
            job = (await info.context.scalars(select(ImportJob).where(ImportJob.id == uuid.UUID(self.id))))[0]
            rejected = await info.context.scalars(
                select(ImportRow)
                .where(ImportRow.import_id == job.id, ImportRow.action == "rejected")
                .order_by(ImportRow.row_number)
            )
            report = imports.error_report_file(job, rejected) if rejected else None
        return base64.b64encode(report).decode() if report is not None else None

    resolve_nodes = node_resolver(ImportJob, "crm.import")


@strawberry.input(description="Read column `column` into `field`.")
class ImportMappingInput:
    column: str = strawberry.field(description="The header of the file's column, as written.")
    field: str = strawberry.field(
        description="family_name, given_name, full_name, family_name_kana, given_name_kana, full_name_kana, email, phone, "
        "company, department, job_title, postal_code, address, owner, last_contacted, memo, id, ignore, "
        "custom:<key> (a custom field), a plugin column's key, or any header spelling the import recognises."
    )


@strawberry.input
class ImportContactsInput:
    file: str | None = strawberry.field(
        default=None,
        description="The file, base64: .xlsx, or CSV/TSV in UTF-8 (BOM or not), UTF-16 or Shift_JIS (CP932), "
        "Japanese or English headers (docs/import.md). Or send it as `upload`.",
    )
    upload: Upload | None = strawberry.field(
        default=None, description="The file, uploaded per the GraphQL multipart request specification."
    )
    filename: str | None = None
    sheet: str | None = strawberry.field(default=None, description="The workbook's sheet to read; the first by default.")
    mapping: list[ImportMappingInput] | None = strawberry.field(
        default=None, description="Explicit column → field mappings; they override the headers' own meaning."
    )
    ignore: list[str] | None = strawberry.field(default=None, description="Columns to leave alone.")
    overwrite: bool = strawberry.field(
        default=False, description="Replace a contact's conflicting values instead of keeping them and reporting CONFLICT."
    )
    dry_run: bool = strawberry.field(default=False, description="Report what the import would do, row by row, and write nothing.")


@strawberry.type
class ImportPayload:
    contact_import: ContactImport | None = strawberry.field(name="import")
    user_errors: list[UserErrorType]


async def _file(input: ImportContactsInput) -> BinaryIO:
    """The file: an upload as starlette spooled it (on disk beyond a megabyte, never read whole
    here), or `file` decoded (base64 in the request body, which is in memory already)."""
    if (input.file is None) == (input.upload is None):
        raise InputError(UserError("file", "send the file as `file` (base64) or as `upload`, one of them", "REQUIRED"))
    if input.upload is not None:
        return input.upload.file  # type: ignore[attr-defined]  # starlette's UploadFile: a SpooledTemporaryFile
    try:
        return io.BytesIO(base64.b64decode(cast(str, input.file), validate=True))
    except (binascii.Error, ValueError):
        raise InputError(UserError("file", "must be base64", "INVALID_BASE64")) from None


def _options(input: ImportContactsInput) -> imports.ImportOptions:
    return imports.ImportOptions(
        sheet=input.sheet,
        mapping={m.column: m.field for m in input.mapping or []},
        ignore=list(input.ignore or []),
        overwrite=input.overwrite,
    )


@strawberry.type
class ImportMutation:
    @strawberry.mutation(
        description="Import contacts from an .xlsx, CSV or TSV file: upserts by ID, email, phone or name and company. "
        "Runs in the background (poll the import); with `dryRun`, answers at once what it would do and writes nothing."
    )
    async def import_contacts(self, info: Info, input: ImportContactsInput) -> ImportPayload:
        options = _options(input)
        filename = input.filename or getattr(input.upload, "filename", None)
        if input.dry_run:
            # Not through run_mutation: its unit of work would keep this process's other writers
            # waiting on SQLite for the whole file (the dry run has a scratch one of its own).
            viewer = info.context.require("crm.import")
            try:
                report = await imports.dry_run(info.context.runtime, viewer.user_id, await _file(input), filename, options)
            except InputError as error:
                return ImportPayload(contact_import=None, user_errors=[UserErrorType.of(e) for e in error.errors])
            return ImportPayload(contact_import=ContactImport.from_row(report.job, report), user_errors=[])

        async def start(uow):
            return await imports.create_import(uow, await _file(input), filename, options)

        job, errors = await run_mutation(info, "crm.import", start)
        if job is not None:
            info.context.runtime.spawn(imports.run_import(info.context.runtime, job.id), f"import {job.id}")
        return ImportPayload(contact_import=ContactImport.from_row(job) if job else None, user_errors=errors)


@strawberry.type
class ImportQuery:
    @strawberry.field(description="A contact import by id (what `importContacts` returned).")
    async def contact_import(self, info: Info, id: strawberry.ID) -> ContactImport | None:
        info.context.require("crm.import")
        rows = await info.context.scalars(select(ImportJob).where(ImportJob.id == parse_global_id(id, "ContactImport", "id")))
        return ContactImport.from_row(rows[0]) if rows else None

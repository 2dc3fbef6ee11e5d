"""Contact imports as jobs: the file checked and counted up front, then its rows imported in
batches (`import_writes.import_chunk` does one), each batch committed together with the import's new
position, so a crash midway loses nothing and repeats nothing: the next run (`enishi import
--resume`, or the worker once the lease ran out) continues from there.

A dry run does exactly what the real run would, then throws its writes away (`scratch_unit_of_work`):
its report (rows created, updated, merged, unchanged and rejected, with their row numbers) is the
real run's. The file is streamed (`import_files`): it arrives as an open file (an upload spooled to
disk, the CLI's own file), and neither accepting it nor a run holds its bytes, rows or decoded text."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import make_url, select, update

from ..contributions import ImportColumn
from ..db import create_engine, is_sqlite, sessionmakers
from ..errors import InputError
from ..events import IMPORT_COMPLETED, IMPORT_CREATED
from ..models import ImportJob, ImportRow
from ..unit_of_work import UnitOfWork
from .import_columns import ColumnPlan, plan_columns
from .import_files import Cell, FileFormat, binary_file, cell_text, detect_format, file_error, read_rows, write_csv
from .import_rows import RowContext, is_blank
from .import_source import SourceStream, store_source, wipe_source
from .import_writes import import_chunk

# Rows per batch, and per transaction: a batch fetches what its rows may match and writes their
# notes in a few statements (`import_writes`), so larger batches cost less per row; on SQLite a
# batch holds the one write lock (a second or so), and other requests wait behind it.
BATCH = 500
LEASE = dt.timedelta(minutes=2)
MAX_REPORTED_ERRORS = 1000
ERROR_COLUMN = "エラー"  # the error report's extra column; the import ignores it (`import_columns.HEADERS`)
COUNTERS = {
    "created": "created_count",
    "updated": "updated_count",
    "merged": "merged_count",
    "unchanged": "duplicate_count",
    "rejected": "error_count",
}


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file: the workbook's sheet, explicit `mapping` (column → field) and
    `ignore`d columns; `overwrite` replaces conflicting values instead of reporting them."""

    sheet: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=list)
    overwrite: bool = False


@dataclass(frozen=True)
class RowOutcome:
    row: int
    action: str
    contact_id: uuid.UUID | None
    merged_into_row: int | None
    problems: list[dict]


@dataclass
class ImportReport:
    """What an import did (or a dry run would do), row by row, and its error report file."""

    job: ImportJob
    rows: list[RowOutcome]
    error_report: bytes | None


def plugin_columns(runtime) -> list[ImportColumn]:
    return [column for _, column in runtime.plugins.contributions("enishi_import_columns")]


def _open(runtime, file: BinaryIO, filename: str | None, options: ImportOptions) -> tuple[FileFormat, ColumnPlan, Iterator]:
    """The file's format, its column plan, and its data rows (streamed)."""
    file_format = detect_format(file, filename, options.sheet)
    rows = read_rows(file, file_format)
    first = next(rows, None)
    if first is None:
        raise file_error("is empty", "EMPTY_FILE")
    header = [cell_text(cell) for cell in first[1]]
    return file_format, plan_columns(header, plugin_columns(runtime), options.mapping, options.ignore), rows


def _data_rows(rows: Iterator[tuple[int, list[Cell]]]) -> Iterator[tuple[int, list[Cell]]]:
    return ((number, cells) for number, cells in rows if not is_blank(cells))


async def create_import(
    uow: UnitOfWork, data: bytes | BinaryIO, filename: str | None = None, options: ImportOptions | None = None
) -> ImportJob:
    """Check the file whole (format, columns, quotes) and queue it; InputError writes nothing.
    `data`: the file open for reading (or its bytes), read from its start and left open."""
    options, file = options or ImportOptions(), binary_file(data)
    file_format, plan, rows = _open(uow.runtime, file, filename, options)
    total = sum(1 for _ in _data_rows(rows))
    job = ImportJob(
        kind="contacts",
        status="queued",
        filename=(filename or "")[:300] or None,
        encoding=file_format.encoding,
        options={
            "delimiter": file_format.delimiter,
            "sheet": options.sheet,
            "mapping": options.mapping,
            "ignore": options.ignore,
            "overwrite": options.overwrite,
            "header": plan.header,
        },
        total_rows=total,
        created_by=uow.actor_id,
        created_at=uow.clock.now(),
        errors=[],
    )
    job.data_key(create=True)  # the file and the refused rows' cells are sealed under it
    uow.session.add(job)
    await uow.session.flush()
    await store_source(uow, job, file)
    await uow.emit(IMPORT_CREATED, job.id, {"rows": total})
    return job


def _options(job: ImportJob) -> ImportOptions:
    stored = job.options or {}
    return ImportOptions(
        stored.get("sheet"), stored.get("mapping") or {}, stored.get("ignore") or [], bool(stored.get("overwrite"))
    )


def _count(job: ImportJob, rows: list[ImportRow]) -> None:
    """Add a batch's rows to the job's counts, once per batch: a change to the job before each
    row's queries would be flushed before each of them."""
    for action, counter in COUNTERS.items():
        setattr(job, counter, getattr(job, counter) + sum(1 for row in rows if row.action == action))
    errors = [{"row": row.row_number, **problem} for row in rows if row.action == "rejected" for problem in row.problems]
    if errors and len(job.errors) < MAX_REPORTED_ERRORS:
        job.errors = [*job.errors, *errors][:MAX_REPORTED_ERRORS]


class _Discarded(Exception):
    """Raised at the end of a scratch unit of work on PostgreSQL, so that it rolls back."""


@asynccontextmanager
async def scratch_unit_of_work(runtime, actor_id: uuid.UUID | None = None) -> AsyncIterator[UnitOfWork]:
    """A unit of work whose writes are thrown away, without keeping other writers waiting while
    it works. SQLite has one writer at a time, from a transaction's first write to its end: there
    it works on a copy of the database taken now (SQLite's online backup, which writers do not wait
    for), in a folder beside it, deleted after. On PostgreSQL a writer waits only for the rows it
    locks itself: there it is the database's own unit of work, rolled back."""
    url = runtime.settings.database_url
    if not is_sqlite(url):
        try:
            async with runtime.unit_of_work(actor_id) as uow:
                yield uow
                raise _Discarded
        except _Discarded:
            return
    database = Path(make_url(url).database or "")
    with tempfile.TemporaryDirectory(dir=database.parent, prefix=".enishi-scratch-") as folder:
        copy = Path(folder) / database.name
        await asyncio.to_thread(_copy_sqlite, database, copy)
        engine = create_engine(f"sqlite+aiosqlite:///{copy}")
        try:
            async with sessionmakers(engine, runtime.clock)[1]() as session, session.begin():
                yield UnitOfWork(runtime, session, actor_id)
        finally:
            await engine.dispose()


def _copy_sqlite(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as original, closing(sqlite3.connect(target)) as copy:
        original.backup(copy)


async def dry_run(
    runtime, actor_id: uuid.UUID | None, data: bytes | BinaryIO, filename: str | None = None, options: ImportOptions | None = None
) -> ImportReport:
    """What importing the file would do, row by row: the import run whole in a scratch unit of
    work (`scratch_unit_of_work`), so nothing stays written and other writers go on meanwhile."""
    options, file = options or ImportOptions(), binary_file(data)
    async with scratch_unit_of_work(runtime, actor_id) as uow:
        job = await create_import(uow, file, filename, options)
        _, plan, rows = _open(uow.runtime, file, filename, options)
        context = RowContext(job, plan, options.overwrite)
        data_rows, processed = _data_rows(rows), 0
        while batch := list(itertools.islice(data_rows, BATCH)):
            _count(job, await import_chunk(uow, context, batch))
            processed += len(batch)
        job.processed_rows = processed
        job.status, job.source = "completed", None
        await uow.session.flush()
        report = await import_report(uow.session, job)
        uow.session.expunge_all()  # keep what was read: the copy goes, the rollback would expire it
    return report


async def import_report(session, job: ImportJob) -> ImportReport:
    rows = (
        await session.execute(select(ImportRow).where(ImportRow.import_id == job.id).order_by(ImportRow.row_number))
    ).scalars()
    outcomes, rejected = [], []
    for row in rows:
        outcomes.append(RowOutcome(row.row_number, row.action, row.contact_id, row.merged_into_row, list(row.problems)))
        if row.action == "rejected":
            rejected.append(row)
    return ImportReport(job, outcomes, error_report_file(job, rejected) if rejected else None)


def error_report_file(job: ImportJob, rejected: list[ImportRow]) -> bytes:
    """The rejected rows as the file had them, with an error column, in the file's encoding and
    delimiter: fixed in Excel, the file imports as it is."""
    header = list(job.options.get("header") or [])
    width = max([len(header), *(len(row.cells or []) for row in rejected)])
    lines = []
    for row in rejected:
        cells = list(row.cells or []) + [""] * (width - len(row.cells or []))
        lines.append([*cells, "; ".join(f"{problem['column']}: {problem['code']}" for problem in row.problems)])
    file_format = FileFormat(job.encoding, job.options.get("delimiter") or ",")
    return write_csv([*header, *[""] * (width - len(header)), ERROR_COLUMN], lines, file_format)


async def _claim(runtime, job_id, take_over: bool) -> bool:
    now = runtime.clock.now()
    abandoned = (
        ImportJob.status.in_(("running", "failed"))
        if take_over
        else (ImportJob.status == "running") & (ImportJob.lease_until < now)
    )
    claimable = (ImportJob.status == "queued") | abandoned
    async with runtime.unit_of_work() as uow:
        return bool(
            (
                await uow.session.execute(
                    update(ImportJob)
                    .where(ImportJob.id == job_id, claimable)
                    .values(status="running", lease_until=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
            ).rowcount
        )


async def run_import(runtime, job_id, *, take_over: bool = False, progress=None) -> ImportJob | None:
    """Process the import from where it stands. `take_over` resumes one whose runner died without
    waiting for its lease (the operator knows it is dead). Returns None if someone else runs it."""
    if not await _claim(runtime, job_id, take_over):
        return None
    async with runtime.read_session() as session:
        job = await session.get_one(ImportJob, job_id)
        options = job.options or {}
        file_format = FileFormat(job.encoding, options.get("delimiter") or ",", options.get("sheet"))
        stream = SourceStream(runtime, job.id, job.data_key()) if job.source is None else None  # (else queued before 0012)
    workbook = await stream.spool() if stream is not None and file_format.is_xlsx else None
    source: bytes | BinaryIO | SourceStream = workbook or (job.source if stream is None else stream)
    try:
        return await _run_rows(runtime, job, read_rows(source, file_format), None if workbook else stream, progress)
    finally:
        if workbook is not None:
            workbook.close()


async def _run_rows(runtime, job: ImportJob, all_rows: Iterator, stream: SourceStream | None, progress) -> ImportJob | None:
    """`run_import` once its file is open: `stream` (a text file's stored pieces) is filled ahead of each row."""
    job_id, options, start = job.id, job.options or {}, job.processed_rows
    await _fill(stream)
    next(all_rows, None)  # the header: the import's plan was made from it when it was accepted
    rows = _data_rows(all_rows)
    try:
        plan = plan_columns(options.get("header") or [], plugin_columns(runtime), options.get("mapping"), options.get("ignore"))
    except InputError:
        raise RuntimeError(f"import {job_id}: its columns no longer read as they did (a plugin gone?)") from None
    context = RowContext(job, plan, bool(options.get("overwrite")))
    for _ in range(start):  # the rows earlier runs did
        await _fill(stream)
        next(rows, None)
    while True:
        try:
            job = await _run_batch(runtime, job_id, job.created_by, context, await _take(rows, stream))
        except Exception:
            # Not a bad row (those are reported): a bug or the database. Stop, keep the file and the
            # position, and let an operator resume it once the cause is fixed.
            async with runtime.unit_of_work() as uow:
                await uow.session.execute(
                    update(ImportJob).where(ImportJob.id == job_id).values(status="failed", lease_until=None)
                )
            raise
        if progress is not None:
            progress(job)
        if job.status == "completed":
            return job


async def _fill(stream: SourceStream | None) -> None:
    if stream is not None:
        await stream.fill()


async def _take(rows: Iterator[tuple[int, list[Cell]]], stream: SourceStream | None) -> list[tuple[int, list[Cell]]]:
    """The next batch of rows, the stream filled ahead of each."""
    batch: list[tuple[int, list[Cell]]] = []
    while len(batch) < BATCH:
        await _fill(stream)
        row = next(rows, None)
        if row is None:
            break
        batch.append(row)
    return batch


async def _run_batch(runtime, job_id, actor, context: RowContext, batch: list[tuple[int, list[Cell]]]) -> ImportJob:
    async with runtime.unit_of_work(actor) as uow:
        job = (await uow.session.execute(select(ImportJob).where(ImportJob.id == job_id).with_for_update())).scalar_one()
        context.job = job
        _count(job, await import_chunk(uow, context, batch))
        job.processed_rows = min(job.processed_rows + len(batch), job.total_rows)
        job.lease_until = uow.clock.now() + LEASE
        if not batch or job.processed_rows >= job.total_rows:
            job.status, job.finished_at, job.source, job.lease_until = "completed", uow.clock.now(), None, None
            await wipe_source(uow, job.id)
            await uow.emit(
                IMPORT_COMPLETED,
                job.id,
                {"created": job.created_count, "duplicates": job.duplicate_count + job.updated_count, "errors": job.error_count},
            )
    return job


async def resumable(runtime) -> list[uuid.UUID]:
    """Imports waiting to run, or left running by a runner whose lease ran out."""
    now = runtime.clock.now()
    async with runtime.read_session() as session:
        return list(
            (
                await session.execute(
                    select(ImportJob.id)
                    .where((ImportJob.status == "queued") | ((ImportJob.status == "running") & (ImportJob.lease_until < now)))
                    .order_by(ImportJob.created_at)
                )
            ).scalars()
        )


async def run_pending_imports(runtime) -> None:
    """The worker's job: run whatever import is waiting or was abandoned."""
    for job_id in await resumable(runtime):
        await run_import(runtime, job_id)

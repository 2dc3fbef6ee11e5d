"""`enishi import`: a contact import from the command line, its dry run, its report and error file.

The report is the same for a dry run and the real run (the dry run's first line says nothing was
written): a line of counts, then the rows by what happened to them, as ranges of row numbers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import sys
import uuid
from pathlib import Path
from typing import BinaryIO

from .errors import CommandError, InputError
from .services import imports


def configure(parser) -> None:
    parser.add_argument("file", nargs="?", help="the .xlsx, .csv or .tsv file (UTF-8, UTF-16 or Shift_JIS)")
    parser.add_argument("--resume", metavar="ID", help="finish an import whose run was interrupted")
    parser.add_argument("--sheet", metavar="NAME", help="the workbook's sheet to read (default: the first)")
    parser.add_argument(
        "--map", metavar="COLUMN=FIELD", action="append", default=[], help="read a column into a field (repeatable)"
    )
    parser.add_argument("--ignore", metavar="COLUMN", action="append", default=[], help="leave a column alone (repeatable)")
    parser.add_argument("--overwrite", action="store_true", help="replace conflicting values instead of reporting them")
    parser.add_argument("--dry-run", action="store_true", help="report what the import would do and write nothing")
    parser.add_argument("--errors-out", metavar="FILE", help="write the rejected rows, with an error column, to FILE")
    parser.add_argument("--quiet", action="store_true", help="no progress")


def _options(args) -> imports.ImportOptions:
    mapping = {}
    for item in args.map:
        column, separator, target = item.rpartition("=")
        if not separator or not column.strip() or not target.strip():
            raise CommandError(f'--map {item!r}: write it as "COLUMN=FIELD"')
        mapping[column.strip()] = target.strip()
    return imports.ImportOptions(sheet=args.sheet, mapping=mapping, ignore=args.ignore, overwrite=args.overwrite)


def _ranges(numbers: list[int]) -> str:
    parts: list[str] = []
    for number in numbers:
        if parts and parts[-1].split("-")[-1] == str(number - 1):
            parts[-1] = parts[-1].split("-")[0] + f"-{number}"
        else:
            parts.append(str(number))
    return ", ".join(parts)


def report_lines(report: imports.ImportReport) -> list[str]:
    counts = dict.fromkeys(imports.COUNTERS, 0)
    for row in report.rows:
        counts[row.action] += 1
    lines = [
        f"{len(report.rows)} rows: {counts['created']} created, {counts['updated']} updated, {counts['merged']} merged, "
        f"{counts['unchanged']} unchanged, {counts['rejected']} rejected"
    ]
    for action in ("created", "updated", "unchanged"):
        if numbers := [row.row for row in report.rows if row.action == action]:
            lines.append(f"  {action}: rows {_ranges(numbers)}")
    lines += [f"  merged: row {row.row} into row {row.merged_into_row}" for row in report.rows if row.action == "merged"]
    for row in report.rows:
        if row.problems:
            problems = ", ".join(f"{problem['column']} {problem['code']}" for problem in row.problems)
            lines.append(f"  {'rejected' if row.action == 'rejected' else 'note'}: row {row.row}: {problems}")
    return lines


def _progress(quiet: bool):
    """A progress bar on a terminal (rows per second, time left), else a line per batch on stdout."""
    if quiet:
        return None, None
    if not sys.stderr.isatty():
        return (lambda job: print(f"{job.processed_rows}/{job.total_rows} rows", flush=True)), None
    from tqdm import tqdm

    bar = tqdm(unit=" rows", file=sys.stderr, dynamic_ncols=True)

    def advance(job) -> None:
        bar.total = job.total_rows
        bar.update(job.processed_rows - bar.n)

    return advance, bar


async def _run(args, ready_runtime, source: BinaryIO | None, resume_id: uuid.UUID | None) -> imports.ImportReport:
    runtime = await ready_runtime()
    try:
        options, name = _options(args), Path(args.file).name if args.file else None
        if args.dry_run:
            report = await imports.dry_run(runtime, None, source or io.BytesIO(), name, options)
            print("dry run (nothing written): " + report_lines(report)[0])
            return report
        if resume_id:
            job_id = resume_id
        else:
            async with runtime.unit_of_work() as uow:
                job_id = (await imports.create_import(uow, source or io.BytesIO(), name, options)).id
            print(f"import {job_id}: started (resume with `enishi import --resume {job_id}` if interrupted)", flush=True)
        progress, bar = _progress(args.quiet)
        try:
            job = await imports.run_import(runtime, job_id, take_over=resume_id is not None, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        if job is None:
            raise CommandError(f"import {job_id} is not waiting to run (finished, or running elsewhere)")
        async with runtime.read_session() as session:
            report = await imports.import_report(session, job)
        print(f"import {job.id}: " + report_lines(report)[0])
        return report
    finally:
        await runtime.close()


def _import_id(value: str) -> uuid.UUID:
    """The UUID the CLI printed, or the global id `importContacts` returned (base64 of `ContactImport:<uuid>`)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        type_name, _, raw = base64.b64decode(value.encode(), validate=True).decode(errors="replace").partition(":")
        if type_name != "ContactImport":
            raise ValueError("not an import id") from None
        return uuid.UUID(raw)


def run(args, ready_runtime) -> None:
    """`enishi import`; `ready_runtime` is the CLI's (a runtime on a database that is up to date)."""
    if bool(args.file) == bool(args.resume):
        raise CommandError("give a file, or --resume with an import id")
    try:
        resume_id = _import_id(args.resume) if args.resume else None
    except ValueError:
        raise CommandError("--resume needs an import id (the UUID, or the ContactImport id GraphQL gave)") from None
    # Opened now, so that a missing file is reported before the database is touched; read as it is
    # needed, never whole.
    with contextlib.ExitStack() as opened:
        source = None if resume_id else opened.enter_context(Path(args.file).open("rb"))
        try:
            report = asyncio.run(_run(args, ready_runtime, source, resume_id))
        except InputError as error:
            reasons = "; ".join(f"{e.message} ({e.code})" for e in error.errors)
            raise CommandError(f"{args.file}: {reasons}") from None
    for line in report_lines(report)[1:]:
        print(line)
    if args.errors_out and report.error_report is not None:
        Path(args.errors_out).write_bytes(report.error_report)
        print(f"rejected rows written to {args.errors_out}, with an error column: fix them there and import that file")

"""Workload (h): the contact import's throughput and peak memory, on an office's 顧客管理表.

The file: the issue's columns (会社名, 担当者名 as one full name, 電話番号, メールアドレス,
最終対応日, メモ), as Shift_JIS CSV (dates as 2024/4/1) or, `--format xlsx`, as a workbook (date
cells); one row in five is a later contact with a person of an earlier row (merged, a second dated
note), everyone else is a person of their own by every rule the import matches by (`file_rows`).
Enishi: `create_import` + `run_import` (every row read, matched, upserted, noted, recorded; the
plugins' hooks on every event). Floor: what the import leaves in the database — accounts, contacts
(sealed, indexed, search tokens), their links, one sealed note per row with its two targets —
hand-written from the same file and inserted with one executemany per table in one transaction,
no checks, no events, no import records. Every round checks, after timing, that the floor wrote
what the import wrote (`written`); each measurement gets a fresh database; rounds interleave; the
throughput ratio is floor ÷ Enishi in rows per second (Enishi's seconds ÷ the floor's).

Peak memory: a process of its own per size (`resource.getrusage`), importing the file whole
(`full`) or only checking and counting it as `create_import` does (`file`: the streamed read every
run starts with), the file written to a temporary file first and handed over open, as the CLI and
an upload hand it; the memory ratio is the largest size's peak ÷ the smallest's (1.0: flat).
Statements: every SQL statement the import (and the floor's insert) sends, per row.

    python bench/contact_import.py [--rows 2000] [--rounds 2] [--format csv|xlsx]
        [--rss-full 10000,100000] [--rss-file 10000,100000]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://... python bench/contact_import.py
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import itertools
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from openpyxl import Workbook, load_workbook
from report import database_url, save_result  # bench/ is on the path when a workload runs as a script
from sqlalchemy import event, func, select

from enishi.db import new_id
from enishi.db.migrate import upgrade
from enishi.demo import JA_FAMILY, JA_GIVEN
from enishi.models import (
    Account,
    Activity,
    ActivityTarget,
    Contact,
    ContactAccount,
    ContactEmail,
    ContactPhone,
    ContactSearchToken,
)
from enishi.normalize import company_match_name, normalize_email, normalize_phone
from enishi.runtime import Runtime
from enishi.services.accounts import account_search_text
from enishi.services.contacts import bulk_contact_rows, find_possible_duplicates
from enishi.services.import_files import detect_format, read_rows
from enishi.services.import_values import parse_date
from enishi.services.imports import create_import, run_import
from enishi.settings import Settings
from enishi.testing import wipe

HEADER = ("会社名", "担当者名", "電話番号", "メールアドレス", "最終対応日", "メモ")
FORMATS = ("csv", "xlsx")


def file_rows(rows: int) -> Iterator[tuple[str, str, str, str, dt.date, str]]:
    """The file's data rows. People are told apart by every rule the import matches by: each has
    an email, a phone and a (full name, company) of their own — ten people to a company, no two of
    them with one family name — so the one in five rows naming an earlier person is the only merge."""
    rng = random.Random(7)
    for i in range(rows):
        person = i - rng.randrange(1, 50) if i % 5 == 4 and i > 50 else i  # every fifth row: someone met before
        family, _, romaji = JA_FAMILY[person % len(JA_FAMILY)]
        given, _, given_romaji = JA_GIVEN[person // len(JA_FAMILY) % len(JA_GIVEN)]
        yield (
            f"株式会社縁{person // 10}",
            f"{family} {given}",
            f"03-{5000 + person // 10000:04d}-{person % 10000:04d}",
            f"{given_romaji}.{romaji}{person}@example.jp",
            dt.date(2024, 1 + i % 12, 1 + i % 28),
            f"対応{i}",
        )


def make_file(rows: int, file_format: str = "csv") -> bytes:
    out = io.BytesIO()
    write_file(out, rows, file_format)
    return out.getvalue()


def write_file(out: BinaryIO, rows: int, file_format: str = "csv") -> None:
    """The file into `out`, a row at a time: CSV in Shift_JIS (dates as 2024/4/1), or a workbook
    (openpyxl's write-only mode, dates as date cells) as Excel saves the same 顧客管理表."""
    if file_format == "xlsx":
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("顧客管理表")
        sheet.append(HEADER)
        for row in file_rows(rows):
            sheet.append(row)
        workbook.save(out)
        return
    out.write(",".join(HEADER).encode("cp932"))
    for company, name, phone, email, day, memo in file_rows(rows):
        out.write(f"\r\n{company},{name},{phone},{email},{day.year}/{day.month}/{day.day},{memo}".encode("cp932"))


def read_file(data: bytes, file_format: str) -> Iterator[Sequence]:
    """The floor's reading of the file: csv's reader over the decoded text, or openpyxl read-only."""
    if file_format == "xlsx":
        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        return itertools.islice(sheet.iter_rows(values_only=True), 1, None)
    return itertools.islice(csv.reader(io.StringIO(data.decode("cp932"))), 1, None)


SUMMED = (Account, Contact, ContactEmail, ContactPhone, ContactSearchToken, ContactAccount, Activity, ActivityTarget)
SAMPLED = 5  # people of the file whose contact is compared whole, spread over it


async def written(runtime, rows: int) -> dict:
    """What an import left: each table's row count, and a sample of people as their contacts read
    back (names, emails, phones, companies, notes' summaries and days), found by email."""
    summary: dict = {}
    people = list(file_rows(rows))
    async with runtime.unit_of_work() as uow:
        session = uow.session
        for model in SUMMED:
            summary[model.__tablename__] = await session.scalar(select(func.count()).select_from(model))
        for _, _, _, email, _, _ in people[:: max(1, rows // SAMPLED)]:
            (match,) = await find_possible_duplicates(session, [email], [])
            contact = await session.get_one(Contact, match.contact_id)
            emails = (await session.execute(select(ContactEmail).where(ContactEmail.contact_id == contact.id))).scalars()
            phones = (await session.execute(select(ContactPhone).where(ContactPhone.contact_id == contact.id))).scalars()
            companies = await session.scalars(
                select(Account.name)
                .join(ContactAccount, ContactAccount.account_id == Account.id)
                .where(ContactAccount.contact_id == contact.id)
            )
            notes = (
                await session.execute(
                    select(Activity)
                    .join(ActivityTarget, ActivityTarget.activity_id == Activity.id)
                    .where(ActivityTarget.contact_id == contact.id)
                )
            ).scalars()
            summary[email] = (
                contact.family_name,
                contact.given_name,
                sorted(row.address for row in emails),
                sorted(row.e164 for row in phones),
                sorted(companies),
                sorted((note.summary, note.occurred_at.isoformat()) for note in notes),
            )
    return summary


async def fresh_runtime() -> Runtime:
    """An empty database: a new SQLite file, or the PostgreSQL one emptied (a leftover contact
    would turn the next import's rows into duplicates, which cost next to nothing)."""
    url = database_url("contact_import")
    runtime = Runtime(
        Settings(database_url=url, key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=", log_level="WARNING")
    )
    await asyncio.to_thread(upgrade, runtime)
    await wipe(runtime)
    return runtime


async def bulk_insert(runtime: Runtime, rows_by_model: dict) -> None:
    """Every row in one transaction, parents first, one executemany per table: one statement
    compiled once and its rows sent together (asyncpg pipelines them). Multi-row `VALUES` of 500,
    as before, cost three times as much on PostgreSQL: each chunk a new statement, compiled afresh."""
    async with runtime.unit_of_work() as uow:
        connection = await uow.session.connection()
        for model, rows in rows_by_model.items():
            await connection.execute(model.__table__.insert(), rows)


def _counting(runtime) -> list[int]:
    """A counter of the SQL statements the runtime's engine sends from now on."""
    statements = [0]

    def count(*_) -> None:
        statements[0] += 1

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    return statements


async def import_seconds(data: bytes | BinaryIO, rows: int, file_format: str = "csv", check: bool = True) -> tuple:
    """Wall and process CPU seconds of the import, the statements it sent, and what it wrote (`check`)."""
    runtime = await fresh_runtime()
    statements = _counting(runtime)
    started, cpu_started = time.perf_counter(), time.process_time()
    async with runtime.unit_of_work() as uow:
        job = await create_import(uow, data, f"bench.{file_format}")
    await run_import(runtime, job.id)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started  # wall, and this process's CPU
    sent = statements[0]
    summary = await written(runtime, rows) if check else {}
    await runtime.close()
    return wall, cpu, sent, summary


async def floor_seconds(data: bytes, rows: int, file_format: str = "csv") -> tuple:
    """The same rows, hand-written: read, normalised, sealed and indexed as the services do, bulk-inserted."""
    runtime = await fresh_runtime()
    started, cpu_started = time.perf_counter(), time.process_time()
    now, zone = runtime.clock.now(), runtime.settings.zone
    rows_by_model: dict = {Account: []}  # parents first: accounts before the links and targets naming them
    accounts: dict[str, object] = {}
    people: dict[str, object] = {}

    def add(rows: dict) -> None:
        for model, model_rows in rows.items():
            rows_by_model.setdefault(model, []).extend(model_rows)

    for company, name, phone, email, day, memo in read_file(data, file_format):
        match_name = company_match_name(company)
        if match_name not in accounts:
            account = {"id": new_id(), "name": company, "match_name": match_name, "created_at": now, "updated_at": now}
            accounts[match_name] = account["id"]
            rows_by_model[Account].append(account | {"search_text": account_search_text(Account(**account))})
        person = normalize_email(email)
        if person not in people:
            family, _, given = name.partition(" ")
            contact = {"id": new_id(), "custom_fields": {}, "created_at": now, "updated_at": now}
            people[person] = contact["id"]
            add(bulk_contact_rows(contact, {"family_name": family, "given_name": given}, [email], [normalize_phone(phone)]))
            link = {"id": new_id(), "contact_id": contact["id"], "account_id": accounts[match_name], "is_primary": True}
            add({ContactAccount: [link]})
        note = {
            "id": new_id(),
            "type": "note",
            "direction": "internal",
            "occurred_at": dt.datetime.combine(parse_date(day), dt.time(), zone).astimezone(dt.UTC),
            "source_plugin": "core",
            "created_at": now,
        }
        add(Activity.bulk_rows(note, summary=memo))
        add(
            {
                ActivityTarget: [
                    {"id": new_id(), "activity_id": note["id"], "contact_id": people[person], "account_id": None},
                    {"id": new_id(), "activity_id": note["id"], "contact_id": None, "account_id": accounts[match_name]},
                ]
            }
        )
    rows_by_model[ActivityTarget] = rows_by_model.pop(ActivityTarget)  # after the notes' keys
    statements = _counting(runtime)
    await bulk_insert(runtime, rows_by_model)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started  # wall, and this process's CPU
    sent = statements[0]
    summary = await written(runtime, rows)
    await runtime.close()
    return wall, cpu, sent, summary


def child(mode: str, rows: int, file_format: str) -> None:
    """Run in a process of its own: import (or only read) `rows` rows, print the peak RSS in KiB."""
    with tempfile.TemporaryFile() as file:
        write_file(file, rows, file_format)
        if mode == "full":
            asyncio.run(import_seconds(file, rows, file_format, check=False))
        else:
            detected = detect_format(file, f"bench.{file_format}")
            assert sum(1 for _ in read_rows(file, detected)) == rows + 1
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss_mib(mode: str, rows: int, file_format: str) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--rows", str(rows), "--format", file_format],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(int(result.stdout.split()[-1]) / 1024, 1)


def memory_ratio(peaks: dict[int, float]) -> float | None:
    return round(peaks[max(peaks)] / peaks[min(peaks)], 2) if len(peaks) > 1 else None


def main(args) -> dict:
    # The processes measuring memory first: Linux keeps a process's peak RSS across the exec that
    # starts a child, so a child of this process after its rounds would report this one's peak.
    full = {n: peak_rss_mib("full", n, args.format) for n in args.rss_full}
    file = {n: peak_rss_mib("file", n, args.format) for n in args.rss_file}
    data = make_file(args.rows, args.format)
    seconds: dict[str, list[float]] = {"floor": [], "enishi": [], "floor_cpu": [], "enishi_cpu": []}
    statements: list[int] = []
    floor_statements: list[int] = []
    for _ in range(args.rounds):
        floor_wall, floor_cpu, floor_sent, floor_wrote = asyncio.run(floor_seconds(data, args.rows, args.format))
        wall, cpu, sent, wrote = asyncio.run(import_seconds(data, args.rows, args.format))
        if wrote != floor_wrote:  # the floor must write what the import writes, or its ratio means nothing
            raise SystemExit(f"the floor wrote other rows than the import: {floor_wrote} != {wrote}")
        for name, measured in (("floor", floor_wall), ("enishi", wall), ("floor_cpu", floor_cpu), ("enishi_cpu", cpu)):
            seconds[name].append(measured)
        statements.append(sent)
        floor_statements.append(floor_sent)
    rates = {name: round(args.rows / statistics.median(seconds[name])) for name in ("floor", "enishi")}
    ratios = [round(enishi / floor, 2) for floor, enishi in zip(seconds["floor"], seconds["enishi"], strict=True)]
    # On a loaded machine wall time mostly measures the load; the process's CPU (SQLite's work
    # included, it runs in the process) less so. PostgreSQL's own CPU is not in it.
    cpu_ratios = [round(enishi / floor, 2) for floor, enishi in zip(seconds["floor_cpu"], seconds["enishi_cpu"], strict=True)]
    return {
        "rows": args.rows,
        "format": args.format,
        "database": "postgresql" if os.environ.get("ENISHI_BENCH_DATABASE_URL", "").startswith("postgresql") else "sqlite",
        "rows_per_second": rates,
        "throughput_ratio": round(rates["floor"] / rates["enishi"], 2),
        "throughput_ratio_per_round": ratios,
        "cpu_ratio_per_round": cpu_ratios,
        "statements_per_row": round(statistics.median(statements) / args.rows, 2),
        "floor_statements_per_row": round(statistics.median(floor_statements) / args.rows, 2),
        "seconds": seconds,
        "peak_rss_mib": {**{f"full {n}": v for n, v in full.items()}, **{f"file {n}": v for n, v in file.items()}},
        "memory_ratio_full": memory_ratio(full),
        "memory_ratio_file": memory_ratio(file),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rss-full", type=lambda s: [int(n) for n in s.split(",") if n], default=[10_000, 100_000])
    parser.add_argument("--rss-file", type=lambda s: [int(n) for n in s.split(",") if n], default=[10_000, 100_000])
    parser.add_argument("--format", choices=FORMATS, default="csv", help="the file: CSV (Shift_JIS) or an .xlsx workbook")
    parser.add_argument("--child", choices=("full", "file"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.rows, arguments.format)
        sys.exit(0)
    result = main(arguments)
    rates = result["rows_per_second"]
    print(
        f"contact import of {result['rows']} rows ({result['format']}, {result['database']}): floor {rates['floor']} rows/s, "
        f"Enishi {rates['enishi']} rows/s, throughput ratio {result['throughput_ratio']}× "
        f"(per round {result['throughput_ratio_per_round']}); CPU per row: Enishi ÷ floor {result['cpu_ratio_per_round']}; "
        f"{result['statements_per_row']} statements a row (floor {result['floor_statements_per_row']})"
    )
    print("peak RSS (MiB): " + ", ".join(f"{k} rows {v}" for k, v in result["peak_rss_mib"].items()), flush=True)
    print(
        f"memory ratio, largest ÷ smallest: whole import {result['memory_ratio_full']}, file pass {result['memory_ratio_file']}"
    )
    save_result(f"contact_import_{result['format']}_{result['database']}", result)

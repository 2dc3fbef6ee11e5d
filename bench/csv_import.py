"""Workload (e): CSV import throughput, against a floor measured in the same run.

The file: N contacts as a Japanese office exports them from Excel (Shift_JIS, Japanese headers,
name, kana, email, phone, company). Enishi: `create_import` + `run_import` (every row through
`create_contact`: validation, normalisation, duplicate check, account matching, events, plugin
hooks, a savepoint per row, batches that commit with their position). Floor: the same file decoded,
normalised and bulk-inserted into the contact, email and phone tables with one Core executemany each, in one
transaction (no validation, no duplicates check, no accounts, no events). Each measurement gets a
fresh database; rounds interleave.

    python bench/csv_import.py [--rows 5000] [--rounds 2]
"""

import argparse
import asyncio
import csv
import io
import random
import statistics
import time

from report import database_url, save_result  # bench/ is on the path when a workload runs as a script

from enishi.db import new_id
from enishi.db.migrate import upgrade
from enishi.demo import JA_FAMILY, JA_GIVEN
from enishi.normalize import normalize_phone
from enishi.runtime import Runtime
from enishi.services.contacts import bulk_contact_rows
from enishi.services.import_files import detect_format
from enishi.services.imports import create_import, run_import
from enishi.settings import Settings
from enishi.testing import wipe


def make_file(rows: int) -> bytes:
    rng = random.Random(3)
    lines = ["姓,名,セイ,メイ,メールアドレス,電話番号,会社名"]
    for i in range(rows):
        (family, family_kana, family_romaji), (given, given_kana, given_romaji) = rng.choice(JA_FAMILY), rng.choice(JA_GIVEN)
        lines.append(
            f"{family},{given},{family_kana},{given_kana},{given_romaji}.{family_romaji}{i}@example.jp,"
            f"03-{5000 + i % 5000:04d}-{i % 10000:04d},縁商事{i % 50}株式会社"
        )
    return "\r\n".join(lines).encode("cp932")


async def fresh_runtime() -> Runtime:
    """An empty database: a new SQLite file, or the PostgreSQL one emptied (a leftover contact
    would turn the next import's rows into duplicates, which cost next to nothing)."""
    url = database_url("csv_import")
    runtime = Runtime(
        Settings(database_url=url, key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=", log_level="WARNING")
    )
    await asyncio.to_thread(upgrade, runtime)
    await wipe(runtime)
    return runtime


async def enishi(data: bytes) -> float:
    runtime = await fresh_runtime()
    started = time.perf_counter()
    async with runtime.unit_of_work() as uow:
        job = await create_import(uow, data, "bench.csv")
    await run_import(runtime, job.id)
    elapsed = time.perf_counter() - started
    await runtime.close()
    return elapsed


async def bulk_insert(runtime: Runtime, rows_by_model: dict) -> None:
    """Every row in one transaction, parents first, one executemany per table: one statement
    compiled once and its rows sent together (asyncpg pipelines them). Multi-row `VALUES` of 500,
    as before, cost three times as much on PostgreSQL: each chunk a new statement, compiled afresh."""
    async with runtime.unit_of_work() as uow:
        connection = await uow.session.connection()
        for model, rows in rows_by_model.items():
            await connection.execute(model.__table__.insert(), rows)


async def floor(data: bytes) -> float:
    runtime = await fresh_runtime()
    started = time.perf_counter()
    text = data.decode(detect_format(data).encoding)
    rows_by_model: dict = {}
    now = runtime.clock.now()
    for family, given, family_kana, given_kana, email, phone, _company in list(csv.reader(io.StringIO(text)))[1:]:
        names = {"family_name": family, "given_name": given, "family_name_kana": family_kana, "given_name_kana": given_kana}
        contact = {"id": new_id(), "custom_fields": {}, "created_at": now, "updated_at": now}
        for model, rows in bulk_contact_rows(contact, names, [email], [normalize_phone(phone)]).items():  # sealed, indexed
            rows_by_model.setdefault(model, []).extend(rows)
    await bulk_insert(runtime, rows_by_model)
    elapsed = time.perf_counter() - started
    await runtime.close()
    return elapsed


async def main(args) -> dict:
    data = make_file(args.rows)
    seconds: dict[str, list[float]] = {"floor": [], "enishi": []}
    for _ in range(args.rounds):
        seconds["floor"].append(await floor(data))
        seconds["enishi"].append(await enishi(data))
    rates = {name: round(args.rows / statistics.median(values)) for name, values in seconds.items()}
    return {
        "rows": args.rows,
        "rows_per_second": rates,
        "ratio": round(rates["floor"] / rates["enishi"], 2),
        "seconds": seconds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    report = asyncio.run(main(parser.parse_args()))
    print(
        f"CSV import of {report['rows']} rows: floor {report['rows_per_second']['floor']} rows/s, "
        f"Enishi {report['rows_per_second']['enishi']} rows/s, ratio {report['ratio']}×"
    )
    save_result("csv_import", report)

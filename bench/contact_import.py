"""Workload (h): the contact import's throughput and peak memory, on an office's 顧客管理表.

The file: the issue's columns (会社名, 担当者名 as one full name, 電話番号, メールアドレス,
最終対応日 as 2024/4/1, メモ), Shift_JIS; one row in five is a later contact with a person of an
earlier row (merged, a second dated note). Throughput: `create_import` + `run_import` (every row
read, matched, upserted, noted, recorded) in rows per second; (e) in csv_import.py has the
floor for the create-only path. Peak memory: a process of its own per size (`resource.getrusage`),
importing the file whole (`full`) or only checking and counting it as `create_import` does
(`file`: the streamed read every run starts with), so the sizes compare.

    python bench/contact_import.py [--rows 2000] [--rss-full 10000] [--rss-file 10000,100000]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://... python bench/contact_import.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from csv_import import fresh_runtime  # bench/ is on the path when a workload runs as a script

from enishi.demo import JA_FAMILY, JA_GIVEN
from enishi.services.import_files import detect_format, read_rows
from enishi.services.imports import create_import, run_import

HERE = Path(__file__).resolve().parent


def make_file(rows: int) -> bytes:
    rng = random.Random(7)
    lines = ["会社名,担当者名,電話番号,メールアドレス,最終対応日,メモ"]
    for i in range(rows):
        person = i - rng.randrange(1, 50) if i % 5 == 4 and i > 50 else i  # every fifth row: someone met before
        (family, _, romaji), (given, _, given_romaji) = JA_FAMILY[person % len(JA_FAMILY)], JA_GIVEN[person % len(JA_GIVEN)]
        lines.append(
            f"株式会社縁{person % 300},{family} {given},03-{5000 + person % 5000:04d}-{person % 10000:04d},"
            f"{given_romaji}.{romaji}{person}@example.jp,2024/{1 + i % 12}/{1 + i % 28},対応{i}"
        )
    return "\r\n".join(lines).encode("cp932")


async def import_seconds(data: bytes) -> float:
    runtime = await fresh_runtime()
    started = time.perf_counter()
    async with runtime.unit_of_work() as uow:
        job = await create_import(uow, data, "bench.csv")
    await run_import(runtime, job.id)
    elapsed = time.perf_counter() - started
    await runtime.close()
    return elapsed


def child(mode: str, rows: int) -> None:
    """Run in a process of its own: import (or only read) `rows` rows, print the peak RSS in KiB."""
    data = make_file(rows)
    if mode == "full":
        asyncio.run(import_seconds(data))
    else:
        file_format = detect_format(data, "bench.csv")
        assert sum(1 for _ in read_rows(data, file_format)) == rows + 1
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss_mib(mode: str, rows: int) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--rows", str(rows)], capture_output=True, text=True, check=True
    )
    return round(int(result.stdout.split()[-1]) / 1024, 1)


def main(args) -> dict:
    data = make_file(args.rows)
    seconds = asyncio.run(import_seconds(data))
    return {
        "rows": args.rows,
        "database": "postgresql" if os.environ.get("ENISHI_BENCH_DATABASE_URL", "").startswith("postgresql") else "sqlite",
        "rows_per_second": round(args.rows / seconds),
        "peak_rss_mib": {
            **{f"full {n}": peak_rss_mib("full", n) for n in args.rss_full},
            **{f"file {n}": peak_rss_mib("file", n) for n in args.rss_file},
        },
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--rss-full", type=lambda s: [int(n) for n in s.split(",") if n], default=[10_000])
    parser.add_argument("--rss-file", type=lambda s: [int(n) for n in s.split(",") if n], default=[10_000, 100_000])
    parser.add_argument("--child", choices=("full", "file"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, arguments.rows)
        sys.exit(0)
    result = main(arguments)
    print(f"contact import of {result['rows']} rows ({result['database']}): {result['rows_per_second']} rows/s")
    print("peak RSS (MiB): " + ", ".join(f"{k} rows {v}" for k, v in result["peak_rss_mib"].items()))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "contact_import.json").write_text(json.dumps(result, indent=2))

"""Workload (f): `enishi export contacts` at growing sizes: rows per second, and peak memory that
must stay flat (the rows are read, written and let go a batch at a time).

The database: N contacts bulk-inserted as the services seal them (names, kana, an email, a phone,
a custom field on every other one). Each export runs `enishi export contacts --output FILE` in a
process of its own, which reports its own peak RSS (`resource.getrusage`); the floor is the same
command exporting nobody (`--filter` matching no one): the process, its imports and its schema.
Memory per size is the peak above that floor.

    python bench/export.py [--sizes 10000 100000] [--formats csv xlsx] [--rounds 1]
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from report import database_url, save_result, scratch_folder  # bench/ is on the path when a workload runs as a script

from enishi.db import new_id
from enishi.db.migrate import upgrade
from enishi.demo import JA_FAMILY, JA_GIVEN
from enishi.runtime import Runtime
from enishi.services.contacts import bulk_contact_rows
from enishi.settings import Settings
from enishi.testing import wipe

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
SEED_CHUNK = 2_000
NOBODY = '{"email": {"eq": "nobody@example.invalid"}}'
# Runs in the measured process: the CLI's own entry point, then the process's peak RSS (KiB on Linux).
CHILD = """
import json, resource, sys, time
from enishi.cli import main
started = time.perf_counter()
status = main(sys.argv[1:])
print(json.dumps({"status": status, "seconds": time.perf_counter() - started,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


async def seed(url: str, contacts: int) -> None:
    """`contacts` contacts in an emptied database, inserted a chunk at a time."""
    runtime = Runtime(Settings(database_url=url, key_encryption_key=KEK, log_level="WARNING"))
    await asyncio.to_thread(upgrade, runtime)
    await wipe(runtime)
    rng, now = random.Random(5), runtime.clock.now()
    for first in range(0, contacts, SEED_CHUNK):
        rows_by_model: dict = {}
        for i in range(first, min(first + SEED_CHUNK, contacts)):
            (family, family_kana, romaji), (given, given_kana, _) = rng.choice(JA_FAMILY), rng.choice(JA_GIVEN)
            names = {"family_name": family, "given_name": given, "family_name_kana": family_kana, "given_name_kana": given_kana}
            contact = {
                "id": new_id(),
                "custom_fields": {"ランク": "A"} if i % 2 else {},
                "job_title": "部長",
                "created_at": now,
                "updated_at": now,
            }
            phone = f"+8135{i % 10_000_000:08d}"
            for model, rows in bulk_contact_rows(contact, names, [f"{romaji}{i}@example.jp"], [phone]).items():
                rows_by_model.setdefault(model, []).extend(rows)
        async with runtime.unit_of_work() as uow:
            for model, rows in rows_by_model.items():
                await uow.session.execute(model.__table__.insert(), rows)
    await runtime.close()


def export(url: str, format: str, target: Path, *extra: str) -> dict:
    env = {**os.environ, "ENISHI_DATABASE_URL": url, "ENISHI_KEK": KEK, "ENISHI_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-c", CHILD, "export", "contacts", "--format", format, "--output", str(target), *extra]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    measured = json.loads(result.stdout.splitlines()[-1])
    assert measured["status"] == 0, result.stderr
    return measured


def main(args) -> dict:
    url = database_url("export")
    folder = scratch_folder("export-files")
    report: dict = {"database": url.split(":", 1)[0], "runs": []}
    for size in args.sizes:
        started = time.perf_counter()
        asyncio.run(seed(url, size))
        print(f"{size} contacts seeded in {time.perf_counter() - started:.0f} s", flush=True)
        for format, round_ in itertools.product(args.formats, range(1, args.rounds + 1)):
            floor = export(url, format, folder / f"nobody.{format}", "--filter", NOBODY)
            run = export(url, format, folder / f"contacts.{format}")
            report["runs"].append(
                {
                    "contacts": size,
                    "format": format,
                    "round": round_,
                    # The floor's seconds are the process's start (imports, migrations check): not the export's.
                    "rows_per_second": round(size / max(run["seconds"] - floor["seconds"], 1e-9)),
                    "seconds": round(run["seconds"], 2),
                    "floor_seconds": round(floor["seconds"], 2),
                    "peak_rss_mib": round(run["peak_kib"] / 1024, 1),
                    "floor_rss_mib": round(floor["peak_kib"] / 1024, 1),
                    "above_floor_mib": round((run["peak_kib"] - floor["peak_kib"]) / 1024, 1),
                    "file_mib": round((folder / f"contacts.{format}").stat().st_size / 2**20, 1),
                }
            )
            show(report["runs"][-1])  # as each is measured: a 100k run is long, and may be cut short
    return report


def show(run: dict) -> None:
    print(
        f"{run['contacts']} contacts as {run['format']} (round {run['round']}): {run['rows_per_second']} rows/s, "
        f"peak RSS {run['peak_rss_mib']} MiB "
        f"({run['above_floor_mib']} above the {run['floor_rss_mib']} MiB of exporting nobody), file {run['file_mib']} MiB",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--formats", nargs="+", choices=("csv", "xlsx"), default=["csv", "xlsx"])
    parser.add_argument("--rounds", type=int, default=1, help="each export and its floor this many times, in turn")
    save_result("export", main(parser.parse_args()))

"""Workload (d): a data-subject access export and an erasure must not grow with the data size.

The same subject (contact data, activities, a ticket, a loyalty membership, consent) is added to
a small and to a large `enishi demo` data set; on each, an access request and an erasure run end
to end (every plugin's part, the export built, the WAL checkpointed). The floor is the small data
set: the ratio large/small should stay near 1. Reports milliseconds and SQL statements.

What is timed is what a server sees, by two mechanisms (until 2026-12-07 the bench timed the
small set, then loaded the large one and timed it in the process that had just loaded it):

- **Loaded, then opened.** Each set is loaded by a runtime that is then closed, as `enishi demo`
  is before a server starts (on SQLite the last connection's close checkpoints the load's WAL,
  150 MB at 20,000 contacts); the requests run on a runtime opened afterwards, warmed by one
  subject's access and erasure that are not timed (a running server's pool is open). The first
  request in the loading process is still reported, as `after_load`, for honesty: it is not a
  state a server is in.
- **Interleaved.** Both sets are open at once and each subject's requests alternate between them
  (the large set first for every other subject): a request here is ~100 round trips to the
  database, each a hop to the driver's thread, so its time follows the machine's load from one
  second to the next; timed one set after the other, the ratio was the load's drift (2.3–2.6×
  on 2026-12-07 with the same 104 / 142 statements at both sizes).

On PostgreSQL each set has a database of its own: `--small-url` and `--large-url`, or, without
them, two created beside `ENISHI_BENCH_DATABASE_URL`'s (its name + `_dsr_small`, `_dsr_large`;
until 2026-12-07 the large set was loaded on top of the small one). `--load-only` loads the sets
at the URLs given and exits, so that a long load can run outside the bench lock and the timing in
it; a set loaded beforehand is upgraded first (`enishi db upgrade`, as before a server starts).

    python bench/dsr.py [--small 2000] [--large 20000] [--repeat 3]
                        [--small-url URL] [--large-url URL] [--load-only]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time

from contact_page import StatementCounter  # the script's own folder is on sys.path
from report import database_url, save_result  # bench/ is on the path when a workload runs as a script
from sqlalchemy import func, make_url, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from enishi.db import analyze
from enishi.db.migrate import upgrade
from enishi.demo import load_demo
from enishi.models import Contact
from enishi.plugins.loyalty import service as loyalty
from enishi.plugins.loyalty.models import LoyaltyProgram
from enishi.plugins.privacy import execution, intake, requests
from enishi.plugins.privacy import service as privacy
from enishi.plugins.support import service as support
from enishi.runtime import Runtime
from enishi.services.activities import log_activity
from enishi.services.contacts import create_contact
from enishi.settings import Settings

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
KINDS = ("access", "erasure")


async def _new_database(suffix: str) -> str:
    """A scratch SQLite file, or on PostgreSQL an empty database `<the bench database>_<suffix>`
    created (again) on the same server."""
    url = database_url("dsr")
    if not url.startswith("postgresql"):
        return url
    base = make_url(url)
    engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
    name = f"{base.database}_{suffix}"
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _runtime(url: str) -> Runtime:
    return Runtime(Settings(database_url=url, key_encryption_key=KEK, log_level="WARNING"))


async def _subject(runtime, n: int):
    async with runtime.unit_of_work() as uow:
        contact = await create_contact(
            uow,
            {
                "family_name": "山田",
                "given_name": f"太郎{n}",
                "family_name_kana": "ヤマダ",
                "emails": [{"address": f"taro{n}@abc.co.jp"}],
                "phones": [{"number": "03-1234-5678"}],
            },
        )
        for i in range(20):
            await log_activity(uow, {"type": "call", "summary": f"電話 {i}", "contact_ids": [contact.id]})
        await support.create_ticket(uow, {"subject": "請求書", "requester_id": contact.id, "body": "お問い合わせ"})
        program_id = (await uow.session.execute(select(LoyaltyProgram.id).limit(1))).scalar_one()  # the demo's programme
        await loyalty.enroll(uow, program_id, contact.id)
        await privacy.record_consent(uow, contact.id, {"purpose": "marketing", "state": "granted", "evidence": "web form"})
    return contact.id


async def _request(runtime, contact_id, request_type: str) -> None:
    async with runtime.unit_of_work() as uow:
        request = await intake.create(
            uow, {"contact_id": contact_id, "type": request_type, "channel": "phone", "verification_note": "bench"}
        )
        await requests.approve(uow, request.id)
    await execution.execute(runtime, request.id)


async def _timed_requests(runtime, counter: StatementCounter, n: int) -> dict:
    """One new subject's access request, then its erasure: milliseconds and statements of each."""
    contact_id = await _subject(runtime, n)
    figures = {}
    for kind in KINDS:
        before, started = counter.count, time.perf_counter()
        await _request(runtime, contact_id, kind)
        figures[kind] = ((time.perf_counter() - started) * 1000, counter.count - before)
    return figures


async def load(size: int, url: str, first_requests: bool) -> dict:
    """Load `size` demo contacts at `url`, then close the runtime (as `enishi demo` exits before a
    server starts). With `first_requests`, one subject's requests run first in the loading
    process, the load's WAL still there: that figure, not what a server sees, is returned."""
    runtime = _runtime(url)
    await asyncio.to_thread(upgrade, runtime)
    await load_demo(runtime, scale=size, force=True)
    await analyze(runtime.engine)  # PostgreSQL only: see its docstring
    figures = await _timed_requests(runtime, StatementCounter(runtime.engine), -1) if first_requests else {}
    await runtime.close()
    return figures


async def measure(urls: dict[str, str], repeat: int) -> dict:
    """Both sets open at once, each warmed by an untimed subject, then `repeat` subjects whose
    requests alternate between the sets (the large set first for every other subject)."""
    runtimes = {name: _runtime(url) for name, url in urls.items()}
    for runtime in runtimes.values():  # a set loaded by an older checkout gains this one's migrations
        await asyncio.to_thread(upgrade, runtime)
    counters = {name: StatementCounter(runtime.engine) for name, runtime in runtimes.items()}
    contacts = {}
    for name, runtime in runtimes.items():
        async with runtime.read_session() as session:  # what the set holds, whoever loaded it
            contacts[name] = (await session.execute(select(func.count()).select_from(Contact))).scalar_one()
        await _timed_requests(runtime, counters[name], 0)
    timings: dict[str, dict[str, list]] = {name: {kind: [] for kind in KINDS} for name in urls}
    for n in range(1, repeat + 1):
        for name in ("large", "small") if n % 2 else ("small", "large"):
            for kind, figure in (await _timed_requests(runtimes[name], counters[name], n)).items():
                timings[name][kind].append(figure)
    for runtime in runtimes.values():
        await runtime.close()
    return {f"{name}_contacts": contacts[name] for name in urls} | {
        name: {
            kind: {
                "p50_ms": round(statistics.median(ms for ms, _ in figures), 1),
                "ms": [round(ms, 1) for ms, _ in figures],
                "statements": sorted({count for _, count in figures}),
            }
            for kind, figures in by_kind.items()
        }
        for name, by_kind in timings.items()
    }


def _pair_range(large: list[float], small: list[float]) -> list[float]:
    """The lowest and highest of the n-th subject's time on the large set over the n-th's on the small."""
    ratios = [big / little for big, little in zip(large, small, strict=True)]
    return [round(min(ratios), 2), round(max(ratios), 2)]


async def main(args) -> dict:
    if args.load_only and not (args.small_url and args.large_url):
        sys.exit("--load-only loads the sets at --small-url and --large-url")
    sizes = {"small": args.small, "large": args.large}
    urls = {name: getattr(args, f"{name}_url") or await _new_database(f"dsr_{name}") for name in sizes}
    # Sets named by URL are loaded only with --load-only; otherwise they are taken as they are (the 1M set).
    to_load = list(sizes) if args.load_only else [name for name in sizes if not getattr(args, f"{name}_url")]
    after_load = {name: await load(sizes[name], urls[name], not args.load_only) for name in to_load}
    if args.load_only:
        return {}
    report = await measure(urls, args.repeat)
    return {
        "utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average": os.getloadavg(),
        **report,
        "ratio_p50": {kind: round(report["large"][kind]["p50_ms"] / report["small"][kind]["p50_ms"], 2) for kind in KINDS},
        # The n-th subject of the large set against the n-th of the small, timed side by side.
        "ratio_range": {kind: _pair_range(report["large"][kind]["ms"], report["small"][kind]["ms"]) for kind in KINDS},
        # The first subject's requests in the process that had just loaded the set (not a server's state).
        "after_load": {name: {kind: round(ms, 1) for kind, (ms, _) in figure.items()} for name, figure in after_load.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small-url", help="the small set's database (loaded with --load-only, else taken as it is)")
    parser.add_argument(
        "--large-url", help="the large set's database; without --load-only one already loaded (the 1M set): it gains the subjects"
    )
    parser.add_argument("--load-only", action="store_true", help="load both sets at --small-url and --large-url, then exit")
    report = asyncio.run(main(parser.parse_args()))
    if report:
        print(f"UTC {report['utc']}, load average {' '.join(f'{x:.2f}' for x in report['load_average'])}")
        for kind in KINDS:
            print(
                f"{kind:<8} {report['small_contacts']:>7} contacts: {report['small'][kind]['ms']} ms "
                f"{report['small'][kind]['statements']} statements"
                f" | {report['large_contacts']:>7} contacts: {report['large'][kind]['ms']} ms "
                f"{report['large'][kind]['statements']} statements"
                f" | ratio {report['ratio_p50'][kind]}× (per subject {'–'.join(map(str, report['ratio_range'][kind]))}×)"
            )
        for name, figure in report["after_load"].items():
            print(f"right after loading the {name} set, in the loading process: {figure} ms")
        save_result("dsr", report)

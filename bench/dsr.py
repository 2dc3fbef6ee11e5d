"""Workload (d): a data-subject access export and an erasure must not grow with the data size.

The same subject (contact data, activities, a ticket, a loyalty membership, consent) is added to
a small and to a large `enishi demo` data set; on each, an access request and an erasure run end
to end (every plugin's part, the export built, the WAL checkpointed). The floor is the small data
set: the ratio large/small should stay near 1. Reports milliseconds and SQL statements.

    python bench/dsr.py [--small 2000] [--large 20000 | --large-url URL] [--repeat 3]
"""

import argparse
import asyncio
import statistics
import time

from contact_page import StatementCounter  # the script's own folder is on sys.path
from report import database_url, save_result  # bench/ is on the path when a workload runs as a script
from sqlalchemy import select

from enishi.db import analyze
from enishi.db.migrate import upgrade
from enishi.demo import load_demo
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


async def measure(size: int, repeat: int, url: str | None = None) -> dict:
    """On a fresh data set of `size` contacts, or on the one already at `url`."""
    fresh = url is None
    url = url or database_url("dsr")
    runtime = Runtime(Settings(database_url=url, key_encryption_key=KEK, log_level="WARNING"))
    await asyncio.to_thread(upgrade, runtime)
    if fresh:
        await load_demo(runtime, scale=size, force=True)
        await analyze(runtime.engine)  # PostgreSQL only: see its docstring
    counter = StatementCounter(runtime.engine)
    timings: dict[str, list[float]] = {"access": [], "erasure": []}
    statements = {}
    for n in range(repeat):
        contact_id = await _subject(runtime, n)
        for kind in ("access", "erasure"):
            before = counter.count
            started = time.perf_counter()
            await _request(runtime, contact_id, kind)
            timings[kind].append((time.perf_counter() - started) * 1000)
            statements[kind] = counter.count - before
    await runtime.close()
    return {
        kind: {
            "p50_ms": round(statistics.median(values), 1),
            "ms": [round(value, 1) for value in values],
            "statements": statements[kind],
        }
        for kind, values in timings.items()
    }


def _pair_range(large: list[float], small: list[float]) -> list[float]:
    """The lowest and highest of the n-th subject's time on the large set over the n-th's on the small."""
    ratios = [big / little for big, little in zip(large, small, strict=True)]
    return [round(min(ratios), 2), round(max(ratios), 2)]


async def main(args) -> dict:
    small = await measure(args.small, args.repeat)
    large = await measure(args.large, args.repeat, args.large_url)
    return {
        "small_contacts": args.small,
        "large_contacts": "existing" if args.large_url else args.large,
        "small": small,
        "large": large,
        "ratio_p50": {kind: round(large[kind]["p50_ms"] / small[kind]["p50_ms"], 2) for kind in small},
        # The n-th subject of the large set against the n-th of the small: the ratio's range.
        "ratio_range": {kind: _pair_range(large[kind]["ms"], small[kind]["ms"]) for kind in small},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--large-url", help="an already loaded data set (the 1M one) to use as the large one; it gains the test subjects"
    )
    report = asyncio.run(main(parser.parse_args()))
    for kind in ("access", "erasure"):
        print(
            f"{kind:<8} {report['small_contacts']:>7} contacts: {report['small'][kind]['p50_ms']:>7} ms "
            f"{report['small'][kind]['statements']:>4} statements"
            f" | {report['large_contacts']:>7} contacts: {report['large'][kind]['p50_ms']:>7} ms "
            f"{report['large'][kind]['statements']:>4} statements"
            f" | ratio {report['ratio_p50'][kind]}× ({report['ratio_range'][kind][0]}–{report['ratio_range'][kind][1]}×)"
        )
    save_result("dsr", report)

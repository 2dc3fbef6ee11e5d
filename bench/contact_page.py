"""Workloads (a) and (c) of the benchmark issue, in process, against floors measured in the same run.

(a) A page of contacts with primary account (and its ABM tier), owner, primary email, latest 3
    activities, loyalty balance and tickets (count and latest 3), through the GraphQL schema.
    Floor: the same data fetched by hand-written SQLAlchemy Core queries (one per relation, the
    timeline and tickets with a window function) and serialised to JSON. `a_frontend_100`: the
    page as the issue's frontend asks it (`FRONTEND`: phones, primary account and ABM tier, latest
    3 activities, loyalty balance and tier, ticket count) against its own floor.
(c) Contact search for a Japanese substring (`contacts(filter: {search: "山田"})`, first 20): names, kana,
    emails, phones and the names of the contact's companies.
    Floor: the same LIKEs over the stored search texts, hand-written.

Both report median/p95/p99 latency, the ratio of medians, and SQL statements per request for
page sizes 10 and 100 (constant means no N+1). Rounds interleave floor and Enishi.
Data: `enishi demo --scale N` (SQLite in a temporary directory unless ENISHI_BENCH_DATABASE_URL).

    python bench/contact_page.py [--contacts 10000] [--rounds 3] [--iterations 30]
"""

import argparse
import asyncio
import json
import os
import resource
import statistics
import time

from report import (  # bench/ is on the path when a workload runs as a script
    database_url,
    describe_ratios,
    paired_ratios,
    save_result,
)
from sqlalchemy import and_, event, func, or_, select

from enishi import crypto
from enishi.auth import Viewer, create_user
from enishi.db.migrate import upgrade
from enishi.demo import load_demo
from enishi.graphql.context import Context
from enishi.graphql.schema import build_schema
from enishi.models import (
    Account,
    Activity,
    ActivityKey,
    ActivityTarget,
    Contact,
    ContactAccount,
    ContactEmail,
    ContactPhone,
    ContactSearchToken,
    SubjectKey,
    User,
)
from enishi.normalize import search_key
from enishi.plugins.abm.models import AbmTargetAccount
from enishi.plugins.loyalty.models import LoyaltyMember, LoyaltyTier
from enishi.plugins.support.models import SupportTicket
from enishi.runtime import Runtime, settle_heap
from enishi.sealing import personal_reads
from enishi.services.contacts import NAME_FIELDS
from enishi.settings import Settings

PAGE = """query Page($first: Int!) {
  contacts(first: $first, orderBy: [{field: CREATED_AT, direction: DESC}]) { edges { node {
    id familyName givenName familyNameKana givenNameKana primaryEmail
    primaryAccount { id name abm { tier } }
    owner { id displayName }
    timeline(first: 3) { edges { node { id type summary occurredAt } } }
    loyalty { balance }
    tickets(first: 3) { totalCount edges { node { number status } } }
  } } }
}"""
ABUSIVE = {
    "depth_20": "{ contacts { edges { node { "
    + "primaryAccount { contacts { edges { node { " * 5
    + "id"
    + " } } } }" * 5
    + " } } } }",
    "aliases_500": "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(500)) + " }",
    "first_1000000": "{ contacts(first: 1000000) { edges { node { id } } } }",
}
# The page as the frontend asks it: phones, primary account with its ABM tier, the last 3
# activities, loyalty balance and tier, the ticket count.
FRONTEND = """query Frontend($first: Int!) {
  contacts(first: $first, orderBy: [{field: CREATED_AT, direction: DESC}]) { edges { node {
    id familyName givenName
    phones { e164 label }
    primaryAccount { id name abm { tier } }
    timeline(first: 3) { edges { node { id type summary occurredAt } } }
    loyalty { balance tier { name } }
    tickets { totalCount }
  } } }
}"""
QUERIES = {"page": PAGE, "frontend": FRONTEND}
SEARCH = """query Search($q: String!) { contacts(first: 20, filter: {search: $q}) {
    edges { node { id familyName givenName primaryEmail } } } }"""


def _by(rows, key):
    grouped = {}
    for row in rows:
        grouped.setdefault(row[key], []).append(row)
    return grouped


SEALED_NAMES = [getattr(Contact, f"sealed_{name}") for name in NAME_FIELDS]


def _latest(partition, order, statement_columns, where, limit=3):
    """Up to `limit` rows per partition, newest first, with ROW_NUMBER."""
    ranked = (
        select(*statement_columns, func.row_number().over(partition_by=partition, order_by=order).label("rank"))
        .where(where)
        .subquery()
    )
    return select(ranked).where(ranked.c.rank <= limit)


async def _floor_contacts(session, first: int) -> list[dict]:
    rows = (
        await session.execute(
            select(Contact.id, *SEALED_NAMES, Contact.owner_id, SubjectKey.kek_id, SubjectKey.wrapped_key)
            .join(SubjectKey, SubjectKey.contact_id == Contact.id)
            .where(Contact.deleted_at.is_(None))
            .order_by(Contact.created_at.desc(), Contact.id.desc())
            .limit(first)
        )
    ).all()
    return [_opened(row) for row in rows]


async def _floor_accounts(session, ids: list) -> dict:
    """Each contact's primary account with its ABM tier, joined."""
    return {
        r["contact_id"]: r
        for r in (
            await session.execute(
                select(ContactAccount.contact_id, Account.id, Account.name, AbmTargetAccount.tier)
                .join(Account, Account.id == ContactAccount.account_id)
                .outerjoin(AbmTargetAccount, AbmTargetAccount.account_id == Account.id)
                .where(ContactAccount.contact_id.in_(ids), ContactAccount.is_primary.is_(True))
            )
        ).mappings()
    }


async def _floor_timeline(session, ids: list) -> dict:
    """Each contact's latest 3 activities, decrypted."""
    rows = (
        await session.execute(
            _latest(
                ActivityTarget.contact_id,
                (Activity.occurred_at.desc(), Activity.id.desc()),
                (
                    ActivityTarget.contact_id,
                    Activity.id,
                    Activity.type,
                    Activity.sealed_summary,
                    Activity.occurred_at,
                    ActivityKey.kek_id,
                    ActivityKey.wrapped_key,
                ),
                and_(
                    ActivityTarget.contact_id.in_(ids),
                    Activity.id == ActivityTarget.activity_id,
                    ActivityKey.activity_id == Activity.id,
                ),
            ).order_by("contact_id", "rank")
        )
    ).mappings()
    return {
        contact_id: [
            {"id": str(a["id"]), "type": a["type"], "summary": _open_activity(a), "occurredAt": a["occurred_at"].isoformat()}
            for a in activities
        ]
        for contact_id, activities in _by(rows, "contact_id").items()
    }


async def _floor_ticket_counts(session, ids: list) -> dict:
    return dict(
        (
            await session.execute(
                select(SupportTicket.requester_id, func.count())
                .where(SupportTicket.requester_id.in_(ids))
                .group_by(SupportTicket.requester_id)
            )
        ).all()
    )


def _account(account) -> dict | None:
    if account is None:
        return None
    return {"id": str(account["id"]), "name": account["name"], "abm": {"tier": account["tier"]} if account["tier"] else None}


async def floor_page(read_session, first: int) -> str:
    """`read_session` opens a read-only session: the runtime's, or the bare baseline app's."""
    async with read_session() as session:
        contacts = await _floor_contacts(session, first)
        by_id = {c["id"]: c for c in contacts}
        ids = list(by_id)
        emails = {
            contact_id: _open(by_id[contact_id], sealed, "core_contact_email.address")
            for contact_id, sealed in (
                await session.execute(
                    select(ContactEmail.contact_id, ContactEmail.sealed_address).where(
                        ContactEmail.contact_id.in_(ids), ContactEmail.is_primary.is_(True)
                    )
                )
            ).all()
        }
        accounts = await _floor_accounts(session, ids)
        owners = dict(
            (
                await session.execute(
                    select(User.id, User.display_name).where(User.id.in_({c["owner_id"] for c in contacts if c["owner_id"]}))
                )
            ).all()
        )
        timeline = await _floor_timeline(session, ids)
        balances = dict(
            (
                await session.execute(
                    select(LoyaltyMember.contact_id, LoyaltyMember.balance).where(LoyaltyMember.contact_id.in_(ids))
                )
            ).all()
        )
        ticket_counts = await _floor_ticket_counts(session, ids)
        tickets = _by(
            (
                await session.execute(
                    _latest(
                        SupportTicket.requester_id,
                        (SupportTicket.created_at.desc(), SupportTicket.id.desc()),
                        (SupportTicket.requester_id, SupportTicket.number, SupportTicket.status),
                        SupportTicket.requester_id.in_(ids),
                    ).order_by("requester_id", "rank")
                )
            ).mappings(),
            "requester_id",
        )
    page = []
    for c in contacts:
        page.append(
            {
                "id": str(c["id"]),
                "familyName": c["family_name"],
                "givenName": c["given_name"],
                "familyNameKana": c["family_name_kana"],
                "givenNameKana": c["given_name_kana"],
                "primaryEmail": emails.get(c["id"]),
                "primaryAccount": _account(accounts.get(c["id"])),
                "owner": {"id": str(c["owner_id"]), "displayName": owners[c["owner_id"]]} if c["owner_id"] in owners else None,
                "timeline": timeline.get(c["id"], []),
                "loyalty": {"balance": balances[c["id"]]} if c["id"] in balances else None,
                "tickets": {
                    "totalCount": ticket_counts.get(c["id"], 0),
                    "edges": [{"number": t["number"], "status": t["status"]} for t in tickets.get(c["id"], [])],
                },
            }
        )
    return json.dumps({"contacts": page}, ensure_ascii=False)


async def floor_frontend_page(read_session, first: int) -> str:
    """The issue's frontend page (`FRONTEND`) by hand: phones, primary account with its ABM tier,
    the latest 3 activities, loyalty balance and tier (joined), the ticket count."""
    async with read_session() as session:
        contacts = await _floor_contacts(session, first)
        by_id = {c["id"]: c for c in contacts}
        ids = list(by_id)
        phones = _by(
            (
                await session.execute(
                    select(ContactPhone.contact_id, ContactPhone.sealed_e164, ContactPhone.label)
                    .where(ContactPhone.contact_id.in_(ids))
                    .order_by(ContactPhone.contact_id, ContactPhone.position)
                )
            ).mappings(),
            "contact_id",
        )
        accounts = await _floor_accounts(session, ids)
        timeline = await _floor_timeline(session, ids)
        loyalty = {
            r["contact_id"]: r
            for r in (
                await session.execute(
                    select(LoyaltyMember.contact_id, LoyaltyMember.balance, LoyaltyTier.name)
                    .outerjoin(LoyaltyTier, LoyaltyTier.id == LoyaltyMember.tier_id)
                    .where(LoyaltyMember.contact_id.in_(ids))
                )
            ).mappings()
        }
        ticket_counts = await _floor_ticket_counts(session, ids)
    page = []
    for c in contacts:
        member = loyalty.get(c["id"])
        page.append(
            {
                "id": str(c["id"]),
                "familyName": c["family_name"],
                "givenName": c["given_name"],
                "phones": [
                    {"e164": _open(c, p["sealed_e164"], "core_contact_phone.e164"), "label": p["label"]}
                    for p in phones.get(c["id"], [])
                ],
                "primaryAccount": _account(accounts.get(c["id"])),
                "timeline": timeline.get(c["id"], []),
                "loyalty": {"balance": member["balance"], "tier": {"name": member["name"]} if member["name"] else None}
                if member
                else None,
                "tickets": {"totalCount": ticket_counts.get(c["id"], 0)},
            }
        )
    return json.dumps({"contacts": page}, ensure_ascii=False)


FLOORS = {"page": floor_page, "frontend": floor_frontend_page}


def _opened(row) -> dict:
    """A contact row with its subject key unwrapped and its names decrypted, by hand."""
    contact = {"id": row.id, "owner_id": row.owner_id, "data_key": crypto.installed().unwrap(row.kek_id, row.wrapped_key)}
    for name in NAME_FIELDS:
        contact[name] = _open(contact, getattr(row, f"sealed_{name}"), f"core_contact.{name}")
    return contact


def _open(contact: dict, sealed: bytes | None, context: str) -> str | None:
    return None if sealed is None else crypto.decrypt(contact["data_key"], sealed, context.encode())


def _open_activity(row) -> str | None:
    if row["wrapped_key"] is None:
        return None
    return crypto.decrypt(
        crypto.installed().unwrap(row["kek_id"], row["wrapped_key"]), row["sealed_summary"], b"core_activity.summary"
    )


async def floor_search(read_session, query: str) -> str:
    key = search_key(query)
    pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # People holding every search token of the query, or working at a company whose name matches.
    tokens = crypto.installed().query_tokens(key)[0]
    holding_tokens = (
        select(ContactSearchToken.contact_id)
        .where(ContactSearchToken.token.in_(tokens))
        .group_by(ContactSearchToken.contact_id)
        .having(func.count() == len(tokens))
    )
    at_matching_company = select(ContactAccount.contact_id).where(
        ContactAccount.account_id.in_(select(Account.id).where(Account.search_text.like(pattern, escape="\\")))
    )
    async with read_session() as session:
        rows = (
            await session.execute(
                select(Contact.id, *SEALED_NAMES, Contact.owner_id, SubjectKey.kek_id, SubjectKey.wrapped_key)
                .join(SubjectKey, SubjectKey.contact_id == Contact.id)
                .where(Contact.deleted_at.is_(None), or_(Contact.id.in_(holding_tokens), Contact.id.in_(at_matching_company)))
                .order_by(Contact.kana_sort, Contact.id)
                .limit(20)
            )
        ).all()
        contacts = {c["id"]: c for c in map(_opened, rows)}
        emails = dict(
            (
                await session.execute(
                    select(ContactEmail.contact_id, ContactEmail.sealed_address).where(
                        ContactEmail.contact_id.in_(list(contacts)), ContactEmail.is_primary.is_(True)
                    )
                )
            ).all()
        )
    return json.dumps(
        [
            {
                "id": str(c["id"]),
                "familyName": c["family_name"],
                "givenName": c["given_name"],
                "primaryEmail": _open(c, emails.get(c["id"]), "core_contact_email.address"),
            }
            for c in contacts.values()
        ],
        ensure_ascii=False,
    )


async def enishi(runtime, schema, viewer, query: str, variables: dict) -> str:
    """A request as the HTTP view runs it: what it decrypts is recorded and handed to
    `enishi_request_finished` (the privacy plugin's access log) before the answer goes out."""
    context = Context(runtime, viewer)
    reads: set = set()
    recording = personal_reads.set(reads)
    try:
        result = await schema.execute(query, variable_values=variables, context_value=context)
    finally:
        personal_reads.reset(recording)
        await context.close()
    await runtime.plugins.call("enishi_request_finished", runtime=runtime, actor_id=viewer.user_id, personal_reads=reads)
    assert not result.errors, result.errors
    return json.dumps(result.data, ensure_ascii=False, default=str)


def plugin_rows_on(page: str) -> dict[str, int]:
    """How many of a page's contacts show each plugin's data: the page must make them work."""
    nodes = [edge["node"] for edge in json.loads(page)["contacts"]["edges"]]
    return {
        "contacts": len(nodes),
        "abm_tier": sum(bool(n["primaryAccount"] and n["primaryAccount"]["abm"]) for n in nodes),
        "loyalty_member": sum(n["loyalty"] is not None for n in nodes),
        "with_tickets": sum(n["tickets"]["totalCount"] > 0 for n in nodes),
    }


async def admins(runtime, n: int) -> list[Viewer]:
    """`n` users with the admin role, none of whom has read anything yet."""
    permissions = frozenset(runtime.permissions.for_roles(["admin"]))
    async with runtime.unit_of_work() as uow:
        users = [
            await create_user(uow.session, runtime.clock, display_name=f"bench reader {i}", roles=["admin"]) for i in range(n)
        ]
    return [Viewer(user_id=user.id, roles=frozenset({"admin"}), permissions=permissions) for user in users]


async def first_reads_and_repeats(runtime, schema, reader: Viewer, counter, pairs: int) -> dict:
    """(a) read first by users who have not read those people today (the access log writes an
    entry for each person read), each followed by `reader`'s repeat of a page it has read before:
    `pairs` pairs, and the statements of one first read and one repeat."""
    fresh = iter(await admins(runtime, pairs + 2))
    page = lambda viewer: lambda: enishi(runtime, schema, viewer, PAGE, {"first": 100})  # noqa: E731
    statements = {"first_read": await counter.per_call(page(next(fresh))), "repeat": await counter.per_call(page(reader))}
    await page(next(fresh))()  # warm the first-read path
    # Wall time, and the process's CPU time (every thread: SQLite's work runs in aiosqlite's), which
    # a machine shared with other work disturbs far less.
    samples: dict[str, list[float]] = {"first_read": [], "repeat": [], "first_read_cpu": [], "repeat_cpu": []}
    for _ in range(pairs):
        for name, viewer in (("first_read", next(fresh)), ("repeat", reader)):
            started, cpu = time.perf_counter(), time.process_time()
            await page(viewer)()
            samples[name].append((time.perf_counter() - started) * 1000)
            samples[f"{name}_cpu"].append((time.process_time() - cpu) * 1000)
    return {
        "first_read": summary(samples["first_read"]),
        "repeat": summary(samples["repeat"]),
        "wall": paired_ratios(samples["first_read"], samples["repeat"]),
        "cpu_p50_ms": {name: round(statistics.median(samples[f"{name}_cpu"]), 1) for name in ("first_read", "repeat")},
        "cpu": paired_ratios(samples["first_read_cpu"], samples["repeat_cpu"]),
        "statements": statements,
    }


class StatementCounter:
    def __init__(self, engine):
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args):
        self.count += 1

    async def per_call(self, work) -> int:
        before = self.count
        await work()
        return self.count - before


async def timed(work, iterations: int) -> tuple[list[float], list[float]]:
    """Wall time and process CPU time (every thread: SQLite's work runs in aiosqlite's) of each
    call, in ms. On a machine shared with other work the CPU time is the steadier of the two."""
    samples, cpu = [], []
    for _ in range(iterations):
        started, cpu_started = time.perf_counter(), time.process_time()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return samples, cpu


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(pick(0.95), 2), "p99_ms": round(pick(0.99), 2)}


async def main(args) -> dict:
    url = database_url("contact_page")
    settings = Settings(database_url=url, key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=", log_level="WARNING")
    runtime = Runtime(settings)
    await asyncio.to_thread(upgrade, runtime)
    started = time.perf_counter()
    # --reuse: a data set loaded before (the 1M-contact one takes most of an hour) is used as it is.
    await load_demo(runtime, scale=args.contacts, force=not args.reuse)
    load_seconds = time.perf_counter() - started
    async with runtime.read_session() as session:
        contacts = (await session.execute(select(func.count()).select_from(Contact))).scalar_one()
    viewer = (await admins(runtime, 1))[0]
    schema = build_schema(runtime)
    counter = StatementCounter(runtime.engine)
    workloads = {
        "a_page_100": (
            lambda: floor_page(runtime.read_session, 100),
            lambda: enishi(runtime, schema, viewer, PAGE, {"first": 100}),
        ),
        "a_frontend_100": (
            lambda: floor_frontend_page(runtime.read_session, 100),
            lambda: enishi(runtime, schema, viewer, FRONTEND, {"first": 100}),
        ),
        "c_search_ja": (
            lambda: floor_search(runtime.read_session, "山田"),
            lambda: enishi(runtime, schema, viewer, SEARCH, {"q": "山田"}),
        ),
    }
    # Its reads logged, so the counts below are repeats.
    on_page = plugin_rows_on(await enishi(runtime, schema, viewer, PAGE, {"first": 100}))
    statements = {
        "floor_page_10": await counter.per_call(lambda: floor_page(runtime.read_session, 10)),
        "floor_page_100": await counter.per_call(lambda: floor_page(runtime.read_session, 100)),
        "enishi_page_10": await counter.per_call(lambda: enishi(runtime, schema, viewer, PAGE, {"first": 10})),
        "enishi_page_100": await counter.per_call(lambda: enishi(runtime, schema, viewer, PAGE, {"first": 100})),
        "floor_frontend_100": await counter.per_call(lambda: floor_frontend_page(runtime.read_session, 100)),
        "enishi_frontend_100": await counter.per_call(lambda: enishi(runtime, schema, viewer, FRONTEND, {"first": 100})),
        "enishi_search": await counter.per_call(lambda: enishi(runtime, schema, viewer, SEARCH, {"q": "山田"})),
    }
    abusive = {}
    for name, query in ABUSIVE.items():
        before, times = counter.count, list[float]()
        for _ in range(20):  # each a new query text: no parser or validation cache helps
            started = time.perf_counter()
            context = Context(runtime, viewer)
            result = await schema.execute(query + f" # {len(times)}", context_value=context)
            await context.close()
            times.append((time.perf_counter() - started) * 1000)
        abusive[name] = {
            "rejected": bool(result.errors) and not result.data,
            "p50_ms": round(statistics.median(times), 2),
            "statements": counter.count - before,
            "code": (result.errors[0].extensions or {}).get("code") if result.errors else None,
        }
    settle_heap()  # as `enishi serve` does; the floor, in this same process, gets it too
    samples: dict[str, dict[str, list[float]]] = {name: {"floor": [], "enishi": []} for name in workloads}
    round_medians: dict[str, dict[str, list[float]]] = {name: {"floor": [], "enishi": []} for name in workloads}
    round_cpu: dict[str, dict[str, list[float]]] = {name: {"floor": [], "enishi": []} for name in workloads}
    for _ in range(args.rounds):
        for name, (floor, ours) in workloads.items():
            await floor()  # warm both paths before each timed block
            await ours()
            for side, work in (("floor", floor), ("enishi", ours)):
                times, cpu = await timed(work, args.iterations)
                samples[name][side] += times
                round_medians[name][side].append(statistics.median(times))
                round_cpu[name][side].append(statistics.median(cpu))
    first_reads = await first_reads_and_repeats(runtime, schema, viewer, counter, args.rounds * args.iterations)
    await runtime.close()
    results = {}
    for name, both in samples.items():
        floor_summary, ours_summary = summary(both["floor"]), summary(both["enishi"])
        results[name] = {
            "floor": floor_summary,
            "enishi": ours_summary,
            "ratio_p50": round(ours_summary["p50_ms"] / floor_summary["p50_ms"], 2),
            "per_round": paired_ratios(round_medians[name]["enishi"], round_medians[name]["floor"]),
            "cpu_p50_ms": {side: round(statistics.median(round_cpu[name][side]), 1) for side in ("floor", "enishi")},
            "per_round_cpu": paired_ratios(round_cpu[name]["enishi"], round_cpu[name]["floor"]),
        }
    return {
        "contacts": contacts,
        "database": url.split(":")[0],
        "load_seconds": round(load_seconds, 1),
        "results": results,
        "statements_per_request": statements,
        "first_read_vs_repeat": first_reads,
        "plugin_rows_on_page": on_page,
        "abusive_queries": abusive,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="use the data already in ENISHI_BENCH_DATABASE_URL, if any")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30)
    report = asyncio.run(main(parser.parse_args()))
    print(
        f"{report['contacts']} contacts on {report['database']} (loaded in {report['load_seconds']} s), "
        f"load average {os.getloadavg()[0]:.1f}, "
        f"peak RSS {report['peak_rss_mib']} MiB; on the page: {report['plugin_rows_on_page']}"
    )
    print(f"{'workload':<14} {'floor p50/p95/p99 ms':>24} {'Enishi p50/p95/p99 ms':>26} {'ratio':>6}  per round")
    for name, r in report["results"].items():
        f, e = r["floor"], r["enishi"]
        print(
            f"{name:<14} {f['p50_ms']:>8}/{f['p95_ms']}/{f['p99_ms']:<8} "
            f"{e['p50_ms']:>10}/{e['p95_ms']}/{e['p99_ms']:<8} {r['ratio_p50']:>5}×  {describe_ratios(r['per_round'])}"
        )
        print(
            f"{'':<14} process CPU p50 ms {r['cpu_p50_ms']['floor']} / {r['cpu_p50_ms']['enishi']}: "
            f"{describe_ratios(r['per_round_cpu'])}"
        )
    print("SQL statements per request:", report["statements_per_request"])
    reads = report["first_read_vs_repeat"]
    print(
        f"(a) first read / repeat: p50 {reads['first_read']['p50_ms']} / {reads['repeat']['p50_ms']} ms, "
        f"{describe_ratios(reads['wall'])}; process CPU p50 "
        f"{reads['cpu_p50_ms']['first_read']} / {reads['cpu_p50_ms']['repeat']} ms, {describe_ratios(reads['cpu'])}; "
        f"statements {reads['statements']}"
    )
    print("abusive queries:", report["abusive_queries"])
    save_result("contact_page", report)

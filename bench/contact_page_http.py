"""Workload (b): the contact page of workload (a) over HTTP under concurrent load, against a bare
starlette endpoint running the hand-written queries (baseline_app.py `/contacts`), both on the same
`enishi demo` data. C concurrent clients on loopback, for S seconds and at least N requests a round;
rounds interleave and each Enishi round is compared with the floor's before it (p50, throughput,
and each server's own CPU per request, which the load generator sharing the cores does not
distort; the generator's CPU per request is reported too). Then first reads against repeats with
one client, and the abusive queries over HTTP (depth 20, 500 aliases, first: 1000000).

    python bench/contact_page_http.py [--contacts 10000] [--clients 16] [--seconds 5] [--min-requests 200] [--rounds 3]
        [--query page|frontend]

`--before-site DIR` serves an older Enishi too (installed with `pip install --no-deps --target DIR
<its checkout>`), on the same data: each round then runs the floor, the older version and this one,
so a change is measured before and after in one sitting (its ratios are printed as `before`).

`--query frontend` asks exactly the issue's frontend page (`contact_page.FRONTEND`: phones, primary
account with its ABM tier, the last 3 activities, loyalty balance and tier, the ticket count), and
the floor answers the same (`floor_frontend_page`).
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from contact_page import ABUSIVE, QUERIES
from loyalty_spend import start, timed_round
from report import (  # bench/ is on the path when a workload runs as a script
    database_cpu_seconds,
    database_url,
    describe_ratios,
    free_port,
    paired_ratios,
    process_cpu_seconds,
    save_result,
)

from enishi.auth import create_user, issue_token
from enishi.runtime import Runtime
from enishi.settings import Settings

HERE = Path(__file__).resolve().parent


async def admin_tokens(db: str, kek: str, n: int) -> list[str]:
    """Tokens of `n` new admins, none of whom has read anything yet (`enishi token create` is a
    process each)."""
    runtime = Runtime(Settings(database_url=db, key_encryption_key=kek, log_level="WARNING"))
    async with runtime.unit_of_work() as uow:
        tokens = [
            await issue_token(
                uow.session,
                runtime.clock,
                runtime.permissions,
                await create_user(uow.session, runtime.clock, display_name=f"bench reader {i}", roles=["admin"]),
            )
            for i in range(n)
        ]
    await runtime.close()
    return tokens


def first_reads(server: subprocess.Popen, url: str, query: str, fresh_tokens: list[str], reader_token: str) -> dict:
    """One client: the page read first by each fresh user (the access log writes an entry for each
    person read), each followed by the reader's repeat of it; medians and per-pair ratios of the
    wall time, and the server's own CPU for all first reads against all repeats (one request at a
    time, so the server's CPU in between is that request's; /proc counts it in 10 ms ticks, too
    coarse for one request, so the totals are compared). The CPU is the steadier figure when other
    work shares the cores. On PostgreSQL with `ENISHI_BENCH_POSTGRES_PID` set, the database's CPU
    is added, read outside the timed request: much of a first read's writing is the database's."""
    with httpx.Client(base_url=url, timeout=60) as client:

        def page(token: str) -> tuple[float, float]:
            database_before = database_cpu_seconds() or 0.0
            started, cpu_before = time.perf_counter(), process_cpu_seconds(server.pid)
            response = client.post(
                "/graphql", json={"query": query, "variables": {"first": 100}}, headers={"Authorization": f"Bearer {token}"}
            )
            wall, cpu = time.perf_counter() - started, process_cpu_seconds(server.pid) - cpu_before
            assert response.status_code == 200 and "errors" not in response.json(), response.text[:200]
            return wall * 1000, (cpu + (database_cpu_seconds() or 0.0) - database_before) * 1000

        page(reader_token)  # the reader has read the page: what follows are its repeats
        pairs = [(page(token), page(reader_token)) for token in fresh_tokens]
    first_wall, repeat_wall = [first[0] for first, _ in pairs], [repeat[0] for _, repeat in pairs]
    first_cpu, repeat_cpu = sum(first[1] for first, _ in pairs), sum(repeat[1] for _, repeat in pairs)
    return {
        "first_read_p50_ms": round(statistics.median(first_wall), 1),
        "repeat_p50_ms": round(statistics.median(repeat_wall), 1),
        **paired_ratios(first_wall, repeat_wall),
        "server_cpu_ms_per_first_read": round(first_cpu / len(pairs), 1),
        "server_cpu_ms_per_repeat": round(repeat_cpu / len(pairs), 1),
        "server_cpu_ratio": round(first_cpu / repeat_cpu, 2),
        "cpu_counts_the_database": database_cpu_seconds() is not None,
    }


def round_ratios(rounds: dict, args, db: str) -> tuple[dict, dict]:
    """Each server's medians over the rounds, and each Enishi (or older) round against the floor's
    round just before it; printed."""
    summary = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in rounds.items()}
    floor, enishi = rounds["floor"], rounds["enishi"]
    per_round = {
        "p50": paired_ratios([r["p50_ms"] for r in enishi], [r["p50_ms"] for r in floor]),
        "throughput": paired_ratios([r["rps"] for r in floor], [r["rps"] for r in enishi]),
        "server_cpu": paired_ratios(
            [r["server_cpu_ms_per_request"] for r in enishi], [r["server_cpu_ms_per_request"] for r in floor]
        ),
    }
    if "database_cpu_ms_per_request" in floor[0]:  # PostgreSQL's own CPU measured: the whole cost of a request
        per_round["server_and_database_cpu"] = paired_ratios(
            [r["server_cpu_ms_per_request"] + r["database_cpu_ms_per_request"] for r in enishi],
            [r["server_cpu_ms_per_request"] + r["database_cpu_ms_per_request"] for r in floor],
        )
    print(
        f"contact page ({args.query}) of 100 over HTTP, {args.contacts} contacts, {args.clients} clients, "
        f"{args.seconds:g}s (at least {args.min_requests} requests) × {args.rounds} rounds, "
        f"{'PostgreSQL' if 'postgresql' in db else 'SQLite'}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'server CPU':>11} {'client CPU':>11}")
    for name, s in summary.items():
        print(
            f"{name:8} {s['rps']:8.1f} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['p99_ms']:8.1f} {s['non_2xx']:8.0f} "
            f"{s['server_cpu_ms_per_request']:8.1f} ms {s['generator_cpu_ms_per_request']:8.1f} ms"
        )
    print(f"enishi / floor p50: {describe_ratios(per_round['p50'])}")
    print(f"floor / enishi throughput: {describe_ratios(per_round['throughput'])}")
    print(f"enishi / floor server CPU per request: {describe_ratios(per_round['server_cpu'])}")
    if "server_and_database_cpu" in per_round:
        database = {name: s["database_cpu_ms_per_request"] for name, s in summary.items()}
        print(f"database CPU per request: {', '.join(f'{name} {ms:.1f} ms' for name, ms in database.items())}")
        print(f"enishi / floor server and database CPU per request: {describe_ratios(per_round['server_and_database_cpu'])}")
    if "before" in rounds:
        before = rounds["before"]
        per_round["before_p50"] = paired_ratios([r["p50_ms"] for r in before], [r["p50_ms"] for r in floor])
        per_round["before_server_cpu"] = paired_ratios(
            [r["server_cpu_ms_per_request"] for r in before], [r["server_cpu_ms_per_request"] for r in floor]
        )
        per_round["enishi_vs_before_server_cpu"] = paired_ratios(
            [r["server_cpu_ms_per_request"] for r in enishi], [r["server_cpu_ms_per_request"] for r in before]
        )
        print(f"before / floor p50: {describe_ratios(per_round['before_p50'])}")
        print(f"before / floor server CPU per request: {describe_ratios(per_round['before_server_cpu'])}")
        print(f"enishi / before server CPU per request: {describe_ratios(per_round['enishi_vs_before_server_cpu'])}")
    return summary, per_round


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="0: first reads and abusive queries only")
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--min-requests", type=int, default=200, help="per round and server, for a stable p50")
    parser.add_argument("--pairs", type=int, default=30, help="first reads, each paired with a repeat, one client")
    parser.add_argument("--query", choices=sorted(QUERIES), default="page", help="the bench's page, or the issue's frontend page")
    parser.add_argument("--reuse", action="store_true", help="use the data already in ENISHI_BENCH_DATABASE_URL")
    parser.add_argument("--before-site", help="a folder with an older Enishi installed (pip --target), served beside this one")
    args = parser.parse_args()
    db = database_url("contact_page_http")
    env = {
        "ENISHI_DATABASE_URL": db,
        "ENISHI_ENVIRONMENT": "production",
        "ENISHI_LOG_LEVEL": "WARNING",
        "ENISHI_KEK": "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
    }
    cli = [sys.executable, "-m", "enishi.cli"]
    loading = [] if args.reuse else [["demo", "--scale", str(args.contacts), "--force"]]
    for command in (["db", "upgrade"], *loading):
        subprocess.run([*cli, *command], env={**os.environ, **env}, check=True, capture_output=True)
    token = subprocess.run(
        [*cli, "token", "create", "--role", "admin"], env={**os.environ, **env}, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    fresh_tokens = asyncio.run(admin_tokens(db, env["ENISHI_KEK"], args.pairs))
    enishi_port, floor_port = free_port(), free_port()
    enishi_url, floor_url = f"http://127.0.0.1:{enishi_port}", f"http://127.0.0.1:{floor_port}"
    enishi_server = start([*cli, "serve", "--port", str(enishi_port)], env, enishi_url)
    floor_server = start([sys.executable, str(HERE / "baseline_app.py"), "--port", str(floor_port), "--db", db], env, floor_url)
    graphql_servers = {"enishi": (enishi_server, enishi_url)}
    if args.before_site:
        before_url = f"http://127.0.0.1:{(before_port := free_port())}"
        before_env = {**env, "PYTHONPATH": os.path.abspath(args.before_site)}
        graphql_servers = {"before": (start([*cli, "serve", "--port", str(before_port)], before_env, before_url), before_url)}
        graphql_servers["enishi"] = (enishi_server, enishi_url)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        rounds: dict[str, list] = {"floor": [], **{name: [] for name in graphql_servers}}
        for _ in range(args.rounds):
            floor_body = {"first": 100, "shape": args.query}
            rounds["floor"].append(timed_round(floor_server, floor_url, "/contacts", floor_body, {}, args))
            page = {"query": QUERIES[args.query], "variables": {"first": 100}}
            for name, (server, url) in graphql_servers.items():
                rounds[name].append(timed_round(server, url, "/graphql", page, auth, args))
        reads = first_reads(enishi_server, enishi_url, QUERIES[args.query], fresh_tokens, token)
        abusive = {}
        client = httpx.Client(base_url=enishi_url, headers=auth, timeout=30)  # one connection, as a browser keeps it
        for name, query in ABUSIVE.items():
            times, codes = [], set()
            for n in range(20):
                started = time.perf_counter()
                response = client.post("/graphql", json={"query": f"{query} # {n}"})
                times.append((time.perf_counter() - started) * 1000)
                codes |= {e.get("extensions", {}).get("code") for e in response.json().get("errors", [])}
            abusive[name] = {"p50_ms": round(statistics.median(times), 2), "codes": sorted(c for c in codes if c)}
        client.close()
    finally:
        for server in (floor_server, *(server for server, _ in graphql_servers.values())):
            server.terminate()
            server.wait(timeout=10)
    summary, per_round = round_ratios(rounds, args, db) if args.rounds else ({}, {})
    print(
        f"first read / repeat, one client: p50 {reads['first_read_p50_ms']} / {reads['repeat_p50_ms']} ms, "
        f"{describe_ratios(reads)}"
    )
    print(
        f"first read / repeat, {'server and database' if reads['cpu_counts_the_database'] else 'server'} CPU "
        f"({reads['pairs']} of each): {reads['server_cpu_ms_per_first_read']} / "
        f"{reads['server_cpu_ms_per_repeat']} ms a request, {reads['server_cpu_ratio']}×"
    )
    print("abusive queries over HTTP:", abusive)
    result = {
        "database": "postgresql" if "postgresql" in db else "sqlite",
        "contacts": args.contacts,
        "clients": args.clients,
        "query": args.query,
        "rounds": rounds,
        "summary": summary,
        "per_round_ratios": per_round,
        "first_read_vs_repeat": reads,
        "abusive_queries": abusive,
    }
    save_result("contact_page_http" if args.query == "page" else f"contact_page_http_{args.query}", result)


if __name__ == "__main__":
    main()

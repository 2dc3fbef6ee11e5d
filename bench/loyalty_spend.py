"""Spend throughput on one loyalty member under contention, against a floor measured in the same run.

Framework: `spendPoints` over GraphQL/HTTP on a real `enishi serve`. Floors, served by a bare
starlette app on the same database (baseline_app.py): **the same-work floor**, a spend written by
hand on the same member and tables (floor_spend.py: token lookup, member lock, lots FIFO, ledger
entry, balance, lot use, outbox), the ratio the target is about; and **the bare guarded UPDATE**
of one counter row, the least a guarded spend can do, reported beside it. Every server takes C
concurrent clients on loopback for a bounded time; rounds interleave, because this machine's speed
drifts within minutes, and each Enishi round is compared with the floors' rounds just before it
(throughput, p50, and each server's own CPU per request, read from /proc). Prints a table and
writes bench/results/loyalty_spend.json; the ledger, written by every server, must verify at the end.
A "before" figure runs another commit whole (`pip install --no-deps --target DIR <checkout>`, then
`PYTHONPATH=DIR`): its migrations, its server, and the floor on its models.

    python bench/loyalty_spend.py [--clients 16] [--seconds 5] [--rounds 3]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://… python bench/loyalty_spend.py
"""

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from report import (  # bench/ is on the path when a workload runs as a script
    database_cpu_seconds,
    database_url,
    describe_ratios,
    free_port,
    paired_ratios,
    process_cpu_seconds,
    save_result,
)

HERE = Path(__file__).resolve().parent
WARM_UP = 100  # requests to each server before the rounds
SPEND = "mutation($m: ID!) { spendPoints(input: {memberId: $m, amount: 1}) { userErrors { code } } }"


def start(command: list[str], env: dict, url: str) -> subprocess.Popen:
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            httpx.get(url + "/", timeout=0.5)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server did not start: {command}")


async def load(
    url: str, path: str, body, headers: dict, clients: int, seconds: float, max_requests: int, min_requests: int = 0
) -> dict:
    """`clients` concurrent clients POSTing `body` for `seconds`, and on until `min_requests` are done
    (a p50 of a few dozen requests moves with every slow one), never more than `max_requests`. Also
    the load generator's own CPU per request: it shares the machine's cores with the server."""
    latencies, failures, sent = [], 0, 0
    deadline = time.perf_counter() + seconds
    generator_cpu = time.process_time()
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=30, limits=httpx.Limits(max_connections=clients)
    ) as client:

        async def worker():
            nonlocal failures, sent
            while (time.perf_counter() < deadline or sent < min_requests) and sent < max_requests:
                sent += 1
                started = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    generator_cpu = time.process_time() - generator_cpu
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": pick(0.5),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "non_2xx": failures,
        "generator_cpu_ms_per_request": generator_cpu * 1000 / len(latencies),
    }


def timed_round(server: subprocess.Popen, url: str, path: str, body: dict, headers: dict, args) -> dict:
    """One round of load on one server, with the server's own CPU per request (read from /proc):
    unlike latency, it does not depend on how much of the cores the load generator took."""
    cpu, database_cpu = process_cpu_seconds(server.pid), database_cpu_seconds()
    figures = asyncio.run(load(url, path, body, headers, args.clients, args.seconds, args.max_requests, args.min_requests))
    figures["server_cpu_ms_per_request"] = (process_cpu_seconds(server.pid) - cpu) * 1000 / figures["requests"]
    if database_cpu is not None and (database_cpu_after := database_cpu_seconds()) is not None:
        figures["database_cpu_ms_per_request"] = (database_cpu_after - database_cpu) * 1000 / figures["requests"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--min-requests", type=int, default=200, help="per round and server, for a stable p50")
    args = parser.parse_args()
    db = database_url("loyalty_spend")
    env = {
        "ENISHI_DATABASE_URL": db,
        "ENISHI_ENVIRONMENT": "production",
        "ENISHI_LOG_LEVEL": "WARNING",
        "ENISHI_KEK": "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
    }
    cli = [sys.executable, "-m", "enishi.cli"]
    subprocess.run([*cli, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)
    token = subprocess.run(
        [*cli, "token", "create", "--role", "manager"], env={**os.environ, **env}, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    enishi_url, floor_url = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    servers = {
        "enishi": start([*cli, "serve", "--port", enishi_url.rsplit(":", 1)[1]], env, enishi_url),
        "floor": start(
            [sys.executable, str(HERE / "baseline_app.py"), "--port", floor_url.rsplit(":", 1)[1], "--db", db], env, floor_url
        ),
    }
    urls = {"enishi": enishi_url, "floor": floor_url, "update": floor_url}
    servers["update"] = servers["floor"]
    try:
        auth = {"Authorization": f"Bearer {token}"}

        def gql(query, variables=None):
            body = httpx.post(
                enishi_url + "/graphql", json={"query": query, "variables": variables or {}}, headers=auth, timeout=30
            ).json()
            assert "errors" not in body, body
            return body["data"]

        program = gql(
            'mutation { createLoyaltyProgram(input: {name: "bench", expiryMode: "never", expiryDays: null}) { program { id } } }'
        )
        contact = gql('mutation { createContact(input: {familyName: "ベンチ"}) { contact { id } } }')
        member = gql(
            "mutation($p: ID!, $c: ID!) { enrollMember(input: {programId: $p, contactId: $c}) { member { id } } }",
            {"p": program["createLoyaltyProgram"]["program"]["id"], "c": contact["createContact"]["contact"]["id"]},
        )
        member_id = member["enrollMember"]["member"]["id"]
        gql("mutation($m: ID!) { earnPoints(input: {memberId: $m, amount: 1000000}) { userErrors { code } } }", {"m": member_id})
        httpx.post(floor_url + "/setup", json={"balance": 1000000}, timeout=30)
        spend = {"query": SPEND, "variables": {"m": member_id}}
        # (path, body, headers) of each server's spend, in the order a round runs them.
        requests: dict[str, tuple[str, dict, dict]] = {
            "floor": ("/spend", {"memberId": _member_uuid(member_id), "amount": 1}, auth),
            "update": ("/spend-update", {"amount": 1}, {}),
            "enishi": ("/graphql", spend, auth),
        }
        for name, (path, body, headers) in requests.items():  # untimed: first compilations, pools, caches
            asyncio.run(load(urls[name], path, body, headers, args.clients, 0, WARM_UP, WARM_UP))
        rounds: dict[str, list] = {name: [] for name in requests}
        for _ in range(args.rounds):
            for name, (path, body, headers) in requests.items():
                rounds[name].append(timed_round(servers[name], urls[name], path, body, headers, args))
        check = gql("{ verifyLedger { ok } }")["verifyLedger"]["ok"]
    finally:
        for server in {id(s): s for s in servers.values()}.values():
            server.terminate()
            server.wait(timeout=10)
    report(rounds, args, db, check)


def _member_uuid(member_id: str) -> str:
    """The member's UUID in an Enishi global ID (base64 of `LoyaltyMember:<uuid>`), for the floor."""
    return base64.b64decode(member_id).decode().rsplit(":", 1)[1]


def report(rounds: dict[str, list], args, db: str, ledger_ok: bool) -> None:
    summary = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in rounds.items()}

    def against(code: str, floor: str) -> dict:
        ours, theirs = rounds[code], rounds[floor]
        return {
            "throughput": paired_ratios([r["rps"] for r in theirs], [r["rps"] for r in ours]),
            "p50": paired_ratios([r["p50_ms"] for r in ours], [r["p50_ms"] for r in theirs]),
            "server_cpu": paired_ratios(
                [r["server_cpu_ms_per_request"] for r in ours], [r["server_cpu_ms_per_request"] for r in theirs]
            ),
        }

    per_round = {f"enishi/{floor}": against("enishi", floor) for floor in ("floor", "update")}
    database = "PostgreSQL" if "postgresql" in db else "SQLite"
    print(
        f"loyalty spend on one member, {args.clients} clients, {args.seconds:g}s (at least {args.min_requests} requests) "
        f"× {args.rounds} interleaved rounds, {database}, load average {os.getloadavg()[0]:.1f}"
    )
    print("floor: the same-work spend (floor_spend.py); update: the bare guarded UPDATE")
    print(f"{'':8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'server CPU':>11} {'client CPU':>11}")
    for name, s in summary.items():
        print(
            f"{name:8} {s['rps']:8.0f} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['p99_ms']:8.1f} {s['non_2xx']:8.0f} "
            f"{s['server_cpu_ms_per_request']:8.2f} ms {s['generator_cpu_ms_per_request']:8.2f} ms"
        )
    for pair, ratios in per_round.items():
        code, floor = pair.split("/")
        print(f"{code} against {floor}: server CPU per request {describe_ratios(ratios['server_cpu'])}")
        print(f"{'':{len(code) + 10}} throughput {describe_ratios(ratios['throughput'])}; p50 {describe_ratios(ratios['p50'])}")
    print(f"ledger verified: {ledger_ok}")
    result = {
        "database": database.lower(),
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": rounds,
        "summary": summary,
        "per_round": per_round,
        "ledger_ok": ledger_ok,
    }
    save_result("loyalty_spend", result)


if __name__ == "__main__":
    main()

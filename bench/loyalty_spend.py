"""Spend throughput on one loyalty member under contention, against a floor measured in the same run.

Framework: `spendPoints` over GraphQL/HTTP on a real `enishi serve`. Floor: a bare starlette
endpoint doing one guarded UPDATE on the same kind of database (baseline_app.py). Both take
C concurrent clients on loopback for a bounded time; rounds interleave, because this machine's
speed drifts within minutes. Prints a table and writes bench/results/loyalty_spend.json.

    python bench/loyalty_spend.py [--clients 16] [--seconds 5] [--rounds 2]
    ENISHI_BENCH_DATABASE_URL=postgresql+asyncpg://… python bench/loyalty_spend.py
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
from report import database_url, free_port, save_result  # bench/ is on the path when a workload runs as a script

HERE = Path(__file__).resolve().parent
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=20000)
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
    enishi_port, floor_port = free_port(), free_port()
    enishi_url, floor_url = f"http://127.0.0.1:{enishi_port}", f"http://127.0.0.1:{floor_port}"
    servers = [
        start([*cli, "serve", "--port", str(enishi_port)], env, enishi_url),
        start([sys.executable, str(HERE / "baseline_app.py"), "--port", str(floor_port), "--db", db], env, floor_url),
    ]
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
        rounds: dict[str, list] = {"floor": [], "enishi": []}
        for _ in range(args.rounds):
            rounds["floor"].append(
                asyncio.run(load(floor_url, "/spend", {"amount": 1}, {}, args.clients, args.seconds, args.max_requests))
            )
            rounds["enishi"].append(
                asyncio.run(
                    load(
                        enishi_url,
                        "/graphql",
                        {"query": SPEND, "variables": {"m": member_id}},
                        auth,
                        args.clients,
                        args.seconds,
                        args.max_requests,
                    )
                )
            )
        check = gql("{ verifyLedger { ok } }")["verifyLedger"]["ok"]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    summary = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in rounds.items()}
    ratio_rps = summary["floor"]["rps"] / summary["enishi"]["rps"]
    ratio_p50 = summary["enishi"]["p50_ms"] / summary["floor"]["p50_ms"]
    print(
        f"loyalty spend on one member, {args.clients} clients, {args.seconds:g}s × {args.rounds} interleaved rounds, "
        f"{'PostgreSQL' if 'postgresql' in db else 'SQLite'}"
    )
    print(f"{'':8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, s in summary.items():
        print(f"{name:8} {s['rps']:8.0f} {s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['p99_ms']:8.1f} {s['non_2xx']:8.0f}")
    print(f"ratio: floor/enishi throughput {ratio_rps:.2f}×, enishi/floor p50 {ratio_p50:.2f}×; ledger verified: {check}")
    result = {
        "database": "postgresql" if "postgresql" in db else "sqlite",
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": rounds,
        "summary": summary,
        "ratio_throughput": ratio_rps,
        "ratio_p50": ratio_p50,
        "ledger_ok": check,
    }
    save_result("loyalty_spend", result)


if __name__ == "__main__":
    main()

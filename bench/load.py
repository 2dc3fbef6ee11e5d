"""The mixed load of issue #29 (bench/locustfile.py's mix), on PostgreSQL behind a real PgBouncer
in transaction pooling mode, against 1 and then 2 `enishi serve` processes with 2 `enishi worker`
processes beside them; then the checks: every acknowledged write is found, the loyalty ledger
verifies, the outbox drains. Also the CPU each kind of process used and samples of the database
connections and the servers' pools, to say where the time went.

    make load                      # scripts/with-postgres, 150 s per configuration
    scripts/with-postgres .venv/bin/python bench/load.py --seconds 150 --users 16

Needs `pip install -e '.[bench]'` (locust) and the pgbouncer binary (Debian's package). Prints a
table and writes bench/results/load.json."""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
from report import free_port, save_result, scratch_folder  # bench/ is on the path when a workload runs as a script
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for the test helpers
from tests.helpers import pgbouncer

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "enishi.cli"]
TICKS = os.sysconf("SC_CLK_TCK")
SEED_CONTACTS = """query($after: String) { contacts(first: 100, after: $after) { pageInfo { hasNextPage endCursor }
  edges { node { id loyalty { id } tickets(first: 5) { edges { node { id status } } } } } } }"""
EARN = "mutation($m: ID!) { earnPoints(input: {memberId: $m, amount: 1000000}) { userErrors { code } } }"


def start_server(env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while True:  # until it answers
        assert process.poll() is None, f"the server exited: see {log}"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)


def graphql(url: str, token: str, query: str, variables: dict | None = None) -> dict:
    body = httpx.post(
        url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    ).json()
    assert "errors" not in body, body
    return body["data"]


def seed(url: str, token: str) -> dict:
    """The ids the load works on: the demo's newest 400 contacts, their loyalty members (each given
    a million points, so that no spend is refused for want of them) and their open tickets."""
    contacts: list[dict] = []
    after = None
    while len(contacts) < 400:
        page = graphql(url, token, SEED_CONTACTS, {"after": after})["contacts"]
        contacts += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    members = [c["loyalty"]["id"] for c in contacts if c["loyalty"]]
    tickets = [t["node"]["id"] for c in contacts for t in c["tickets"]["edges"] if t["node"]["status"] not in ("closed",)]
    for member in members:
        assert graphql(url, token, EARN, {"m": member})["earnPoints"]["userErrors"] == []
    assert members and tickets, "the demo data has no loyalty members or open tickets to load"
    return {"token": token, "contacts": [c["id"] for c in contacts], "members": members, "tickets": tickets}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(parent: int, name: str | None = None) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().rsplit(")", 1)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(rest.split()[1]) == parent and (name is None or comm.endswith("(" + name)):
            found.append(int(stat.parent.name))
    return found


def fixed(pids: list[int]) -> Callable[[], list[int]]:
    return lambda: pids


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine used so far (all cores), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS


class Sampler(threading.Thread):
    """Every second while the load runs: the database's client connections by state, those of them
    waiting on a lock, and the connections each server has checked out of its pool (its /metrics
    gauge)."""

    def __init__(self, database_url: str, servers: list[str]) -> None:
        super().__init__(daemon=True)
        self.database_url, self.servers, self.stop = database_url, servers, threading.Event()
        self.samples: list[dict] = []

    def run(self) -> None:
        asyncio.run(self.sample())

    async def sample(self) -> None:
        connection = await asyncpg.connect(self.database_url)
        try:
            while not self.stop.wait(1.0):
                states = dict(
                    await connection.fetch(
                        "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity "
                        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1"
                    )
                )
                states["waiting on a lock"] = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                )
                pools = [pool_in_use(server) for server in self.servers]
                self.samples.append({"database": states, "pools": pools})
        finally:
            await connection.close()

    def summary(self) -> dict:
        def mean_max(values: list[float]) -> dict:
            return {"mean": round(sum(values) / len(values), 1), "max": max(values)} if values else {}

        return {
            "database_active": mean_max([s["database"].get("active", 0) for s in self.samples]),
            "database_idle_in_transaction": mean_max([s["database"].get("idle in transaction", 0) for s in self.samples]),
            "database_waiting_on_a_lock": mean_max([s["database"]["waiting on a lock"] for s in self.samples]),
            "server_pool_in_use": mean_max([sum(s["pools"]) for s in self.samples]),
        }


def metric(server: str, name: str) -> float:
    for line in httpx.get(server + "/metrics", timeout=30).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise LookupError(name)


def pool_in_use(server: str) -> float:
    return metric(server, "enishi_db_pool_connections_in_use")


def run_load(
    servers: list[str], pids: dict[str, Callable[[], list[int]]], seed_data: dict, args, folder: Path, direct_url: str
) -> dict:
    folder.mkdir()
    (folder / "seed.json").write_text(json.dumps({**seed_data, "servers": servers}))
    env = {**os.environ, "ENISHI_LOAD_SEED": str(folder / "seed.json"), "ENISHI_LOAD_OUT": str(folder)}
    if args.only:
        env["ENISHI_LOAD_ONLY"] = args.only
    command = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary"]
    command += [
        "-u",
        str(args.users),
        "-r",
        str(args.users),
        "-t",
        f"{args.seconds}s",
        "--host",
        servers[0],
        "--loglevel",
        "WARNING",
    ]
    sampler = Sampler(direct_url, servers)
    before = {pid: cpu_seconds(pid) for group in pids.values() for pid in group()}
    busy_before, began = machine_busy_seconds(), time.perf_counter()
    sampler.start()
    locust = subprocess.Popen(command, env=env, stdout=(folder / "locust.log").open("w"), stderr=subprocess.STDOUT)
    _, _, locust_usage = os.wait4(locust.pid, 0)
    locust.returncode = 0  # reaped above, with its CPU time
    sampler.stop.set()
    sampler.join()
    wall = time.perf_counter() - began
    # Database backends PgBouncer opened during the load count from 0; those it kept, from before.
    cores = {
        role: round(sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in group()) / wall, 2) for role, group in pids.items()
    }
    cores["locust"] = round((locust_usage.ru_utime + locust_usage.ru_stime) / wall, 2)
    cores["machine"] = round((machine_busy_seconds() - busy_before) / wall, 2)
    summary = json.loads((folder / "summary.json").read_text())
    return {
        "servers": len(servers),
        "seconds": args.seconds,
        "users": args.users,
        **summary,
        "cores": cores,
        "load_average": os.getloadavg(),
        "sampled": sampler.summary(),
    }


def titles_allowed(writes: list[dict]) -> dict[str, set[str]]:
    """Per updated contact, the titles the database may hold: the last acknowledged one, and any
    sent after it whose answer never came (the user was stopped with the request in flight, so
    whether it was applied is unknown). Anything else is a lost write."""
    allowed: dict[str, set[str]] = {}
    for write in writes:
        if write["kind"] == "update sent":
            allowed.setdefault(write["id"], set()).add(write["jobTitle"])
        elif write["kind"] == "update":
            allowed[write["id"]] = {write["jobTitle"]}  # acknowledged: the ones sent before it are settled
    return allowed


def verify(server: str, token: str, folders: list[Path]) -> dict:
    """Look up every acknowledged write; verify the loyalty ledger."""
    writes = [json.loads(line) for folder in folders for line in (folder / "writes.jsonl").read_text().splitlines()]
    missing = {"contact": 0, "update": 0, "spend": 0, "reply": 0}
    contacts = {w["id"]: w for w in writes if w["kind"] == "contact"}
    titles = {w["id"]: w["jobTitle"] for w in writes if w["kind"] == "update"}  # the last acknowledged one wins
    allowed = titles_allowed(writes)
    ids = list(contacts)
    for start in range(0, len(ids), 100):
        chunk = ids[start : start + 100]
        found = graphql(
            server,
            token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Contact { id familyName jobTitle } } }",
            {"ids": chunk},
        )
        for node, contact_id in zip(found["nodes"], chunk, strict=True):
            missing["contact"] += node is None or node["familyName"] != contacts[contact_id]["familyName"]
            missing["update"] += contact_id in titles and (node is None or node["jobTitle"] not in allowed[contact_id])
    spends = [w["id"] for w in writes if w["kind"] == "spend"]
    for start in range(0, len(spends), 100):
        found = graphql(
            server,
            token,
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on LoyaltyEntry { id } } }",
            {"ids": spends[start : start + 100]},
        )
        missing["spend"] += sum(node is None for node in found["nodes"])
    replies: dict[str, set[str]] = {}
    for w in writes:
        if w["kind"] == "reply":
            replies.setdefault(w["id"], set()).add(w["body"])
    for ticket, bodies in replies.items():
        articles = graphql(
            server, token, "query($id: ID!) { node(id: $id) { ... on SupportTicket { articles { body } } } }", {"id": ticket}
        )
        missing["reply"] += len(bodies - {a["body"] for a in articles["node"]["articles"]})
    ledger = graphql(server, token, "{ verifyLedger { ok membersChecked } }")["verifyLedger"]
    acknowledged = {
        "contact": len(contacts),
        "update": len(titles),
        "update_in_flight_at_a_stop": sum(len(titles) > 1 for titles in allowed.values()),
        "spend": len(spends),
        "reply": sum(map(len, replies.values())),
    }
    return {"acknowledged": acknowledged, "missing": missing, "ledger": ledger}


def wait_for_outbox(server: str, limit: float) -> dict:
    """Seconds until the workers delivered every waiting event (the backlog gauge reads 0)."""
    began = time.perf_counter()
    backlog = metric(server, "enishi_outbox_backlog")
    at_end = backlog
    while backlog and time.perf_counter() - began < limit:
        time.sleep(1)
        backlog = metric(server, "enishi_outbox_backlog")
    return {
        "backlog_at_end_of_load": at_end,
        "backlog": backlog,
        "drained_in_seconds": round(time.perf_counter() - began, 1),
        "given_up": metric(server, "enishi_outbox_given_up"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=150, help="how long each configuration is loaded")
    parser.add_argument("--users", type=int, default=16, help="locust users, each sending its next request once answered")
    parser.add_argument("--servers", default="1,2", help="the server counts to load in turn")
    parser.add_argument("--scale", type=int, default=500, help="demo contacts loaded first")
    parser.add_argument("--pool-size", type=int, default=20, help="PgBouncer's server connections (deploy/pgbouncer)")
    parser.add_argument("--only", help="one task of bench/locustfile.py instead of the mix (`reply`: ticket replies only)")
    args = parser.parse_args()
    direct_url = os.environ.get("ENISHI_BENCH_DATABASE_URL") or os.environ.get("ENISHI_TEST_DATABASE_URL", "")
    if not direct_url.startswith("postgresql"):
        raise SystemExit("bench/load.py runs on PostgreSQL: run it through scripts/with-postgres (make load)")
    folder = scratch_folder("load")
    plain_url = make_url(direct_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with pgbouncer(direct_url, pool_size=args.pool_size) as through:
        env = {
            **os.environ,
            "ENISHI_DATABASE_URL": through,
            "ENISHI_PGBOUNCER": "1",
            "ENISHI_ENVIRONMENT": "production",
            "ENISHI_LOG_LEVEL": "WARNING",
            "ENISHI_KEK": "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
        }
        for command in (["db", "upgrade"], ["demo", "--scale", str(args.scale)], ["worker", "--once"]):
            began = time.perf_counter()
            subprocess.run(
                [*CLI, *command], env=env, check=True, capture_output=True
            )  # --once: the daily jobs are done before the load
            print(f"{' '.join(command)}: {time.perf_counter() - began:.0f} s", flush=True)
        token = subprocess.run(
            [*CLI, "token", "create", "--role", "admin"], env=env, check=True, capture_output=True, text=True
        ).stdout.split()[-1]
        log = folder / "processes.log"
        workers = [subprocess.Popen([*CLI, "worker"], env=env, stdout=log.open("a"), stderr=subprocess.STDOUT) for _ in range(2)]
        servers: list[tuple[subprocess.Popen, str]] = []
        try:
            servers.append(start_server(env, log))
            seed_data = seed(servers[0][1], token)
            postmaster = int((Path(asyncio.run(data_directory(plain_url))) / "postmaster.pid").read_text().split()[0])
            runs = []
            for count in map(int, args.servers.split(",")):
                while len(servers) < count:
                    servers.append(start_server(env, log))
                pids: dict[str, Callable[[], list[int]]] = {
                    "servers": fixed([p.pid for p, _ in servers[:count]]),
                    "workers": fixed([w.pid for w in workers]),
                    "postgres": lambda: children(postmaster),
                    "pgbouncer": lambda: children(os.getpid(), "pgbouncer"),
                }
                runs.append(
                    run_load([url for _, url in servers[:count]], pids, seed_data, args, folder / f"servers-{count}", plain_url)
                )
                report_run(runs[-1])
            outbox = wait_for_outbox(servers[0][1], 600)
            checks = verify(servers[0][1], token, [folder / f"servers-{run['servers']}" for run in runs])
        finally:
            for process in [*(p for p, _ in servers), *workers]:
                process.terminate()
                process.wait(timeout=60)
    print(f"outbox: {outbox}\nwrites: {checks}")
    save_result(
        "load",
        {
            "runs": runs,
            "outbox": outbox,
            "checks": checks,
            "seed": {k: len(v) for k, v in seed_data.items() if isinstance(v, list)},
        },
    )


async def data_directory(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval("SELECT current_setting('data_directory')")
    finally:
        await connection.close()


def report_run(run: dict) -> None:
    print(f"\n{run['servers']} server(s), 2 workers, {run['users']} users, {run['seconds']} s")
    print(f"cores used: {run['cores']}; sampled: {run['sampled']}")
    print(f"{'operation':16} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'fail':>5} {'5xx':>4}")
    for name, o in run["operations"].items():
        latencies = " ".join(f"{o[f'p{q}_ms']:7.0f}" for q in (50, 95, 99))
        print(f"{name:16} {o['requests']:9} {o['rps']:7.1f} {latencies} {o['failures']:5} {o['5xx']:4}")
    if run["errors"]:
        print("failures:", run["errors"])


if __name__ == "__main__":
    main()

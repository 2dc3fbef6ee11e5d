"""The compliance console's pages against the GraphQL operations they run, in the same run: each
page (`/console/requests`, `/console/request?id=`) and its operation sent to `/graphql` with the
same variables, both through the same app in process (httpx's ASGI transport), rounds interleaved.
The ratio of medians is what rendering a page costs over answering its query.

    python bench/console.py [--requests 200] [--rounds 3] [--iterations 20]
"""

import argparse
import asyncio
import datetime as dt
import statistics
import time

import httpx
from report import database_url, save_result

from enishi.auth import create_user, issue_token
from enishi.clock import ManualClock
from enishi.db.migrate import upgrade
from enishi.graphql.app import create_app
from enishi.graphql.console import documents
from enishi.runtime import Runtime
from enishi.settings import Settings
from enishi.web_sessions import set_password

NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
OFFICER, PASSWORD = "officer@bench.example", "bench password of the officer"


async def _graphql(client: httpx.AsyncClient, token: str, query: str, variables: dict) -> dict:
    bearer = {"Authorization": f"Bearer {token}"}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=bearer)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def _load(client: httpx.AsyncClient, token: str, requests: int) -> str:
    """`requests` erasure and access requests of as many people, received over the last 60 days;
    the id of one of them."""
    create = """mutation($c: ID!, $t: String!, $at: DateTime) { createDataSubjectRequest(input: {contactId: $c, type: $t,
        channel: "phone", regime: "gdpr", verificationNote: "本人確認済み", receivedAt: $at}) { request { id } } }"""
    request_id = ""
    for n in range(requests):
        contact = await _graphql(
            client,
            token,
            'mutation($f: String!) { createContact(input: {familyName: $f, givenName: "太郎"}) { contact { id } } }',
            {"f": f"山田{n}"},
        )
        received = (NOW - dt.timedelta(days=n % 60)).isoformat()
        data = await _graphql(
            client,
            token,
            create,
            {"c": contact["createContact"]["contact"]["id"], "t": "erasure" if n % 2 else "access", "at": received},
        )
        request_id = data["createDataSubjectRequest"]["request"]["id"]
    return request_id


async def _timed(work, iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        response = await work()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return samples


async def run(requests: int, rounds: int, iterations: int, url: str) -> dict:
    settings = Settings(database_url=url, key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=", log_level="WARNING")
    runtime = Runtime(settings, clock=ManualClock(NOW))
    await asyncio.to_thread(upgrade, runtime)
    async with runtime.unit_of_work() as uow:
        user = await create_user(uow.session, runtime.clock, display_name="監査 担当", roles=["compliance"], email=OFFICER)
        await set_password(uow.session, user.id, PASSWORD)
        token = await issue_token(uow.session, runtime.clock, runtime.permissions, user)
        admin = await create_user(uow.session, runtime.clock, display_name="bench admin", roles=["admin"])
        admin_token = await issue_token(uow.session, runtime.clock, runtime.permissions, admin)
    app = create_app(runtime)
    # https: the console's cookie is Secure, and httpx sends it only to an https address.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://bench.example") as client:
        request_id = await _load(client, admin_token, requests)
        sign_in = await client.get("/console/sign-in")
        csrf = sign_in.text.split('name="csrf" value="')[1].split('"')[0]
        signed_in = await client.post("/console/sign-in", data={"csrf": csrf, "email": OFFICER, "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.status_code
        bearer = {"Authorization": f"Bearer {token}"}
        queue_body = {"query": documents.REQUEST_QUEUE, "variables": {"filter": {}, "after": None}}
        page_body = {"query": documents.REQUEST_PAGE, "variables": {"id": request_id}}
        work = {
            "queue_graphql": lambda: client.post("/graphql", json=queue_body, headers=bearer),
            "queue_page": lambda: client.get("/console/requests"),
            "request_graphql": lambda: client.post("/graphql", json=page_body, headers=bearer),
            "request_page": lambda: client.get("/console/request", params={"id": request_id}),
        }
        samples: dict[str, list[float]] = {name: [] for name in work}
        for _ in range(rounds):
            for name, call in work.items():
                samples[name] += await _timed(call, iterations)
    await runtime.close()
    return {"samples_ms": samples}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    url = database_url("console")
    result = asyncio.run(run(args.requests, args.rounds, args.iterations, url))
    p50 = {name: statistics.median(values) for name, values in result["samples_ms"].items()}
    ratios = {page: p50[f"{page}_page"] / p50[f"{page}_graphql"] for page in ("queue", "request")}
    database = "postgresql" if "postgresql" in url else "sqlite"
    print(f"console pages over {args.requests} requests, {database}, {args.rounds} × {args.iterations}")
    for page in ("queue", "request"):
        print(
            f"  {page}: GraphQL {p50[f'{page}_graphql']:.1f} ms   console page {p50[f'{page}_page']:.1f} ms"
            f"   ratio {ratios[page]:.2f}×"
        )
    save_result("console", {"database": database, "requests": args.requests, **result, "p50_ms": p50, "ratio": ratios})


if __name__ == "__main__":
    main()

"""The console's pages and the data subject's against their floors, in the same run, rounds
interleaved, all in process (httpx's ASGI transport):

- the request queue (`/console/requests`) and a request's page (`/console/request?id=`) against the
  GraphQL operation each runs, sent to `/graphql` with the same variables;
- the pages that stand on no operation — the sign-in page, a sign-in link's landing, the subject's
  request form and code form, a withdrawal link's landing — against the least a server-rendered form
  page does: a bare Starlette route rendering a small Jinja2 form with a fresh CSRF token and its
  cookie (`FLOOR_FORM`), served by the same app (a plugin's route, so behind the same middleware:
  metrics, tracing, request logging);
- an export link's landing against that render after the one SELECT it stands on (the export by
  its token's hash), written by hand.

Every request of every page and floor in turn, so a page and its floor meet the same load; the
ratio of medians is what the page costs over its floor.

    python bench/console.py [--requests 200] [--rounds 3] [--iterations 20]
"""

import argparse
import asyncio
import datetime as dt
import secrets
import statistics
import time
from urllib.parse import urlsplit

import httpx
from jinja2 import Environment
from report import database_url, round_ratios, save_result
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from enishi import hookimpl
from enishi.auth import create_user, hash_token, issue_token
from enishi.clock import ManualClock
from enishi.db.migrate import upgrade
from enishi.graphql.app import create_app
from enishi.graphql.console import documents
from enishi.graphql.console.sessions import may_use_console
from enishi.runtime import Runtime
from enishi.settings import Settings
from enishi.sign_in_links import issue_link
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


FLOOR_FORM = Environment(autoescape=True).from_string(
    """<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="/static/site.css"></head><body><main><h1>{{ title }}</h1>
{% for name, value in facts %}<p>{{ name }}: {{ value }}</p>{% endfor %}
<form method="post"><input type="hidden" name="csrf" value="{{ csrf }}"><label for="f">{{ title }}</label>
<input id="f" name="f"><button type="submit">{{ title }}</button></form></main></body></html>"""
)


def _floor_page(facts: list[tuple[str, str]]) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = HTMLResponse(FLOOR_FORM.render(title="フォーム", facts=facts, csrf=token))
    response.set_cookie("csrf", token, secure=True, httponly=True, samesite="strict")
    return response


class Floors:
    """The floors, as a plugin's routes of the app under test: a form page rendered and nothing
    else; an export's landing, its row read by hand."""

    @hookimpl
    def enishi_http_routes(self):
        return [Route("/bench/floor/form", self.form), Route("/bench/floor/export/{token}", self.export)]

    async def form(self, _request: Request) -> HTMLResponse:
        return _floor_page([])

    async def export(self, request: Request) -> HTMLResponse:
        runtime = request.app.state.runtime
        found = text(
            "SELECT format, size, link_expires_at FROM privacy_export "
            "WHERE token_hash = :hash AND downloaded_at IS NULL AND link_expires_at > :now"
        )
        async with runtime.read_session() as session:
            row = (
                await session.execute(found, {"hash": hash_token(request.path_params["token"]), "now": runtime.clock.now()})
            ).one()
        return _floor_page([("format", row.format), ("size", str(row.size)), ("expires", str(row.link_expires_at))])


async def _subject_links(client: httpx.AsyncClient, token: str) -> tuple[str, str]:
    """A person with a marketing consent and a completed access request: the paths of their
    withdrawal link and of their export link."""
    created = await _graphql(
        client,
        token,
        'mutation { createContact(input: {familyName: "鈴木", givenName: "一郎", emails: [{address: "ichiro@example.jp"}]}) '
        "{ contact { id } } }",
        {},
    )
    contact = created["createContact"]["contact"]["id"]
    consent = """mutation($c: ID!) { recordConsent(input: {contactId: $c, purpose: "marketing", state: "granted"}) {
        userErrors { code } } }"""
    await _graphql(client, token, consent, {"c": contact})
    withdrawal = await _graphql(
        client, token, 'query($c: ID!) { consentWithdrawalLink(contactId: $c, purpose: "marketing") }', {"c": contact}
    )
    create = """mutation($c: ID!) { createDataSubjectRequest(input: {contactId: $c, type: "access", channel: "phone",
        regime: "gdpr", verificationNote: "本人確認済み"}) { request { id } } }"""
    request_id = (await _graphql(client, token, create, {"c": contact}))["createDataSubjectRequest"]["request"]["id"]
    for action in ("approveDataSubjectRequest", "executeDataSubjectRequest"):
        await _graphql(
            client, token, f"mutation($id: ID!) {{ {action}(id: $id) {{ userErrors {{ code }} }} }}", {"id": request_id}
        )
    export = """mutation($id: ID!) { dataSubjectExportLink(requestId: $id, format: "json") { url userErrors { code } } }"""
    url = (await _graphql(client, token, export, {"id": request_id}))["dataSubjectExportLink"]["url"]
    return urlsplit(withdrawal["consentWithdrawalLink"]).path, urlsplit(url).path


async def _timed(work) -> float:
    started = time.perf_counter()
    response = await work()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.status_code
    return elapsed


async def run(requests: int, rounds: int, iterations: int, url: str) -> dict:
    settings = Settings(database_url=url, key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=", log_level="WARNING")
    runtime = Runtime(settings, clock=ManualClock(NOW), extra_plugins=[("bench_floors", Floors())])
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
        withdrawal_path, export_path = await _subject_links(client, admin_token)
        issued = await issue_link(runtime, OFFICER, may_use_console)
        assert issued is not None
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
            "form_floor": lambda: client.get("/bench/floor/form"),
            "sign_in_page": lambda: client.get("/console/sign-in"),
            "link_landing_page": lambda: client.get("/console/sign-in/link", params={"token": issued.token}),
            "request_form_page": lambda: client.get("/privacy/requests/new"),
            "code_form_page": lambda: client.get("/privacy/requests/confirm", params={"request": request_id}),
            "withdrawal_page": lambda: client.get(withdrawal_path),
            "export_floor": lambda: client.get("/bench/floor/export/" + export_path.rsplit("/", 1)[1]),
            "export_page": lambda: client.get(export_path, headers={"accept": "text/html"}),
        }
        samples: dict[str, list[float]] = {name: [] for name in work}
        # Interleaved request by request: on a shared machine, a page and its floor meet the same load.
        for _ in range(rounds * iterations):
            for name, call in work.items():
                samples[name].append(await _timed(call))
    await runtime.close()
    return {"samples_ms": samples}


# Each page and its floor.
FLOORS = {
    "queue_page": "queue_graphql",
    "request_page": "request_graphql",
    "sign_in_page": "form_floor",
    "link_landing_page": "form_floor",
    "request_form_page": "form_floor",
    "code_form_page": "form_floor",
    "withdrawal_page": "form_floor",
    "export_page": "export_floor",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    url = database_url("console")
    result = asyncio.run(run(args.requests, args.rounds, args.iterations, url))
    p50 = {name: statistics.median(values) for name, values in result["samples_ms"].items()}
    ratios = {page: p50[page] / p50[floor] for page, floor in FLOORS.items()}
    samples = result["samples_ms"]
    rounds = {page: round_ratios(samples[page], samples[floor], args.rounds) for page, floor in FLOORS.items()}
    database = "postgresql" if "postgresql" in url else "sqlite"
    print(f"console pages over {args.requests} requests, {database}, {args.rounds} × {args.iterations}")
    for page, floor in FLOORS.items():
        print(
            f"  {page}: {p50[page]:.1f} ms   {floor} {p50[floor]:.1f} ms   ratio {ratios[page]:.2f}×"
            f" (rounds {min(rounds[page]):.2f}–{max(rounds[page]):.2f}×)"
        )
    save_result(
        "console",
        {"database": database, "requests": args.requests, **result, "p50_ms": p50, "ratio": ratios, "round_ratios": rounds},
    )


if __name__ == "__main__":
    main()

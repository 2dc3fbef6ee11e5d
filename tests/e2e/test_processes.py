"""Several `enishi serve` processes on one database share nothing else: what one process caches
(unwrapped personal-data keys, AES-GCM ciphers) never outlives an erasure made through another,
and a process whose plugins, keys or settings differ from the recorded configuration refuses to
start, or, already serving when it changed, refuses requests until it is the same again."""

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx

from enishi.runtime import Runtime
from tests.helpers import cli_token, enishi, file_hits, graphql_data, table_hits

PERSON = """{ familyName: "山田", givenName: "太郎", familyNameKana: "ヤマダ", emails: [{address: "taro@abc.co.jp"}],
    phones: [{number: "03-1234-5678"}] }"""
READ = "query($c: ID!) { node(id: $c) { ... on Contact { familyName givenName emails { address } phones { e164 } } } }"
SEARCH = 'query { contacts(filter: {search: "山田"}) { totalCount } }'
VIEWER = "{ viewer { id } }"
CREATE_CLOCK = "mutation($at: DateTime!) { createTestClock(input: {frozenTime: $at}) { testClock { id } } }"
ADVANCE_CLOCK = "mutation($c: ID!, $to: DateTime!) { advanceTestClock(input: {id: $c, to: $to}) { userErrors { code } } }"


async def _erase(officer: httpx.AsyncClient, contact: str) -> dict:
    """The privacy plugin's erasure flow, as a compliance officer runs it."""
    request = (
        await graphql_data(
            officer,
            'mutation($c: ID!) { createDataSubjectRequest(input: {contactId: $c, type: "erasure", channel: "phone", '
            'verificationNote: "本人確認済み"}) { request { id } } }',
            {"c": contact},
        )
    )["createDataSubjectRequest"]["request"]["id"]
    await graphql_data(officer, "mutation($r: ID!) { approveDataSubjectRequest(id: $r) { request { status } } }", {"r": request})
    executed = await graphql_data(
        officer, "mutation($r: ID!) { executeDataSubjectRequest(id: $r) { request { status } } }", {"r": request}
    )
    return executed["executeDataSubjectRequest"]["request"]


def test_an_erasure_through_one_server_leaves_nothing_readable_through_another(
    enishi_fresh_migrated, enishi_server, enishi_base_settings
):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    manager = {"Authorization": f"Bearer {cli_token(enishi_fresh_migrated)}"}
    compliance = enishi("token", "create", "--role", "compliance", env=env).stdout.split()[-1]

    async def scenario(a: str, b: str):
        async with (
            httpx.AsyncClient(base_url=a, headers=manager, timeout=60) as through_a,
            httpx.AsyncClient(base_url=b, headers=manager, timeout=60) as through_b,
            httpx.AsyncClient(base_url=a, headers={"Authorization": f"Bearer {compliance}"}, timeout=60) as officer,
        ):
            created = await graphql_data(through_a, f"mutation {{ createContact(input: {PERSON}) {{ contact {{ id }} }} }}")
            contact = created["createContact"]["contact"]["id"]
            # B reads them: their key is unwrapped and its cipher made, and both stay in B's caches.
            before = (await graphql_data(through_b, READ, {"c": contact}))["node"]
            assert (await graphql_data(through_b, SEARCH))["contacts"]["totalCount"] == 1
            erased = await _erase(officer, contact)
            after = (await graphql_data(through_b, READ, {"c": contact}))["node"]
            return before, erased, after, (await graphql_data(through_b, SEARCH))["contacts"]["totalCount"]

    with enishi_server(env) as a, enishi_server(env) as b:
        before, erased, after, found = asyncio.run(scenario(a, b))
    assert before == {
        "familyName": "山田",
        "givenName": "太郎",
        "emails": [{"address": "taro@abc.co.jp"}],
        "phones": [{"e164": "+81312345678"}],
    }
    assert erased == {"status": "completed"}
    assert after in (None, {"familyName": None, "givenName": None, "emails": [], "phones": []}), after
    assert found == 0

    async def scan():
        runtime = Runtime(replace(enishi_base_settings, database_url=enishi_fresh_migrated))
        try:
            return await table_hits(runtime)
        finally:
            await runtime.close()

    assert asyncio.run(scan()) == {}
    if enishi_fresh_migrated.startswith("sqlite"):  # the database file and its WAL, read raw
        assert file_hits(Path(enishi_fresh_migrated.removeprefix("sqlite+aiosqlite:///")).parent) == {}


def test_serve_workers_runs_that_many_processes_answering_on_one_port(enishi_fresh_migrated, enishi_server):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    headers = {"Authorization": f"Bearer {cli_token(enishi_fresh_migrated)}"}
    with enishi_server(env, command=("-m", "enishi.cli", "serve", "--workers", "2")) as url:
        supervisor = url.process.pid
        children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
        servers = [pid for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
        created = httpx.post(
            url + "/graphql",
            json={"query": 'mutation { createContact(input: {familyName: "鈴木"}) { contact { familyName } } }'},
            headers=headers,
            timeout=60,
        ).json()
    assert created == {"data": {"createContact": {"contact": {"familyName": "鈴木"}}}}
    assert len(servers) == 2  # uvicorn's supervisor started two server processes (and its resource tracker)


def test_a_process_configured_unlike_the_others_refuses_to_start(enishi_fresh_migrated, enishi_server):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    assert enishi("db", "upgrade", env=env).stdout.strip() == "database is up to date"  # records the configuration
    unlike = {
        "plugins": {"ENISHI_DISABLED_PLUGINS": "loyalty"},
        "keys": {"ENISHI_KEK_PREVIOUS": "b3RoZXIta2V5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGU="},
        "settings": {"ENISHI_TIMEZONE": "Europe/Paris"},
    }
    for part, change in unlike.items():
        for command in (("serve", "--port", "1"), ("worker", "--once")):
            refused = enishi(*command, env={**env, **change}, check=False)
            assert refused.returncode == 2, refused
            assert refused.stderr == (
                f"enishi: error: this process's {part} differ from the configuration `enishi db upgrade` recorded "
                "for every process on this database: give every server and worker the same configuration, then run "
                "`enishi db upgrade` with it (docs/deployment.md)\n"
            )
    # A configuration change: stop every process, change it everywhere, `db upgrade`, start again.
    paris = {**env, **unlike["settings"]}
    worker = subprocess.Popen(
        [sys.executable, "-m", "enishi.cli", "worker", "--poll", "0.1"],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while '"job ran"' not in worker.stderr.readline():  # it started, checked, and works
            assert worker.poll() is None
        enishi("db", "upgrade", env=paris)
        _, left = worker.communicate(timeout=600)  # the worker left from before stops at its next round
    finally:
        worker.kill()
    assert worker.returncode == 2 and left.splitlines()[-1].startswith("enishi: error: this process's settings differ"), left
    with enishi_server(paris) as url:
        assert httpx.get(url + "/health").status_code == 200


def _post(url: str, headers: dict, query: str, variables: dict | None = None) -> httpx.Response:
    return httpx.post(url + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=60)


def _advance(url: str, headers: dict, clock: str, to: str) -> None:
    advanced = _post(url, headers, ADVANCE_CLOCK, {"c": clock, "to": to})
    assert advanced.json() == {"data": {"advanceTestClock": {"userErrors": []}}}, advanced.text


@contextlib.contextmanager
def _refusing_since_the_configuration_changed(enishi_server, env: dict, headers: dict) -> Iterator[tuple[str, str]]:
    """A server started with `env` in development mode (its checks run on a test clock frozen at
    09:00:00), then `enishi db upgrade` with another time zone while it runs, then the clock at
    09:00:05, RECHECK_EVERY later: (the server, the clock), the server refusing requests."""
    with enishi_server(env) as tokyo:
        created = _post(tokyo, headers, CREATE_CLOCK, {"at": "2027-01-04T09:00:00+09:00"})
        clock = created.json()["data"]["createTestClock"]["testClock"]["id"]
        assert _post(tokyo, headers, VIEWER).status_code == 200  # checked at 09:00:00
        enishi("db", "upgrade", env={**env, "ENISHI_TIMEZONE": "Europe/Paris"})  # changed while it ran
        assert _post(tokyo, headers, VIEWER).status_code == 200  # until its next check, the last answer stands
        _advance(tokyo, headers, clock, "2027-01-04T09:00:05+09:00")
        yield tokyo, clock


def test_a_server_running_when_the_configuration_changes_refuses_requests_from_its_next_check(
    enishi_fresh_migrated, enishi_server
):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_LOG_LEVEL": "WARNING"}
    headers = {"Authorization": f"Bearer {cli_token(enishi_fresh_migrated, role='admin')}"}
    with _refusing_since_the_configuration_changed(enishi_server, env, headers) as (tokyo, _):
        refused = _post(tokyo, headers, VIEWER)  # RECHECK_EVERY later: checked again
        assert refused.status_code == 503
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "CONFIGURATION_MISMATCH"
        assert error["message"].startswith("this process's settings differ from the configuration `enishi db upgrade` recorded")
        ready = httpx.get(tokyo + "/readyz")
        assert ready.status_code == 503 and ready.json()["reasons"] == [error["message"]]
        assert httpx.get(tokyo + "/healthz").status_code == 200  # alive: the process manager need not kill it
        with enishi_server({**env, "ENISHI_TIMEZONE": "Europe/Paris"}) as restarted:  # started with the new one: serves
            assert _post(restarted, headers, VIEWER).status_code == 200


def test_a_refusing_server_answers_again_from_its_next_check_once_its_configuration_is_recorded_again(
    enishi_fresh_migrated, enishi_server
):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_LOG_LEVEL": "WARNING"}
    headers = {"Authorization": f"Bearer {cli_token(enishi_fresh_migrated, role='admin')}"}
    with _refusing_since_the_configuration_changed(enishi_server, env, headers) as (tokyo, clock):
        assert _post(tokyo, headers, VIEWER).status_code == 503
        enishi("db", "upgrade", env=env)  # the operator went back to the configuration this server has
        assert _post(tokyo, headers, VIEWER).status_code == 503  # checked at 09:00:05: the last answer stands
        assert httpx.get(tokyo + "/readyz").status_code == 503
        # The refusing server refuses the test clock's mutation too: another one, configured alike, moves it.
        with enishi_server(env) as other:
            _advance(other, headers, clock, "2027-01-04T09:00:09+09:00")
            assert _post(tokyo, headers, VIEWER).status_code == 503  # 4 s after its check: not checked again yet
            _advance(other, headers, clock, "2027-01-04T09:00:10+09:00")
        answered = _post(tokyo, headers, VIEWER)  # RECHECK_EVERY after its last check: the same again
        assert answered.status_code == 200 and answered.json()["data"]["viewer"]["id"], answered.text
        assert httpx.get(tokyo + "/readyz").status_code == 200

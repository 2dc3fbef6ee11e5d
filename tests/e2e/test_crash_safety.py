"""A real server killed (SIGKILL) in the middle of an erasure and of an import: after a restart
the data is consistent, and running the work again completes it without repeating what was done."""

import asyncio
import base64
import signal
import time
from pathlib import Path

import httpx

from tests.core.test_cli import enishi
from tests.helpers import graphql_data, query_row

HANGING_SERVER = (str(Path(__file__).with_name("hanging_erasure_server.py")),)
KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
RUNS = "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status runs { plugin status attempts } } } }"


def _prepare(database_url, tmp_path, **extra_env):
    config = tmp_path / "enishi.toml"
    config.write_text("[extra]\nprivacy_request_lease_seconds = 2\n")
    env = {"ENISHI_DATABASE_URL": database_url, "ENISHI_KEK": KEK, "ENISHI_CONFIG": str(config), **extra_env}
    token = enishi("token", "create", "--role", "admin", env=env).stdout.split()[-1]
    return env, {"Authorization": f"Bearer {token}"}


async def _mutate(client, name, arguments, selection):
    data = await graphql_data(client, f"mutation {{ {name}({arguments}) {{ {selection} userErrors {{ field code }} }} }}")
    assert data[name]["userErrors"] == [], data
    return data[name]


def _kill_when_marked(server, marker: Path) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the erasure never reached the hanging plugin"
        time.sleep(0.05)
    _kill(server)


def _kill(server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)


def test_a_server_killed_during_an_erasure_leaves_it_resumable_and_the_rerun_completes_it(
    enishi_fresh_migrated, enishi_server, tmp_path
):
    marker = tmp_path / "erasing"
    env, headers = _prepare(enishi_fresh_migrated, tmp_path, ENISHI_TEST_MARKER=str(marker))

    async def start_erasure(url):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            people = []
            await _mutate(
                client,
                "createCustomFieldDefinition",
                'input: {entity: CONTACT, key: "birth_date", type: DATE, labelJa: "生年月日"}',
                "definition { id }",
            )
            for family, email in (("削除", "kieru@example.jp"), ("残留", "nokoru@example.jp")):
                contact = await _mutate(
                    client,
                    "createContact",
                    f'input: {{familyName: "{family}", emails: [{{address: "{email}"}}], phones: [{{number: "03-1234-5678"}}], '
                    'customFields: {birth_date: "1990-06-10"}}',
                    "contact { id }",
                )
                people.append(contact["contact"]["id"])
            await _mutate(
                client,
                "logActivity",
                f'input: {{type: "meeting", summary: "打ち合わせ", contactIds: ["{people[0]}", "{people[1]}"]}}',
                "activity { id }",
            )
            request = await _mutate(
                client,
                "createDataSubjectRequest",
                f'input: {{contactId: "{people[0]}", type: "erasure", channel: "letter", verificationNote: "本人確認済み"}}',
                "request { id }",
            )
            request_id = request["request"]["id"]
            await _mutate(client, "approveDataSubjectRequest", f'id: "{request_id}"', "request { id }")
            try:
                await graphql_data(
                    client, f'mutation {{ executeDataSubjectRequest(id: "{request_id}") {{ request {{ status }} }} }}'
                )
            except httpx.TransportError:
                return people, request_id
            raise AssertionError("the erasure finished although the server was killed in it")

    async def finish(url, request_id, person, other):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            midway = (await graphql_data(client, RUNS, {"id": request_id}))["node"]
            await asyncio.sleep(2.5)  # the dead server's lease runs out
            await _mutate(client, "executeDataSubjectRequest", f'id: "{request_id}"', "request { status }")
            done = (await graphql_data(client, RUNS, {"id": request_id}))["node"]
            remaining = await graphql_data(
                client,
                "query($a: ID!, $b: ID!) { a: node(id: $a) { ... on Contact { familyName emails { address } } } "
                "b: node(id: $b) { ... on Contact { familyName emails { address } timeline { totalCount } } } }",
                {"a": person, "b": other},
            )
            return midway, done, remaining

    with enishi_server(env, HANGING_SERVER) as url:

        async def erase_and_kill():
            killing = asyncio.get_running_loop().run_in_executor(None, _kill_when_marked, url, marker)
            started = await start_erasure(url)
            await killing
            return started

        (person, other), request_id = asyncio.run(erase_and_kill())

    state = asyncio.run(
        query_row(
            enishi_fresh_migrated,
            "SELECT (SELECT status FROM privacy_request), "
            "(SELECT COUNT(*) FROM privacy_request_run WHERE status = 'done'), "
            "(SELECT COUNT(*) FROM core_contact_email), "
            "(SELECT COUNT(*) FROM core_subject_key WHERE wrapped_key IS NOT NULL), "
            "(SELECT COUNT(*) FROM core_contact_custom_date_index)",
        )
    )
    # ABM, automation, insights, loyalty, sales and support committed; the core and privacy parts
    # not begun (both people's email, key and birthday's month-day index are there)
    assert state == ("in_progress", 6, 2, 2, 2)

    with enishi_server(env, HANGING_SERVER) as url:
        midway, done, remaining = asyncio.run(finish(url, request_id, person, other))
    runs = {run["plugin"]: (run["status"], run["attempts"]) for run in midway["runs"]}
    finished_first = ("abm", "automation", "insights", "loyalty", "sales", "support")
    assert {plugin: runs[plugin] for plugin in finished_first} == dict.fromkeys(finished_first, ("done", 1))
    assert runs["hanging"][0] != "done" and runs["core"] == runs["privacy"] == ("pending", 0)
    assert done["status"] == "completed"
    assert all(run["status"] == "done" for run in done["runs"])
    assert {run["plugin"]: run["attempts"] for run in done["runs"] if run["plugin"] != "hanging"} == dict.fromkeys(
        (*finished_first, "core", "privacy"), 1
    )  # finished parts are not run again
    assert remaining["a"] == {"familyName": None, "emails": []}
    assert remaining["b"] == {"familyName": "残留", "emails": [{"address": "nokoru@example.jp"}], "timeline": {"totalCount": 1}}
    keys = asyncio.run(
        query_row(
            enishi_fresh_migrated,
            "SELECT (SELECT COUNT(*) FROM core_subject_key WHERE wrapped_key IS NOT NULL), "
            "(SELECT COUNT(*) FROM core_contact_custom_date_index)",
        )
    )
    assert keys == (1, 1)  # the other person's


def test_a_server_killed_during_an_import_leaves_whole_batches_and_the_resume_completes_it(
    enishi_fresh_migrated, enishi_server, tmp_path
):
    env, headers = _prepare(enishi_fresh_migrated, tmp_path)
    rows = ["氏名,メールアドレス,会社名"] + [f"佐藤 花子{i},hanako{i}@example.jp,縁商事{i % 5}" for i in range(4000)]
    upload = base64.b64encode("\r\n".join(rows).encode("cp932")).decode()

    async def start_import(url):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            started = await _mutate(client, "importContacts", f'input: {{file: "{upload}"}}', "import { id }")
            import_id = started["import"]["id"]
            while True:
                state = await graphql_data(
                    client, f'{{ node(id: "{import_id}") {{ ... on ContactImport {{ processedRows }} }} }}'
                )
                if state["node"]["processedRows"] >= 100:
                    return import_id
                await asyncio.sleep(0.02)

    with enishi_server(env) as url:
        import_id = asyncio.run(start_import(url))
        _kill(url)
    status, processed, created, contacts = asyncio.run(
        query_row(
            enishi_fresh_migrated,
            "SELECT status, processed_rows, created_count, (SELECT COUNT(*) FROM core_contact) FROM core_import",
        )
    )
    assert (
        status == "running" and 100 <= processed < 4000 and processed == created == contacts
    )  # whole batches, nothing half-done
    resumed = enishi("import", "--resume", import_id, env=env).stdout
    assert "4000 created, 0 updated, 0 merged, 0 unchanged, 0 rejected" in resumed
    counts = asyncio.run(
        query_row(
            enishi_fresh_migrated,
            "SELECT (SELECT COUNT(*) FROM core_contact), "
            "(SELECT COUNT(DISTINCT address_index) FROM core_contact_email), "
            "(SELECT COUNT(*) FROM core_account), (SELECT status FROM core_import)",
        )
    )
    assert counts == (4000, 4000, 5, "completed")

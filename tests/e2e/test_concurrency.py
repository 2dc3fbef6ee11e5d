"""Real parallel requests against a real server process, on SQLite and PostgreSQL."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import graphql_data

BARRIER_SERVER = (str(Path(__file__).with_name("erasure_barrier_server.py")),)
MERGE = """mutation($s: ID!, $m: ID!) { mergeContacts(input: {survivorId: $s, mergedIds: [$m]}) {
    contact { id } userErrors { code } } }"""


def _prepare(url):
    env = {**os.environ, "ENISHI_DATABASE_URL": url}
    token = subprocess.run(
        [sys.executable, "-m", "enishi.cli", "token", "create", "--role", "manager"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    return {"ENISHI_DATABASE_URL": url}, {"Authorization": f"Bearer {token}"}


def test_simultaneous_opposite_merges_of_the_same_contacts_let_exactly_one_win(enishi_fresh_migrated, enishi_server):
    env, headers = _prepare(enishi_fresh_migrated)

    async def scenario(url):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            outcomes = []
            for round_ in range(5):
                ids = []
                for name in ("A", "B"):
                    data = await graphql_data(
                        client,
                        "mutation($n: String) { createContact(input: {familyName: $n}) { contact { id } } }",
                        {"n": f"{name}{round_}"},
                    )
                    ids.append(data["createContact"]["contact"]["id"])
                a, b = ids
                results = await asyncio.gather(
                    graphql_data(client, MERGE, {"s": a, "m": b}),
                    graphql_data(client, MERGE, {"s": b, "m": a}),
                    graphql_data(client, MERGE, {"s": a, "m": b}),
                )
                winners = [r for r in results if not r["mergeContacts"]["userErrors"]]
                losers = [r["mergeContacts"]["userErrors"][0]["code"] for r in results if r["mergeContacts"]["userErrors"]]
                outcomes.append((len(winners), sorted(losers)))
            live = await graphql_data(client, "{ contacts { totalCount } }")
            return outcomes, live["contacts"]["totalCount"]

    with enishi_server(env) as url:
        outcomes, live = asyncio.run(scenario(url))
    for winners, losers in outcomes:
        assert winners == 1 and set(losers) <= {"ALREADY_MERGED", "DELETED"}, outcomes
    assert live == 5  # one survivor per round, never zero, never two


def test_parallel_writes_lose_nothing(enishi_fresh_migrated, enishi_server):
    env, headers = _prepare(enishi_fresh_migrated)

    async def scenario(url):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            contact = await graphql_data(client, 'mutation { createContact(input: {familyName: "共有"}) { contact { id } } }')
            contact_id = contact["createContact"]["contact"]["id"]
            log = (
                'mutation($id: ID!, $s: String!) { logActivity(input: {type: "note", summary: $s, contactIds: [$id]}) '
                "{ userErrors { code } } }"
            )
            await asyncio.gather(*(graphql_data(client, log, {"id": contact_id, "s": f"note {i}"}) for i in range(40)))
            data = await graphql_data(
                client, "query($id: ID!) { node(id: $id) { ... on Contact { timeline { totalCount } } } }", {"id": contact_id}
            )
            return data["node"]["timeline"]["totalCount"]

    with enishi_server(env) as url:
        assert asyncio.run(scenario(url)) == 40


def test_writes_racing_an_erasure_leave_nothing_of_the_person(enishi_fresh_migrated, enishi_server):
    """Writes about a person before their erasure, while it is between two plugins' parts (held there
    by the barrier plugin, after the support plugin's part, before the core's), and after it: the
    ones in the middle find no one, so no ticket outlives the support plugin's part."""
    env, headers = _prepare(enishi_fresh_migrated)
    compliance = subprocess.run(
        [sys.executable, "-m", "enishi.cli", "token", "create", "--role", "compliance"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    log = (
        'mutation($c: ID!, $s: String!) { logActivity(input: {type: "call", summary: $s, contactIds: [$c]}) '
        "{ userErrors { code } } }"
    )
    ticket = "mutation($c: ID!, $s: String!) { createTicket(input: {subject: $s, requesterId: $c}) { userErrors { code } } }"

    async def scenario(url):
        async with (
            httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {compliance}"}, timeout=60) as officer,
        ):
            contact = (
                await graphql_data(
                    client,
                    'mutation { createContact(input: {familyName: "山田", emails: [{address: "taro@abc.co.jp"}]}) '
                    "{ contact { id } } }",
                )
            )["createContact"]["contact"]["id"]
            request = (
                await graphql_data(
                    officer,
                    'mutation($c: ID!) { createDataSubjectRequest(input: {contactId: $c, type: "erasure", '
                    'channel: "phone", verificationNote: "本人確認済み"}) { request { id } } }',
                    {"c": contact},
                )
            )["createDataSubjectRequest"]["request"]["id"]
            await graphql_data(
                officer, "mutation($r: ID!) { approveDataSubjectRequest(id: $r) { request { status } } }", {"r": request}
            )

            async def writes(first):  # the core's write and a plugin's, each twice
                return await asyncio.gather(
                    *(
                        graphql_data(client, log, {"c": contact, "s": f"山田様と電話 {n}"})
                        if n % 2 == 0
                        else graphql_data(client, ticket, {"c": contact, "s": f"山田様より問い合わせ {n}"})
                        for n in range(first, first + 4)
                    )
                )

            before = await writes(0)
            erasure = asyncio.create_task(
                graphql_data(
                    officer,
                    "mutation($r: ID!) { executeDataSubjectRequest(id: $r) { request { status } userErrors { code } } }",
                    {"r": request},
                )
            )
            assert (await officer.get("/race/paused")).status_code == 204
            during = asyncio.create_task(writes(4))
            if "sqlite" not in enishi_fresh_migrated:
                await asyncio.wait([during])  # PostgreSQL: they run beside the waiting part; SQLite: they queue behind it
            assert (await officer.post("/race/release", params={"queued": 4})).status_code == 204
            outcome = await erasure
            after = await writes(8)
            left = await graphql_data(
                officer,
                "query($c: ID!) { node(id: $c) { ... on Contact { familyName emails { address } "
                "timeline { totalCount } tickets { totalCount } } } }",
                {"c": contact},
            )
            return outcome["executeDataSubjectRequest"], [before, await during, after], left["node"]

    with enishi_server(env, command=BARRIER_SERVER) as url:
        outcome, (before, during, after), left = asyncio.run(scenario(url))
    errors = [[next(iter(result.values()))["userErrors"] for result in phase] for phase in (before, during, after)]
    assert errors == [[[]] * 4, [[{"code": "NOT_FOUND"}]] * 4, [[{"code": "NOT_FOUND"}]] * 4], errors
    assert outcome["request"]["status"] == "completed", outcome
    assert left == {
        "familyName": None,
        "emails": [],
        "timeline": {"totalCount": 0},  # nothing slipped in behind the erasure
        "tickets": {"totalCount": 0},
    }


def test_tickets_created_at_once_get_distinct_consecutive_numbers(enishi_fresh_migrated, enishi_server):
    env, headers = _prepare(enishi_fresh_migrated)
    create = "mutation($s: String!) { createTicket(input: {subject: $s}) { ticket { number } userErrors { code } } }"

    async def scenario(url):
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            return await asyncio.gather(*(graphql_data(client, create, {"s": f"同時のお問い合わせ {n}"}) for n in range(20)))

    with enishi_server(env) as url:
        created = asyncio.run(scenario(url))
    assert sorted(c["createTicket"]["ticket"]["number"] for c in created) == list(range(1, 21))

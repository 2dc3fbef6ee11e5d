"""Issue example 2, with real concurrent requests against a real server process."""

import asyncio

import httpx

from tests.helpers import cli_token, graphql_data


async def _member_with(client, points: int) -> str:
    program = await graphql_data(client, 'mutation { createLoyaltyProgram(input: {name: "P"}) { program { id } } }')
    contact = await graphql_data(client, 'mutation { createContact(input: {familyName: "並行"}) { contact { id } } }')
    member = await graphql_data(
        client,
        "mutation($p: ID!, $c: ID!) { enrollMember(input: {programId: $p, contactId: $c}) { member { id } } }",
        {"p": program["createLoyaltyProgram"]["program"]["id"], "c": contact["createContact"]["contact"]["id"]},
    )
    member_id = member["enrollMember"]["member"]["id"]
    await graphql_data(
        client,
        "mutation($m: ID!, $a: Int!) { earnPoints(input: {memberId: $m, amount: $a}) { userErrors { code } } }",
        {"m": member_id, "a": points},
    )
    return member_id


SPEND = (
    "mutation($m: ID!, $a: Int!) { spendPoints(input: {memberId: $m, amount: $a}) { member { balance } userErrors { code } } }"
)


def test_two_parallel_spends_of_80_on_100_exactly_one_succeeds(enishi_fresh_migrated, enishi_server):
    token = cli_token(enishi_fresh_migrated)

    async def scenario(url):
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            results = []
            for _ in range(5):
                member_id = await _member_with(client, 100)
                pair = await asyncio.gather(*(graphql_data(client, SPEND, {"m": member_id, "a": 80}) for _ in range(2)))
                balance = await graphql_data(
                    client, "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id}
                )
                results.append(([p["spendPoints"]["userErrors"] for p in pair], balance["node"]["balance"]))
            many = await _member_with(client, 100)
            burst = await asyncio.gather(*(graphql_data(client, SPEND, {"m": many, "a": 30}) for _ in range(10)))
            check = await graphql_data(client, "{ verifyLedger { ok membersChecked } }")
            return results, burst, check

    with enishi_server({"ENISHI_DATABASE_URL": enishi_fresh_migrated}) as url:
        results, burst, check = asyncio.run(scenario(url))
    for errors, balance in results:
        assert sorted(map(len, errors)) == [0, 1] and balance == 20, results
        assert [e for e in errors if e] == [[{"code": "INSUFFICIENT_POINTS"}]]
    assert sum(1 for r in burst if not r["spendPoints"]["userErrors"]) == 3  # 3 × 30 fit in 100
    assert check["verifyLedger"] == {"ok": True, "membersChecked": 6}

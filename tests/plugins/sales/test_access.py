"""Who sees and changes what: roles per field, and the account team that bounds a `sales` rep."""

import pytest

from tests.helpers import create_account
from tests.plugins.sales.helpers import deal, on_team, pipeline, user_id

DEALS = "{ deals { totalCount edges { node { id } } } }"


async def _code(api, query: str, role: str) -> str:
    return (await api.errors(query, role=role))[0]["extensions"]["code"]


async def test_a_sales_rep_sees_and_changes_only_the_deals_of_accounts_whose_team_they_are_on(api):
    created = await pipeline(api)
    theirs = await create_account(api, name="担当先")
    other = await create_account(api, name="他部署の担当先")
    mine = await deal(api, created["id"], theirs["id"], name="担当の商談")
    hidden = await deal(api, created["id"], other["id"], name="見えない商談")
    assert (await api.graphql(DEALS, role="sales"))["deals"]["totalCount"] == 0
    refused = await api.mutate(
        "createDeal",
        {"name": "x", "accountId": theirs["id"], "pipelineId": created["id"], "amount": 1},
        "deal { id }",
        role="sales",
    )
    assert refused["userErrors"] == [{"field": "accountId", "message": "no such account", "code": "NOT_FOUND"}]

    await on_team(api, theirs["id"])
    listed = (await api.graphql(DEALS, role="sales"))["deals"]
    assert [e["node"]["id"] for e in listed["edges"]] == [mine["id"]]
    node = '{{ node(id: "{}") {{ ... on SalesDeal {{ name }} }} }}'
    assert (await api.graphql(node.format(mine["id"]), role="sales"))["node"] == {"name": "担当の商談"}
    assert (await api.graphql(node.format(hidden["id"]), role="sales"))["node"] is None
    moved = await api.mutate("updateDeal", {"id": hidden["id"], "amount": 1}, "deal { id }", role="sales")
    assert moved["userErrors"] == [{"field": "id", "message": "no such account", "code": "NOT_FOUND"}]
    account_deals = f'{{ node(id: "{other["id"]}") {{ ... on Account {{ deals {{ totalCount }} }} }} }}'
    assert (await api.graphql(account_deals, role="sales"))["node"]["deals"]["totalCount"] == 0
    created_by_rep = await deal(api, created["id"], theirs["id"], role="sales", name="自分で作成")
    assert created_by_rep["owner"]["id"] == await user_id(api, "sales")
    # Managers see every deal.
    assert (await api.graphql(DEALS, role="manager"))["deals"]["totalCount"] == 3


@pytest.mark.parametrize("role", ["support", "marketing", "compliance"])
async def test_support_and_marketing_see_the_account_team_but_no_deals(api, role):
    created = await pipeline(api)
    account = await create_account(api)
    await on_team(api, account["id"], team_role="customer_success")
    await deal(api, created["id"], account["id"])
    assert await _code(api, DEALS, role) == "FORBIDDEN"
    assert await _code(api, "{ pipelines { id } }", role) == "FORBIDDEN"
    account_deals = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ deals {{ totalCount }} }} }} }}'
    assert await _code(api, account_deals, role) == "FORBIDDEN"
    team = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ team {{ role department user {{ id }} }} }} }} }}'
    members = (await api.graphql(team, role=role))["node"]["team"]
    assert members == [{"role": "customer_success", "department": None, "user": {"id": await user_id(api, "sales")}}]
    body = (
        await api.post(
            "mutation($i: CreateDealInput!) { createDeal(input: $i) { deal { id } } }",
            {"i": {"name": "x", "accountId": account["id"], "pipelineId": created["id"], "amount": 1}},
            role=role,
        )
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_only_managers_configure_pipelines_and_teams(api):
    account = await create_account(api)
    pipeline_input = {"name": "x", "stages": [{"name": "a", "probability": 1}, {"name": "b", "probability": 100, "kind": "won"}]}
    for name, input in (
        ("createPipeline", pipeline_input),
        ("setAccountTeamMember", {"accountId": account["id"], "userId": await user_id(api, "sales")}),
    ):
        body = (
            await api.post(
                f"mutation($i: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $i) {{ __typename }} }}",
                {"i": input},
                role="sales",
            )
        ).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", name
    await on_team(api, account["id"])
    team = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ team {{ role }} }} }} }}'
    assert (await api.graphql(team))["node"]["team"] == [{"role": "account_executive"}]
    removed = await api.mutate(
        "removeAccountTeamMember", {"accountId": account["id"], "userId": await user_id(api, "sales")}, "removed", role="manager"
    )
    assert removed["removed"] is True
    assert (await api.graphql(team))["node"]["team"] == []

"""Account teams drive assignment: a deal created without an owner goes to the team member in its
pipeline's team role covering its department; a contract's renewal goes to customer success (else
the account executive) for its department. Team members see all of the account's deals."""

import datetime as dt
import zoneinfo

from enishi.worker import run_due_jobs
from tests.helpers import create_account
from tests.plugins.sales.helpers import STAGES, deal, on_team, pipeline, staff, user_id

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
OWNED = "deal { id department owner { id } }"


async def _deal(api, pipeline_id: str, account_id: str, **input) -> dict:
    payload = await api.mutate(
        "createDeal",
        {"name": "商談", "accountId": account_id, "pipelineId": pipeline_id, "amount": 1_000_000, **input},
        OWNED,
        role="manager",
    )
    assert payload["userErrors"] == [], payload
    return payload["deal"]


async def test_a_deal_without_an_owner_goes_to_the_team_member_of_its_pipeline_role_and_department(api):
    new_business = await pipeline(api)  # team role: account_executive (the default)
    expansion = await api.mutate(
        "createPipeline",
        {"name": "既存深耕", "stages": list(STAGES), "teamRole": "customer_success"},
        "pipeline { id teamRole }",
        role="manager",
    )
    assert expansion["pipeline"]["teamRole"] == "customer_success"
    account = await create_account(api, name="大和製作所")
    purchasing, purchasing_token = await staff(api, "購買担当 佐藤")
    engineering, _ = await staff(api, "技術担当 鈴木")
    everything, _ = await staff(api, "全社担当 高橋")
    success, _ = await staff(api, "CS 田中")
    await on_team(api, account["id"], user=purchasing, department="購買部")
    await on_team(api, account["id"], user=engineering, department="技術部")
    await on_team(api, account["id"], user=everything)
    await on_team(api, account["id"], team_role="customer_success", user=success)
    team = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ team {{ role department user {{ id }} }} }} }} }}'
    assert (await api.graphql(team))["node"]["team"][:2] == [
        {"role": "account_executive", "department": "購買部", "user": {"id": purchasing}},
        {"role": "account_executive", "department": "技術部", "user": {"id": engineering}},
    ]

    def owner(created: dict) -> str | None:
        return created["owner"]["id"] if created["owner"] else None

    bought = await _deal(api, new_business["id"], account["id"], department="購買部")
    assert (bought["department"], owner(bought)) == ("購買部", purchasing)
    assert owner(await _deal(api, new_business["id"], account["id"], department="技術部")) == engineering
    # A department nobody covers, or none: the member covering the whole account.
    assert owner(await _deal(api, new_business["id"], account["id"], department="経理部")) == everything
    assert owner(await _deal(api, new_business["id"], account["id"])) == everything
    # The pipeline's role decides whose deal it is: expansion belongs to customer success.
    assert owner(await _deal(api, expansion["pipeline"]["id"], account["id"], department="購買部")) == success
    # An owner given wins; an explicit null leaves the deal unowned.
    assert owner(await _deal(api, new_business["id"], account["id"], department="購買部", ownerId=engineering)) == engineering
    assert owner(await _deal(api, new_business["id"], account["id"], ownerId=None)) is None
    # An account without a team: whoever creates the deal.
    lone = await create_account(api, name="単独商事")
    assert owner(await _deal(api, new_business["id"], lone["id"], department="購買部")) == await user_id(api, "manager")

    # Every team member sees every deal of the account, whatever its department or owner.
    by_department = '{ deals(filter: {department: {eq: "購買部"}}) { totalCount } }'
    assert (await api.graphql(by_department, token=purchasing_token))["deals"]["totalCount"] == 3
    seen = (await api.graphql("{ deals { totalCount } }", token=purchasing_token))["deals"]["totalCount"]
    assert seen == 7  # the account's seven deals, not the lone account's

    bad_role = await api.mutate(
        "createPipeline", {"name": "x", "stages": list(STAGES), "teamRole": "boss"}, "pipeline { id }", role="manager"
    )
    assert bad_role["userErrors"] == [
        {
            "field": "teamRole",
            "message": "must be one of: account_executive, inside_sales, customer_success, technical",
            "code": "INVALID_CHOICE",
        }
    ]
    too_long = await api.mutate(
        "createDeal",
        {"name": "x", "accountId": account["id"], "pipelineId": new_business["id"], "amount": 1, "department": "部" * 201},
        "deal { id }",
    )
    assert too_long["userErrors"][0]["field"] == "department" and too_long["userErrors"][0]["code"] == "TOO_LONG"


async def test_renewals_go_to_customer_success_for_the_department_else_the_account_executive(api):
    created = await pipeline(api)
    account = await create_account(api, name="継続商事")
    executive, _ = await staff(api, "営業 佐藤")
    success, _ = await staff(api, "CS 田中")
    await on_team(api, account["id"], user=executive)
    await on_team(api, account["id"], team_role="customer_success", user=success, department="購買部")
    api.clock.set(dt.datetime(2025, 1, 1, 9, tzinfo=TOKYO))

    async def contract(name: str, **input) -> dict:
        values = {"name": name, "startDate": "2025-01-01", "endDate": "2025-12-31", "value": 100, "noticeDays": 90, **input}
        payload = await api.mutate("createContract", values, "contract { id department owner { id } }", role="manager")
        assert payload["userErrors"] == [], payload
        return payload["contract"]

    purchasing = await contract("購買部の保守", accountId=account["id"], department="購買部")
    assert purchasing == {"id": purchasing["id"], "department": "購買部", "owner": {"id": success}}
    whole = await contract("全社の保守", accountId=account["id"])
    assert whole["owner"] == {"id": executive}  # customer success covers purchasing only
    won = await deal(api, created["id"], account["id"], department="購買部")
    await api.mutate("markDealWon", {"id": won["id"], "closeDate": "2024-12-20"}, "deal { id }")
    from_deal = await contract("受注からの契約", dealId=won["id"])
    assert (from_deal["department"], from_deal["owner"]) == ("購買部", {"id": success})
    unowned = await contract("担当なし", accountId=account["id"], department="購買部", ownerId=None)
    assert unowned["owner"] is None

    api.clock.set(dt.datetime(2025, 9, 2, 9, tzinfo=TOKYO))
    await run_due_jobs(api.runtime)
    tasks = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ tasks {{ title assignee {{ id }} }} }} }} }}'
    listed = (await api.graphql(tasks))["node"]["tasks"]
    assigned = {t["title"].split(": ")[1].split(" (")[0]: t["assignee"]["id"] for t in listed}
    assert assigned == {
        "購買部の保守": success,
        "全社の保守": executive,
        "受注からの契約": success,
        "担当なし": success,  # no owner: the team member the renewal falls to today
    }

"""GraphQL helpers for the sales tests."""

from enishi.auth import create_user, issue_token
from enishi.plugin import to_global_id
from tests.helpers import create_account

DEAL = (
    "deal { id name amount currency probability weightedAmount forecastCategory closeDate lostReason lostToCompetitor "
    "isStale createdAt stage { id name kind } account { id } owner { id } }"
)
STAGES = (
    {"name": "リード", "probability": 10, "kind": "open", "rottingDays": 14},
    {"name": "提案", "probability": 60, "kind": "open", "rottingDays": 7},
    {"name": "交渉", "probability": 90, "kind": "open"},
    {"name": "受注", "probability": 100, "kind": "won"},
    {"name": "失注", "probability": 0, "kind": "lost"},
)


async def pipeline(api, name: str = "新規") -> dict:
    """A pipeline of five stages; returns {"id", "stages": {name: id}}."""
    payload = await api.mutate(
        "createPipeline", {"name": name, "stages": list(STAGES)}, "pipeline { id stages { id name } }", role="manager"
    )
    assert payload["userErrors"] == [], payload
    created = payload["pipeline"]
    return {"id": created["id"], "stages": {s["name"]: s["id"] for s in created["stages"]}}


async def user_id(api, role: str) -> str:
    await api.token(role)
    return to_global_id("User", api.user_ids[role])


async def staff(api, name: str, role: str = "sales") -> tuple[str, str]:
    """Another user holding `role` (the fixtures give one per role): their global id and a token."""
    async with api.runtime.unit_of_work() as uow:
        user = await create_user(uow.session, api.runtime.clock, display_name=name, roles=[role])
        token = await issue_token(uow.session, api.runtime.clock, api.runtime.permissions, user)
    return to_global_id("User", user.id), token


async def on_team(
    api, account_id: str, role: str = "sales", team_role: str = "account_executive", *, user: str | None = None, **input
) -> None:
    """Put the test user of `role` (or `user`, a global id) on the account's team."""
    payload = await api.mutate(
        "setAccountTeamMember",
        {"accountId": account_id, "userId": user or await user_id(api, role), "role": team_role, **input},
        "member { role }",
        role="manager",
    )
    assert payload["userErrors"] == [], payload


async def deal(api, pipeline_id: str, account_id: str | None = None, role: str = "manager", **input) -> dict:
    if account_id is None:
        account_id = (await create_account(api, name="株式会社アクメ"))["id"]
    payload = await api.mutate(
        "createDeal",
        {"name": "基幹システム刷新", "accountId": account_id, "pipelineId": pipeline_id, "amount": 1_000_000, **input},
        DEAL,
        role=role,
    )
    assert payload["userErrors"] == [], payload
    return payload["deal"]

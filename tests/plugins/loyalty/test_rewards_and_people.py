"""Rewards, Contact.loyalty, privacy, merges, and who may do what."""

import uuid

import pytest
from sqlalchemy import event, text

from enishi import DataSubject
from enishi.auth import ROLES
from enishi.worker import run_due_jobs
from tests.helpers import root_fields_added_by
from tests.plugins.loyalty.helpers import earn, ledger_ok, member, program, tiers

REDEEM = (
    "mutation($m: ID!, $r: ID!, $k: String) { redeemReward(input: {memberId: $m, rewardId: $r, idempotencyKey: $k}) "
    "{ entry { amount } member { balance } userErrors { code } } }"
)


async def _reward(api, program_id, **input) -> str:
    payload = await api.mutate(
        "createLoyaltyReward", {"programId": program_id, "name": "ギフト券 ¥1,000", "cost": 100, **input}, "reward { id stock }"
    )
    assert payload["userErrors"] == []
    return payload["reward"]["id"]


async def test_redemption_moves_stock_and_points_together(api):
    program_id = await program(api)
    reward_id = await _reward(api, program_id, stock=1, perMemberLimit=1)
    rich = await member(api, program_id)
    poor = await member(api, program_id, familyName="鈴木")
    await earn(api, rich, 500)
    await earn(api, poor, 50)
    stock = "query($id: ID!) { node(id: $id) { ... on LoyaltyReward { stock } } }"
    refused = (await api.graphql(REDEEM, {"m": poor, "r": reward_id}))["redeemReward"]
    assert refused["userErrors"] == [{"code": "INSUFFICIENT_POINTS"}]
    assert (await api.graphql(stock, {"id": reward_id}))["node"]["stock"] == 1  # nothing moved
    done = (await api.graphql(REDEEM, {"m": rich, "r": reward_id, "k": "gift-1"}))["redeemReward"]
    assert done == {"entry": {"amount": -100}, "member": {"balance": 400}, "userErrors": []}
    replay = (await api.graphql(REDEEM, {"m": rich, "r": reward_id, "k": "gift-1"}))["redeemReward"]
    assert replay["member"]["balance"] == 400 and replay["userErrors"] == []
    assert (await api.graphql(stock, {"id": reward_id}))["node"]["stock"] == 0
    assert (await api.graphql(REDEEM, {"m": rich, "r": reward_id}))["redeemReward"]["userErrors"] == [{"code": "OUT_OF_STOCK"}]
    limited = await _reward(api, program_id, perMemberLimit=1)
    assert (await api.graphql(REDEEM, {"m": rich, "r": limited}))["redeemReward"]["userErrors"] == []
    assert (await api.graphql(REDEEM, {"m": rich, "r": limited}))["redeemReward"]["userErrors"] == [{"code": "LIMIT_REACHED"}]
    assert await ledger_ok(api)


async def test_rewards_can_require_a_minimum_tier(api):
    program_id = await program(api)
    await tiers(api, program_id)
    gold = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on LoyaltyProgram { tiers { id name } } } }", {"id": program_id}
    )
    gold_id = next(t["id"] for t in gold["node"]["tiers"] if t["name"] == "Gold")
    reward_id = await _reward(api, program_id, minTierId=gold_id)
    member_id = await member(api, program_id)
    await earn(api, member_id, 1200)
    assert (await api.graphql(REDEEM, {"m": member_id, "r": reward_id}))["redeemReward"]["userErrors"] == [
        {"code": "TIER_TOO_LOW"}
    ]
    await earn(api, member_id, 4000)
    assert (await api.graphql(REDEEM, {"m": member_id, "r": reward_id}))["redeemReward"]["userErrors"] == []


async def test_contact_loyalty_shows_balance_pending_tier_and_expiring_points(api):
    program_id = await program(api, expiryDays=40, lockDays=7)
    await tiers(api, program_id)
    await api.mutate(
        "createEarningRule",
        {"programId": program_id, "name": "1/100", "kind": "purchase", "points": 1, "perAmount": 100},
        "rule { id }",
    )
    member_id = await member(api, program_id)
    await earn(api, member_id, 300)
    await api.mutate("recordPurchase", {"memberId": member_id, "orderId": "X", "lines": [{"amount": 2000}]}, "points")
    api.clock.advance(days=15)
    data = await api.graphql("""{ contacts { nodes { loyalty { balance pending tier { name } nextTier { name pointsNeeded }
        expiringSoon { points expiresAt } } } } }""")
    assert data["contacts"]["nodes"][0]["loyalty"] == {
        "balance": 300,
        "pending": 20,
        "tier": {"name": "Bronze"},
        "nextTier": {"name": "Silver", "pointsNeeded": 700},
        "expiringSoon": [{"points": 300, "expiresAt": "2024-07-20T00:00:00+00:00"}],
    }


async def test_a_page_of_contacts_with_loyalty_costs_constant_queries(api):
    program_id = await program(api)
    await tiers(api, program_id)
    for i in range(30):
        member_id = await member(api, program_id, familyName=f"会員{i:02d}")
        await earn(api, member_id, 10 * i + 1)
    query = """query($n: Int) { contacts(first: $n) { nodes { displayName loyalty { balance pending earnedLast365Days
        tier { name } nextTier { name pointsNeeded } expiringSoon { points } } } } }"""
    counts = []
    for size in (5, 30):
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731, B023 - removed within the iteration
        event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", listener)
        await api.graphql(query, {"n": size})
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", listener)
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1], counts


async def test_export_and_erasure_keep_the_ledger_balanced_but_unlinked(api):
    program_id = await program(api)
    member_id = await member(api, program_id, emails=[{"address": "taro@abc.co.jp"}])
    await earn(api, member_id, 100, reason="山田様へのお詫び")
    contact_id = (await api.graphql("{ contacts { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": contact_id}, role="compliance"
    )
    ledger = exported["node"]["personalData"]["loyalty"]["memberships"][0]["ledger"]
    assert [(e["kind"], e["amount"], e["reason"]) for e in ledger] == [("earn", 100, "山田様へのお詫び")]
    raw_contact = uuid.UUID(__import__("base64").b64decode(contact_id).decode().split(":")[1])
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(raw_contact)))
    # The ledger is not rewritten: its reasons were sealed under the membership's key, now destroyed.
    assert reports["loyalty"].affected == {"loyalty_member:anonymise": 1, "loyalty_member:shred": 1}
    async with api.runtime.read_session() as session:
        stored = (await session.execute(text("SELECT sealed_reason FROM loyalty_entry"))).scalar_one()
    assert stored is not None and "山田".encode() not in stored
    data = await api.graphql(
        """query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance
        ledger { nodes { amount reason } } } } }""",
        {"id": member_id},
    )
    assert data["node"] == {"balance": 100, "ledger": {"nodes": [{"amount": 100, "reason": None}]}}
    assert (await earn(api, member_id, 1))["userErrors"][0]["code"] == "MEMBER_ERASED"
    api.clock.advance(days=400)  # the ledger goes on without the person: the points expire
    assert "loyalty.expire" in await run_due_jobs(api.runtime)
    data = await api.graphql(
        """query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance
        ledger { nodes { kind amount reason } } } } }""",
        {"id": member_id},
    )
    assert data["node"]["balance"] == 0 and {"kind": "expire", "amount": -100, "reason": None} in data["node"]["ledger"]["nodes"]
    assert await ledger_ok(api)


async def test_merging_contacts_moves_points_with_their_expiry(api):
    program_id = await program(api)
    survivor = await member(api, program_id, familyName="山田")
    api.clock.advance(minutes=1)
    duplicate = await member(api, program_id, familyName="山田", givenName="T.")
    await earn(api, survivor, 100)
    api.clock.advance(days=100)
    await earn(api, duplicate, 50)
    contacts = (await api.graphql("{ contacts(orderBy: [{field: CREATED_AT}]) { nodes { id } } }"))["contacts"]["nodes"]
    merged = await api.mutate(
        "mergeContacts",
        {"survivorId": contacts[0]["id"], "mergedIds": [contacts[1]["id"]]},
        "contact { loyalty { balance expiringSoon { points } } } moves { plugin count }",
    )
    assert {"plugin": "loyalty", "count": 1} in merged["moves"]
    assert merged["contact"]["loyalty"]["balance"] == 150
    api.clock.advance(days=266)  # the survivor's own 100 expire; the moved 50 keep their later date
    from enishi.worker import run_due_jobs

    await run_due_jobs(api.runtime)
    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": survivor})
    assert data["node"]["balance"] == 50
    assert await ledger_ok(api)


LOYALTY_FIELDS = {
    "Query.loyaltyPrograms": "loyalty.read",
    "Query.pointsLedger": "loyalty.read",
    "Query.verifyLedger": "loyalty.read",
    "Mutation.createLoyaltyProgram": "loyalty.configure",
    "Mutation.upsertLoyaltyTier": "loyalty.configure",
    "Mutation.createEarningRule": "loyalty.configure",
    "Mutation.createLoyaltyReward": "loyalty.configure",
    "Mutation.enrollMember": "loyalty.operate",
    "Mutation.earnPoints": "loyalty.operate",
    "Mutation.spendPoints": "loyalty.operate",
    "Query.membersWithExpiringPoints": "loyalty.read",
    "Mutation.setEarningRuleActive": "loyalty.configure",
    "Mutation.updateLoyaltyReward": "loyalty.configure",
    "Mutation.adjustPoints": "loyalty.adjust",
    "Mutation.recordPurchase": "loyalty.operate",
    "Mutation.refundPurchase": "loyalty.operate",
    "Mutation.redeemReward": "loyalty.operate",
    "Mutation.recordReferral": "loyalty.operate",
}


async def test_every_loyalty_root_field_has_a_permission(enishi_api):
    assert await root_fields_added_by(enishi_api, "loyalty") == set(LOYALTY_FIELDS)


async def test_an_integration_token_spends_points_only_with_the_loyalty_write_scope(api):
    member_id = await member(api, await program(api))
    await earn(api, member_id, 100)
    balance = "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }"
    spend = "mutation($input: SpendPointsInput!) { spendPoints(input: $input) { member { balance } userErrors { code } } }"
    spending = {"input": {"memberId": member_id, "amount": 30}}
    reading = await api.scoped_token("integration", ["loyalty:read", "contacts:read"])
    assert (await api.graphql(balance, {"id": member_id}, token=reading))["node"]["balance"] == 100
    refused = (await api.post(spend, spending, token=reading)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and refused["data"] is None
    writing = await api.scoped_token("integration", ["loyalty:write"])
    assert (await api.graphql(spend, spending, token=writing))["spendPoints"] == {"member": {"balance": 70}, "userErrors": []}


@pytest.mark.parametrize("role", ROLES)
async def test_roles_reach_loyalty_mutations_per_their_permissions(api, role):
    program_id = await program(api)
    member_id = await member(api, program_id)
    granted = api.runtime.permissions.for_roles([role])
    body = (
        await api.post(
            "mutation($m: ID!) { earnPoints(input: {memberId: $m, amount: 1}) { userErrors { code } } }",
            {"m": member_id},
            role=role,
        )
    ).json()
    assert ("errors" in body) == ("loyalty.operate" not in granted), body
    body = (await api.post("{ loyaltyPrograms { id } }", role=role)).json()
    assert ("errors" in body) == ("loyalty.read" not in granted), body


async def test_rewards_and_rules_can_be_changed_and_switched_off(api):
    program_id = await program(api)
    reward_id = await _reward(api, program_id, stock=5)
    member_id = await member(api, program_id)
    await earn(api, member_id, 500)
    changed = await api.mutate(
        "updateLoyaltyReward", {"rewardId": reward_id, "cost": 200, "active": False}, "reward { cost active stock }"
    )
    assert changed["reward"] == {"cost": 200, "active": False, "stock": 5}
    assert (await api.graphql(REDEEM, {"m": member_id, "r": reward_id}))["redeemReward"]["userErrors"] == [{"code": "NOT_FOUND"}]
    rule = await api.mutate(
        "createEarningRule",
        {"programId": program_id, "name": "Event", "kind": "activity", "activityType": "event", "points": 10},
        "rule { id }",
    )
    off = await api.mutate("setEarningRuleActive", {"ruleId": rule["rule"]["id"], "active": False}, "rule { active }")
    assert off["rule"] == {"active": False}
    contact_id = (await api.graphql("{ contacts { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    await api.graphql(
        'mutation($c: ID!) { logActivity(input: {type: "event", summary: "x", contactIds: [$c]}) { userErrors { code } } }',
        {"c": contact_id},
    )
    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert data["node"]["balance"] == 500


async def test_reminder_query_lists_members_whose_points_expire_soon(api):
    program_id = await program(api, expiryDays=40)
    soon = await member(api, program_id, familyName="早い")
    await earn(api, soon, 10)
    api.clock.advance(days=20)
    later = await member(api, program_id, familyName="遅い")
    await earn(api, later, 10)
    query = "query($p: ID!, $d: Int) { membersWithExpiringPoints(programId: $p, withinDays: $d) { nodes { id } } }"
    assert [n["id"] for n in (await api.graphql(query, {"p": program_id, "d": 30}))["membersWithExpiringPoints"]["nodes"]] == [
        soon
    ]
    both = (await api.graphql(query, {"p": program_id, "d": 45}))["membersWithExpiringPoints"]["nodes"]
    assert [n["id"] for n in both] == [soon, later]

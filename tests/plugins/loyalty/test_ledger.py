"""Ledger, lots, expiry and idempotency (issue examples 1 and parts of the rest)."""

from enishi.worker import run_due_jobs
from tests.plugins.loyalty.helpers import ENTRY, earn, ledger_ok, member, program, spend


async def test_points_expire_after_365_days_leaving_a_ledger_that_sums_to_zero(api):
    member_id = await member(api, await program(api))
    assert (await earn(api, member_id, 100))["member"]["balance"] == 100
    api.clock.advance(days=10)
    assert (await spend(api, member_id, 30))["member"]["balance"] == 70
    api.clock.advance(days=354)  # day 364
    await run_due_jobs(api.runtime)
    query = (
        "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance "
        "ledger { edges { node { kind amount balanceAfter } } } } } }"
    )
    assert (await api.graphql(query, {"id": member_id}))["node"]["balance"] == 70
    api.clock.advance(days=2)  # day 366
    assert "loyalty.expire" in await run_due_jobs(api.runtime)
    data = (await api.graphql(query, {"id": member_id}))["node"]
    assert data["balance"] == 0
    kinds = [(e["node"]["kind"], e["node"]["amount"], e["node"]["balanceAfter"]) for e in data["ledger"]["edges"]]
    assert kinds == [("expire", -70, 0), ("spend", -30, 70), ("earn", 100, 100)]
    assert sum(amount for _, amount, _ in kinds) == 0
    api.clock.advance(hours=2)
    await run_due_jobs(api.runtime)  # a second run expires nothing more
    assert len((await api.graphql(query, {"id": member_id}))["node"]["ledger"]["edges"]) == 3
    assert await ledger_ok(api)


async def test_spending_takes_the_soonest_expiring_points_first(api):
    program_id = await program(api, expiryMode="end_of_month", expiryDays=None)
    member_id = await member(api, program_id)
    await earn(api, member_id, 40)  # 2024-06-10: expires at the end of June, Tokyo time
    api.clock.advance(days=25)  # 2024-07-05
    await earn(api, member_id, 60)  # expires at the end of July
    api.clock.advance(days=-10)  # back to June 25 (a back-dated spend keeps the example short)
    spent = await api.mutate(
        "spendPoints", {"memberId": member_id, "amount": 50}, "entry { lotsUsed { points expiresAt } } member { balance }"
    )
    assert spent["entry"]["lotsUsed"] == [
        {"points": 40, "expiresAt": "2024-06-30T15:00:00+00:00"},
        {"points": 10, "expiresAt": "2024-07-31T15:00:00+00:00"},
    ]
    assert spent["member"]["balance"] == 50


async def test_points_past_their_date_are_never_spent_even_before_the_job_runs(api):
    program_id = await program(api, expiryMode="end_of_month", expiryDays=None)
    member_id = await member(api, program_id)
    await earn(api, member_id, 40)  # expires 2024-06-30T15:00Z
    api.clock.advance(days=21)  # 2024-07-01 00:00Z, 09:00 in Tokyo: June's points are gone
    refused = await spend(api, member_id, 10)
    assert refused["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"
    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert data["node"]["balance"] == 40  # the refusal rolled back the inline expiry too; the job will write it
    await run_due_jobs(api.runtime)
    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert data["node"]["balance"] == 0
    assert await ledger_ok(api)


async def test_balance_never_goes_below_zero(api):
    member_id = await member(api, await program(api))
    await earn(api, member_id, 50)
    refused = await spend(api, member_id, 51)
    assert refused["entry"] is None
    assert refused["userErrors"] == [
        {"field": "amount", "message": "the member does not have enough points", "code": "INSUFFICIENT_POINTS"}
    ]
    zero = await spend(api, member_id, 0)
    assert zero["userErrors"][0]["code"] == "OUT_OF_RANGE"
    assert (await spend(api, member_id, 50))["member"]["balance"] == 0
    assert await ledger_ok(api)


async def test_the_same_idempotency_key_returns_the_original_entry(api):
    member_id = await member(api, await program(api))
    await earn(api, member_id, 100)
    first = await spend(api, member_id, 30, idempotencyKey="order-42-redeem")
    again = await spend(api, member_id, 30, idempotencyKey="order-42-redeem")
    assert again["entry"]["id"] == first["entry"]["id"] and again["member"]["balance"] == 70
    conflict = await spend(api, member_id, 31, idempotencyKey="order-42-redeem")
    assert conflict["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    ledger = await api.graphql("query($id: ID!) { pointsLedger(memberId: $id) { totalCount } }", {"id": member_id})
    assert ledger["pointsLedger"]["totalCount"] == 2


async def test_adjustments_need_a_reason_and_the_adjust_permission(api):
    member_id = await member(api, await program(api))
    no_reason = await api.mutate("adjustPoints", {"memberId": member_id, "amount": 10}, ENTRY)
    assert no_reason["userErrors"][0] == {"field": "reason", "message": "an adjustment needs a reason", "code": "REQUIRED"}
    denied = await api.post(
        "mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { entry { id } } }",
        {"i": {"memberId": member_id, "amount": 10, "reason": "goodwill"}},
        role="sales",
    )
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ok = await api.mutate(
        "adjustPoints", {"memberId": member_id, "amount": 10, "reason": "お詫び / goodwill"}, ENTRY, role="manager"
    )
    assert ok["entry"]["kind"] == "adjust" and ok["member"]["balance"] == 10
    down = await api.mutate("adjustPoints", {"memberId": member_id, "amount": -11, "reason": "correction"}, ENTRY, role="manager")
    assert down["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"
    assert await ledger_ok(api)


async def test_ledger_filters_and_pages(api):
    member_id = await member(api, await program(api))
    for amount in (10, 20, 30):
        await earn(api, member_id, amount)
    await spend(api, member_id, 5)
    data = await api.graphql(
        """query($id: ID!) { pointsLedger(memberId: $id, first: 2, filter: {kind: {eq: "earn"}}) {
        totalCount edges { node { seq amount } } pageInfo { hasNextPage endCursor } } }""",
        {"id": member_id},
    )
    assert data["pointsLedger"]["totalCount"] == 3
    assert [e["node"]["amount"] for e in data["pointsLedger"]["edges"]] == [30, 20]
    after = await api.graphql(
        """query($id: ID!, $after: String) { pointsLedger(memberId: $id, after: $after, filter: {kind: {eq: "earn"}}) {
        edges { node { seq amount } } } }""",
        {"id": member_id, "after": data["pointsLedger"]["pageInfo"]["endCursor"]},
    )
    assert [e["node"]["amount"] for e in after["pointsLedger"]["edges"]] == [10]

"""Purchases, refunds, return windows, tiers and earning rules (issue examples 3 and 4)."""

import datetime as dt

from enishi.worker import run_due_jobs
from tests.plugins.loyalty.helpers import MEMBER, earn, ledger_ok, member, program, purchase_rule, spend, tiers

ORDER = [{"category": "goods", "amount": 11845}, {"category": "shipping", "amount": 500}]  # ¥12,345 in all
PURCHASE = f"orderId points locked {MEMBER}"


async def test_one_point_per_100_yen_excluding_shipping_and_gold_earns_one_and_a_half(api):
    program_id = await program(api)
    await tiers(api, program_id)
    await purchase_rule(api, program_id)
    bronze = await member(api, program_id)
    paid = await api.mutate("recordPurchase", {"memberId": bronze, "orderId": "A-1", "lines": ORDER}, PURCHASE)
    assert paid["points"] == 118 and paid["member"]["balance"] == 118 and paid["member"]["tier"] == {"name": "Bronze"}
    gold = await member(api, program_id, familyName="鈴木")
    await earn(api, gold, 5000)
    paid = await api.mutate("recordPurchase", {"memberId": gold, "orderId": "A-2", "lines": ORDER}, PURCHASE)
    assert paid["member"]["tier"] == {"name": "Gold"} and paid["points"] == 177
    duplicate = await api.mutate("recordPurchase", {"memberId": gold, "orderId": "A-2", "lines": ORDER}, PURCHASE)
    assert duplicate["userErrors"][0]["code"] == "DUPLICATE_ORDER"
    assert await ledger_ok(api)


async def test_tiers_follow_points_earned_not_the_balance(api):
    program_id = await program(api)
    await tiers(api, program_id)
    member_id = await member(api, program_id)
    api.clock.advance(minutes=1)
    earned = await earn(api, member_id, 1200)
    assert earned["member"]["tier"] == {"name": "Silver"}
    assert earned["member"]["nextTier"] == {"name": "Gold", "pointsNeeded": 3800}
    spent = await spend(api, member_id, 1000)
    assert spent["member"]["tier"] == {"name": "Silver"} and spent["member"]["balance"] == 200
    timeline = await api.graphql("""{ contacts { nodes { timeline(types: ["loyalty.tier_changed"]) {
        edges { node { summary sourcePlugin } } } } } }""")
    summaries = [e["node"]["summary"] for e in timeline["contacts"]["nodes"][0]["timeline"]["edges"]]
    assert summaries == ["Tier: Bronze → Silver", "Tier: — → Bronze"]


async def test_automatic_downgrade_when_earned_points_leave_the_window(api):
    program_id = await program(api, expiryMode="never", expiryDays=None, downgradeMode="automatic")
    await tiers(api, program_id)
    member_id = await member(api, program_id)
    await earn(api, member_id, 1200)
    api.clock.advance(days=366)
    await run_due_jobs(api.runtime)
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { tier { name } balance earnedLast365Days } } }",
        {"id": member_id},
    )
    assert data["node"] == {"tier": {"name": "Bronze"}, "balance": 1200, "earnedLast365Days": 0}


async def test_purchase_points_count_toward_tiers_from_the_purchase_date_not_from_when_recorded(api):
    program_id = await program(api, expiryMode="never", expiryDays=None, downgradeMode="automatic")
    await tiers(api, program_id)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    big_order = [{"category": "goods", "amount": 120_000}]  # 1,200 points: Silver's threshold

    async def back_dated(order_id: str, days_ago: int) -> dict:
        purchased_at = (api.clock.now() - dt.timedelta(days=days_ago)).isoformat()
        paid = await api.mutate(
            "recordPurchase",
            {"memberId": member_id, "orderId": order_id, "lines": big_order, "purchasedAt": purchased_at},
            PURCHASE,
        )
        assert paid["userErrors"] == [] and paid["points"] == 1200
        return paid["member"]

    outside = await back_dated("G-1", days_ago=400)
    assert outside["earnedLast365Days"] == 0 and outside["tier"] == {"name": "Bronze"} and outside["balance"] == 1200
    inside = await back_dated("G-2", days_ago=300)
    assert inside["earnedLast365Days"] == 1200 and inside["tier"] == {"name": "Silver"}
    refund = await api.mutate("refundPurchase", {"programId": program_id, "orderId": "G-1"}, PURCHASE)
    assert refund["member"]["earnedLast365Days"] == 1200  # its points had never counted: taking them back takes none
    assert refund["member"]["tier"] == {"name": "Silver"} and refund["member"]["balance"] == 1200
    api.clock.advance(days=66)  # 366 days after the second purchase, 366 - 66 after it was recorded
    await run_due_jobs(api.runtime)
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { tier { name } earnedLast365Days } } }", {"id": member_id}
    )
    assert data["node"] == {"tier": {"name": "Bronze"}, "earnedLast365Days": 0}
    assert await ledger_ok(api)


async def test_return_window_locks_purchase_points_until_it_passes(api):
    program_id = await program(api, lockDays=14)
    await tiers(api, program_id)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    paid = await api.mutate("recordPurchase", {"memberId": member_id, "orderId": "B-1", "lines": ORDER}, PURCHASE)
    assert paid["locked"] is True and paid["member"]["balance"] == 0 and paid["member"]["pending"] == 118
    assert paid["member"]["earnedLast365Days"] == 0  # locked points do not count toward tiers
    assert (await spend(api, member_id, 1))["userErrors"][0]["code"] == "INSUFFICIENT_POINTS"
    refunded_early = await api.mutate("recordPurchase", {"memberId": member_id, "orderId": "B-2", "lines": ORDER}, PURCHASE)
    assert refunded_early["member"]["pending"] == 236
    cancel = await api.mutate("refundPurchase", {"programId": program_id, "orderId": "B-2"}, PURCHASE)
    assert cancel["member"]["pending"] == 118 and cancel["member"]["balance"] == 0
    api.clock.advance(days=14)
    assert "loyalty.unlock" in await run_due_jobs(api.runtime)
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance pending earnedLast365Days } } }", {"id": member_id}
    )
    assert data["node"] == {"balance": 118, "pending": 0, "earnedLast365Days": 118}
    assert await ledger_ok(api)


async def test_refund_after_spending_goes_negative_and_blocks_redemptions_until_repaid(api):
    program_id = await program(api)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    await api.mutate("recordPurchase", {"memberId": member_id, "orderId": "C-1", "lines": ORDER}, PURCHASE)
    await spend(api, member_id, 100)
    refund = await api.mutate("refundPurchase", {"programId": program_id, "orderId": "C-1"}, PURCHASE)
    assert refund["points"] == -118 and refund["member"]["balance"] == -100
    again = await api.mutate("refundPurchase", {"programId": program_id, "orderId": "C-1"}, PURCHASE)
    assert again["userErrors"][0]["code"] == "ALREADY_REFUNDED"
    blocked = await spend(api, member_id, 1)
    assert blocked["userErrors"][0]["message"] == "redemptions are blocked until a negative balance is back at zero"
    assert await ledger_ok(api)
    await earn(api, member_id, 150)
    assert (await spend(api, member_id, 50))["member"]["balance"] == 0
    assert await ledger_ok(api)


async def test_activity_rules_award_points_within_their_limits_and_dates(api):
    program_id = await program(api)
    rule = await api.mutate(
        "createEarningRule",
        {
            "programId": program_id,
            "name": "Event attended",
            "kind": "activity",
            "activityType": "event",
            "points": 50,
            "limitCount": 1,
            "limitPeriod": "day",
            "endsAt": "2024-06-30T15:00:00Z",
        },
        "rule { id }",
    )
    assert rule["userErrors"] == []
    member_id = await member(api, program_id)
    contact_id = (await api.graphql("{ contacts { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    log = 'mutation($c: ID!) { logActivity(input: {type: "event", summary: "展示会", contactIds: [$c]}) { userErrors { code } } }'
    balance = "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }"
    await api.graphql(log, {"c": contact_id})
    await api.graphql(log, {"c": contact_id})  # same day: over the limit
    assert (await api.graphql(balance, {"id": member_id}))["node"]["balance"] == 50
    api.clock.advance(days=1)
    await api.graphql(log, {"c": contact_id})
    assert (await api.graphql(balance, {"id": member_id}))["node"]["balance"] == 100
    api.clock.advance(days=30)  # the rule has ended
    await api.graphql(log, {"c": contact_id})
    assert (await api.graphql(balance, {"id": member_id}))["node"]["balance"] == 100
    bad = await api.mutate(
        "createEarningRule",
        {"programId": program_id, "name": "x", "kind": "activity", "activityType": "telepathy", "points": 5, "limitCount": 1},
        "rule { id }",
    )
    assert {e["code"] for e in bad["userErrors"]} == {"UNKNOWN_ACTIVITY_TYPE", "REQUIRED"}


async def test_referrals_reward_both_sides_but_not_oneself_in_another_spelling(api):
    program_id = await program(api)
    await api.mutate(
        "createEarningRule", {"programId": program_id, "name": "Referral", "kind": "referral", "points": 300}, "rule { id }"
    )
    referrer = await member(api, program_id, emails=[{"address": "taro@abc.co.jp"}])
    friend = await member(api, program_id, familyName="鈴木", emails=[{"address": "hanako@example.jp"}])
    alias = await member(api, program_id, familyName="ヤマダ", emails=[{"address": "ＴＡＲＯ＠ＡＢＣ．ＣＯ．ＪＰ"}])
    query = (
        "mutation($a: ID!, $b: ID!) { recordReferral(input: {referrerMemberId: $a, referredMemberId: $b}) "
        "{ entries { amount } userErrors { code } } }"
    )
    ok = (await api.graphql(query, {"a": referrer, "b": friend}))["recordReferral"]
    assert ok == {"entries": [{"amount": 300}, {"amount": 300}], "userErrors": []}
    twice = (await api.graphql(query, {"a": referrer, "b": friend}))["recordReferral"]
    assert twice["userErrors"] == [{"code": "ALREADY_REFERRED"}]
    self_referral = (await api.graphql(query, {"a": referrer, "b": alias}))["recordReferral"]
    assert self_referral["userErrors"] == [{"code": "SELF_REFERRAL"}]


async def test_purchases_a_shop_integration_records_in_the_core_earn_points(enishi_api):
    import strawberry
    from strawberry.types import Info

    from enishi import hookimpl
    from enishi.plugin import parse_global_id, record_purchase, run_mutation

    @strawberry.type
    class ShopMutation:
        @strawberry.mutation
        async def shop_order_paid(self, info: Info, contact_id: strawberry.ID, order_id: str, amount: int) -> bool:
            contact = parse_global_id(contact_id, "Contact", "contactId")

            async def work(uow):
                await record_purchase(
                    uow,
                    {
                        "contact_id": contact,
                        "order_ref": order_id,
                        "channel": "shop",
                        "items": [{"category": "goods", "amount": amount}],
                    },
                )
                return True

            done, _ = await run_mutation(info, "crm.write", work)
            return bool(done)

    class Shop:
        @hookimpl
        def enishi_graphql_mutation(self):
            return [ShopMutation]

    api = await enishi_api(plugins=[("shop", Shop())])
    program_id = await program(api)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    contact_id = (await api.graphql("{ contacts { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    await api.graphql('mutation($c: ID!) { shopOrderPaid(contactId: $c, orderId: "S-1", amount: 5000) }', {"c": contact_id})
    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert data["node"]["balance"] == 50


async def test_end_of_year_expiry_is_computed_in_tokyo_time(api):
    member_id = await member(api, await program(api, expiryMode="end_of_year", expiryDays=None))
    api.clock.set(dt.datetime(2024, 12, 31, 16, 0, tzinfo=dt.UTC))  # 2025-01-01 01:00 in Tokyo
    await earn(api, member_id, 10)
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { ledger { nodes { kind } } } } }", {"id": member_id}
    )
    assert data["node"]["ledger"]["nodes"] == [{"kind": "earn"}]
    api.clock.advance(days=364, hours=22)  # 2025-12-31 14:00Z, 23:00 in Tokyo: still valid
    await run_due_jobs(api.runtime)
    balance = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert balance["node"]["balance"] == 10
    api.clock.advance(hours=1)  # midnight in Tokyo: 2026 has begun
    await run_due_jobs(api.runtime)
    balance = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert balance["node"]["balance"] == 0


async def test_weekly_limits_reset_on_monday_in_tokyo(api):
    program_id = await program(api)
    await api.mutate(
        "createEarningRule",
        {
            "programId": program_id,
            "name": "Weekly visit",
            "kind": "activity",
            "activityType": "meeting",
            "points": 5,
            "limitCount": 2,
            "limitPeriod": "week",
        },
        "rule { id }",
    )
    member_id = await member(api, program_id)
    contact_id = (await api.graphql("{ contacts { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    log = 'mutation($c: ID!) { logActivity(input: {type: "meeting", summary: "訪問", contactIds: [$c]}) { userErrors { code } } }'
    for _ in range(3):  # Monday 2024-06-10
        await api.graphql(log, {"c": contact_id})
    api.clock.advance(days=6, hours=14)  # Sunday 23:00 JST: same week
    await api.graphql(log, {"c": contact_id})
    api.clock.advance(hours=1)  # Monday 00:00 JST: a new week
    await api.graphql(log, {"c": contact_id})
    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert data["node"]["balance"] == 15


async def test_downgrade_modes_none_and_periodic(api):
    for mode, after_window, after_review in (("none", "Silver", "Silver"), ("periodic", "Silver", "Bronze")):
        program_id = await program(api, expiryMode="never", expiryDays=None, downgradeMode=mode)
        await tiers(api, program_id)
        member_id = await member(api, program_id, familyName=mode)
        await earn(api, member_id, 1000)
        api.clock.advance(days=366)
        await earn(api, member_id, 1)  # re-evaluates at once: only upgrades may happen here
        tier = "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { tier { name } } } }"
        assert (await api.graphql(tier, {"id": member_id}))["node"]["tier"]["name"] == after_window
        await run_due_jobs(api.runtime)  # includes the daily review
        assert (await api.graphql(tier, {"id": member_id}))["node"]["tier"]["name"] == after_review


LEDGER = (
    "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance pending ledger { edges { node { kind amount } } } } } }"
)


async def _member_state(api, member_id) -> dict:
    data = (await api.graphql(LEDGER, {"id": member_id}))["node"]
    return {
        "balance": data["balance"],
        "pending": data["pending"],
        "ledger": [(e["node"]["kind"], e["node"]["amount"]) for e in data["ledger"]["edges"]],
    }


async def test_a_back_dated_purchase_expires_a_year_after_it_was_made_not_after_it_was_recorded(api):
    program_id = await program(api)  # points expire after 365 days
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    purchased_at = (api.clock.now() - dt.timedelta(days=350)).isoformat()
    paid = await api.mutate(
        "recordPurchase",
        {"memberId": member_id, "orderId": "D-1", "lines": ORDER, "purchasedAt": purchased_at},
        f"{PURCHASE} member {{ expiringSoon {{ points expiresAt }} }}",
    )
    expires_at = (api.clock.now() + dt.timedelta(days=15)).isoformat()
    assert paid["member"]["balance"] == 118 and paid["member"]["expiringSoon"] == [{"points": 118, "expiresAt": expires_at}]
    api.clock.advance(days=15)
    await run_due_jobs(api.runtime)
    assert await _member_state(api, member_id) == {"balance": 0, "pending": 0, "ledger": [("expire", -118), ("earn", 118)]}
    assert await ledger_ok(api)


async def test_the_return_window_and_the_expiry_both_count_from_the_purchase(api):
    program_id = await program(api, lockDays=14)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    long_ago = (api.clock.now() - dt.timedelta(days=300)).isoformat()
    old = await api.mutate(
        "recordPurchase", {"memberId": member_id, "orderId": "E-1", "lines": ORDER, "purchasedAt": long_ago}, PURCHASE
    )
    assert (
        old["locked"] is False and old["member"]["balance"] == 118 and old["member"]["pending"] == 0
    )  # its window closed long ago
    recent = (api.clock.now() - dt.timedelta(days=10)).isoformat()
    new = await api.mutate(
        "recordPurchase", {"memberId": member_id, "orderId": "E-2", "lines": ORDER, "purchasedAt": recent}, PURCHASE
    )
    assert new["locked"] is True and new["member"]["pending"] == 118
    api.clock.advance(days=4)  # 14 days after the purchase
    await run_due_jobs(api.runtime)
    assert (await _member_state(api, member_id))["balance"] == 236
    api.clock.advance(days=61)  # 365 days after the first purchase
    await run_due_jobs(api.runtime)
    assert (await _member_state(api, member_id))["balance"] == 118
    api.clock.advance(days=290)  # 365 days after the second purchase, though it was unlocked 351 days ago
    await run_due_jobs(api.runtime)
    assert await _member_state(api, member_id) == {
        "balance": 0,
        "pending": 0,
        "ledger": [("expire", -118), ("expire", -118), ("unlock", 118), ("earn", 118)],
    }
    assert await ledger_ok(api)


async def test_a_purchase_older_than_the_expiry_is_recorded_with_its_points_already_expired(api):
    program_id = await program(api)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    await api.mutate("recordPurchase", {"memberId": member_id, "orderId": "F-1", "lines": ORDER}, PURCHASE)
    await spend(api, member_id, 100)
    await api.mutate("refundPurchase", {"programId": program_id, "orderId": "F-1"}, PURCHASE)  # a debt of 100 is left
    purchased_at = (api.clock.now() - dt.timedelta(days=400)).isoformat()
    paid = await api.mutate(
        "recordPurchase", {"memberId": member_id, "orderId": "F-2", "lines": ORDER, "purchasedAt": purchased_at}, PURCHASE
    )
    assert paid["userErrors"] == [] and paid["points"] == 118
    assert paid["member"]["balance"] == -100  # expired points are worth nothing: they pay no debt
    assert await _member_state(api, member_id) == {
        "balance": -100,
        "pending": 0,
        "ledger": [("expire", -118), ("earn", 118), ("reverse", -118), ("spend", -100), ("earn", 118)],
    }
    again = await api.mutate("recordPurchase", {"memberId": member_id, "orderId": "F-2", "lines": ORDER}, PURCHASE)
    assert again["userErrors"][0]["code"] == "DUPLICATE_ORDER"  # the order is on record
    assert await ledger_ok(api)


async def test_a_core_purchase_earns_in_the_buyers_membership_and_its_refund_takes_the_points_back(enishi_api):
    api = await enishi_api(disabled_plugins=frozenset({"insights"}))  # loyalty needs no other reader of purchases
    program_id = await program(api)
    await purchase_rule(api, program_id)
    member_id = await member(api, program_id)
    contact_id = (await api.graphql("{ contacts { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    bought = await api.mutate(
        "createPurchase", {"contactId": contact_id, "orderId": "W-1", "channel": "web", "items": ORDER}, "purchase { id }"
    )
    state = "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }"
    assert (await api.graphql(state, {"id": member_id}))["node"]["balance"] == 118
    await api.mutate("createPurchaseRefund", {"purchaseId": bought["purchase"]["id"]}, "purchase { id }")
    assert (await api.graphql(state, {"id": member_id}))["node"]["balance"] == 0
    assert await ledger_ok(api)


async def test_purchases_are_recorded_without_loyalty_installed(enishi_api):
    from tests.helpers import create_contact

    api = await enishi_api(disabled_plugins=frozenset({"loyalty"}))
    person = await create_contact(api, familyName="山田")
    bought = await api.mutate("createPurchase", {"contactId": person["id"], "amount": 1000}, "purchase { amount }")
    assert bought == {"purchase": {"amount": 1000}, "userErrors": []}

"""GraphQL helpers for the loyalty tests."""

from tests.helpers import create_contact

MEMBER = "member { id balance pending earnedLast365Days tier { name } nextTier { name pointsNeeded } }"
ENTRY = f"entry {{ id kind amount balanceAfter reason }} {MEMBER}"


async def program(api, **input) -> str:
    payload = await api.mutate("createLoyaltyProgram", {"name": "縁ポイント", "expiryDays": 365, **input}, "program { id }")
    assert payload["userErrors"] == [], payload
    return payload["program"]["id"]


async def tiers(api, program_id, gold_multiplier=1.5) -> None:
    for name, threshold, multiplier in (("Bronze", 0, 1.0), ("Silver", 1000, 1.0), ("Gold", 5000, gold_multiplier)):
        payload = await api.mutate(
            "upsertLoyaltyTier",
            {"programId": program_id, "name": name, "threshold": threshold, "multiplier": multiplier},
            "tier { id }",
        )
        assert payload["userErrors"] == []


async def purchase_rule(api, program_id) -> None:
    payload = await api.mutate(
        "createEarningRule",
        {
            "programId": program_id,
            "name": "1 point per ¥100",
            "kind": "purchase",
            "points": 1,
            "perAmount": 100,
            "excludedCategories": ["shipping"],
        },
        "rule { id }",
    )
    assert payload["userErrors"] == []


async def member(api, program_id, **contact) -> str:
    person = await create_contact(api, **({"familyName": "山田", "givenName": "太郎"} | contact))
    payload = await api.mutate("enrollMember", {"programId": program_id, "contactId": person["id"]}, "member { id }")
    assert payload["userErrors"] == []
    return payload["member"]["id"]


async def earn(api, member_id, amount, **extra) -> dict:
    return await api.mutate("earnPoints", {"memberId": member_id, "amount": amount, **extra}, ENTRY)


async def spend(api, member_id, amount, **extra) -> dict:
    return await api.mutate("spendPoints", {"memberId": member_id, "amount": amount, **extra}, ENTRY)


async def ledger_ok(api) -> bool:
    check = (await api.graphql("{ verifyLedger { ok membersChecked problems { balance ledgerSum lotsSum } } }"))["verifyLedger"]
    assert check["ok"], check
    return check["ok"]

"""Purchases in the core: recorded once, summarised per contact and account, refunded, moved by a
merge, exported with the person and kept (unlinked) when the person is erased."""

import base64
import datetime as dt
import uuid

from enishi.plugin import DataSubject
from tests.helpers import create_account, create_contact

SUMMARY = "purchaseSummary { currency count total averageOrderValue firstPurchasedAt lastPurchasedAt }"
PURCHASE = "purchase { id orderId amount currency channel items { category sku quantity amount } refundedAt }"


def _raw(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":")[1])


async def buy(api, contact_id=None, *, days_ago=0, role="admin", **input) -> dict:
    when = (api.clock.now() - dt.timedelta(days=days_ago)).isoformat()
    payload = await api.mutate("createPurchase", {"contactId": contact_id, "purchasedAt": when, **input}, PURCHASE, role=role)
    return payload


async def test_a_contacts_purchases_and_summary_and_its_primary_accounts_too(api):
    company = await create_account(api, name="縁商事")
    person = await create_contact(api, familyName="山田", accounts=[{"accountId": company["id"], "primary": True}])
    first = await buy(api, person["id"], days_ago=30, orderId="A-1", items=[{"category": "goods", "amount": 3000, "quantity": 2}])
    assert first["userErrors"] == []
    assert first["purchase"]["amount"] == 3000 and first["purchase"]["currency"] == "JPY"
    assert first["purchase"]["items"] == [{"category": "goods", "sku": None, "quantity": 2, "amount": 3000}]
    await buy(api, person["id"], days_ago=10, orderId="A-2", amount=5000)
    refunded = await buy(api, person["id"], days_ago=5, orderId="A-3", amount=100000)
    undone = await api.mutate("createPurchaseRefund", {"purchaseId": refunded["purchase"]["id"]}, "purchase { refundedAt }")
    assert undone["purchase"]["refundedAt"] == api.clock.now().isoformat()
    query = f"""query($c: ID!, $a: ID!) {{
        c: node(id: $c) {{ ... on Contact {{ {SUMMARY} purchases {{ totalCount nodes {{ orderId }} }} }} }}
        a: node(id: $a) {{ ... on Account {{ {SUMMARY} purchases {{ totalCount }} }} }} }}"""
    data = await api.graphql(query, {"c": person["id"], "a": company["id"]})
    summary = {
        "currency": "JPY",
        "count": 2,
        "total": 8000,
        "averageOrderValue": 4000,
        "firstPurchasedAt": (api.clock.now() - dt.timedelta(days=30)).isoformat(),
        "lastPurchasedAt": (api.clock.now() - dt.timedelta(days=10)).isoformat(),
    }
    assert data["c"]["purchaseSummary"] == [summary] and data["a"]["purchaseSummary"] == [summary]
    assert data["c"]["purchases"] == {"totalCount": 3, "nodes": [{"orderId": "A-3"}, {"orderId": "A-2"}, {"orderId": "A-1"}]}
    assert data["a"]["purchases"]["totalCount"] == 3
    again = await api.mutate("createPurchaseRefund", {"purchaseId": refunded["purchase"]["id"]}, "purchase { id }")
    assert again["userErrors"] == [{"field": "purchaseId", "message": "was already refunded", "code": "ALREADY_REFUNDED"}]


async def test_bad_purchases_are_refused_with_typed_errors_and_change_nothing(api):
    person = await create_contact(api, familyName="山田")
    assert (await buy(api, person["id"], orderId="X-1", amount=100))["userErrors"] == []
    cases = [
        ({"contactId": None, "amount": 100}, "contactId", "REQUIRED"),
        ({"amount": 100, "orderId": "X-1"}, "orderId", "DUPLICATE_ORDER"),
        ({"amount": -1}, "amount", "OUT_OF_RANGE"),
        ({}, "amount", "REQUIRED"),
        ({"amount": 100, "currency": "円"}, "currency", "INVALID_CURRENCY"),
        ({"amount": 100, "purchasedAt": (api.clock.now() + dt.timedelta(days=1)).isoformat()}, "purchasedAt", "OUT_OF_RANGE"),
        ({"items": [{"amount": 100, "quantity": 0}]}, "items.0.quantity", "OUT_OF_RANGE"),
    ]
    for input, field, code in cases:
        payload = await api.mutate("createPurchase", {"contactId": person["id"], **input}, "purchase { id }")
        assert payload["purchase"] is None and [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)], input
    same_ref_elsewhere = await buy(api, person["id"], orderId="X-1", channel="shop", amount=100)
    assert same_ref_elsewhere["userErrors"] == []  # order numbers are unique per channel
    data = await api.graphql(f"query($c: ID!) {{ node(id: $c) {{ ... on Contact {{ {SUMMARY} }} }} }}", {"c": person["id"]})
    assert data["node"]["purchaseSummary"][0]["count"] == 2


async def test_reading_and_recording_purchases_needs_their_permissions(api):
    person = await create_contact(api, familyName="山田")
    assert (await buy(api, person["id"], amount=100, role="sales"))["userErrors"] == []
    refused = (await api.post("mutation { createPurchase(input: {amount: 1}) { userErrors { code } } }", role="marketing")).json()
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    body = (
        await api.post(f'{{ node(id: "{person["id"]}") {{ ... on Contact {{ purchases {{ totalCount }} }} }} }}', role="support")
    ).json()
    assert body["data"]["node"]["purchases"]["totalCount"] == 1


async def test_merging_contacts_and_accounts_moves_their_purchases(api):
    survivor, duplicate = await create_contact(api, familyName="佐藤"), await create_contact(api, familyName="佐藤")
    await buy(api, duplicate["id"], amount=500)
    merged = await api.mutate(
        "mergeContacts", {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]]}, "moves { plugin entity count }"
    )
    assert {"plugin": "core", "entity": "purchase", "count": 1} in merged["moves"]
    kept, gone = await create_account(api, name="縁商事"), await create_account(api, name="縁商事株式会社")
    await buy(api, None, accountId=gone["id"], amount=700)
    await api.mutate("mergeAccounts", {"survivorId": kept["id"], "mergedIds": [gone["id"]]}, "moves { count }")
    data = await api.graphql(
        "query($c: ID!, $a: ID!) { c: node(id: $c) { ... on Contact { purchaseSummary { total } } } "
        "a: node(id: $a) { ... on Account { purchaseSummary { total } } } }",
        {"c": survivor["id"], "a": kept["id"]},
    )
    assert data == {"c": {"purchaseSummary": [{"total": 500}]}, "a": {"purchaseSummary": [{"total": 700}]}}


async def test_purchases_are_exported_with_the_person_and_kept_unlinked_when_they_are_erased(api):
    person = await create_contact(api, familyName="山田")
    bought = await buy(api, person["id"], orderId="E-1", amount=1200)
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": person["id"]}, role="compliance"
    )
    assert [(p["order_id"], p["amount"]) for p in exported["node"]["personalData"]["core"]["purchases"]] == [("E-1", 1200)]
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(person["id"]))))
    assert reports["core"].affected["core_purchase:anonymise"] == 1
    kept = await api.graphql(f'{{ node(id: "{bought["purchase"]["id"]}") {{ ... on Purchase {{ amount contact {{ id }} }} }} }}')
    assert kept["node"] == {"amount": 1200, "contact": None}
    catalog = (await api.graphql("{ personalDataCatalog { entity field erasure } }", role="compliance"))["personalDataCatalog"]
    assert {"entity": "core_purchase", "field": "contact_id", "erasure": "anonymise"} in catalog

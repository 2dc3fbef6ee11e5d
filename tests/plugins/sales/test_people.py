"""Personal data (export and erasure of a person's deal roles and the notes about them) and
merges (contacts and accounts carry their deals, roles and team memberships to the survivor)."""

import base64
import uuid

from sqlalchemy import text

from enishi.plugin import DataSubject
from tests.helpers import count_rows, create_account, create_contact
from tests.plugins.sales.helpers import deal, on_team, pipeline, user_id

ROLES = "contactRoles { role note contact { id } }"


def _raw(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":")[1])


async def _role(api, deal_id, contact_id, role="decision_maker", note=None):
    payload = await api.mutate(
        "setDealContactRole", {"dealId": deal_id, "contactId": contact_id, "role": role, "note": note}, "contactRole { role }"
    )
    assert payload["userErrors"] == [], payload


async def test_export_holds_the_roles_and_notes_and_erasure_unlinks_the_person_but_keeps_the_deal(api):
    created = await pipeline(api)
    person = await create_contact(api, familyName="山田", givenName="花子")
    won = await deal(api, created["id"], name="大型案件", amount=3_000_000)
    await _role(api, won["id"], person["id"], note="山田様は決裁者、予算は来期")
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": person["id"]}, role="compliance"
    )
    roles = exported["node"]["personalData"]["sales"]["deal_roles"]
    assert [(r["deal"], r["role"], r["note"]) for r in roles] == [("大型案件", "decision_maker", "山田様は決裁者、予算は来期")]
    async with api.runtime.read_session() as session:
        stored = (await session.execute(text("SELECT sealed_note FROM sales_deal_contact"))).scalar_one()
    assert "山田".encode() not in stored  # sealed at rest
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(person["id"]))))
    assert reports["sales"].affected == {"sales_deal_contact:delete": 1}
    assert await count_rows(api, "sales_deal_contact") == await count_rows(api, "sales_deal_contact_key") == 0
    kept = await api.graphql(f'{{ node(id: "{won["id"]}") {{ ... on SalesDeal {{ name amount {ROLES} }} }} }}')
    assert kept["node"] == {"name": "大型案件", "amount": 3_000_000, "contactRoles": []}
    async with api.runtime.unit_of_work() as uow:  # a rerun finds nothing left
        again = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(person["id"]))))
    assert again["sales"].affected == {"sales_deal_contact:delete": 0}
    catalog = (await api.graphql("{ personalDataCatalog { entity field } }", role="compliance"))["personalDataCatalog"]
    assert {("sales_deal_contact", f) for f in ("contact_id", "role", "sealed_note")} <= {
        (c["entity"], c["field"]) for c in catalog
    }


async def test_merging_contacts_moves_their_deal_roles(api):
    created = await pipeline(api)
    survivor = await create_contact(api, familyName="佐藤")
    duplicate = await create_contact(api, familyName="佐藤", givenName="T.")
    shared = await deal(api, created["id"], name="共通案件")
    own = await deal(api, created["id"], name="重複側の案件")
    await _role(api, shared["id"], survivor["id"], role="champion")
    await _role(api, shared["id"], duplicate["id"], role="influencer")
    await _role(api, own["id"], duplicate["id"], role="decision_maker", note="重複側のメモ")
    merged = await api.mutate(
        "mergeContacts",
        {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]]},
        "contact { deals { edges { node { name } } } } moves { plugin entity count }",
    )
    assert merged["userErrors"] == []
    assert {"plugin": "sales", "entity": "sales_deal_contact", "count": 1} in merged["moves"]
    assert sorted(e["node"]["name"] for e in merged["contact"]["deals"]["edges"]) == ["共通案件", "重複側の案件"]
    roles = await api.graphql(f'{{ node(id: "{shared["id"]}") {{ ... on SalesDeal {{ {ROLES} }} }} }}')
    assert roles["node"]["contactRoles"] == [{"role": "champion", "note": None, "contact": {"id": survivor["id"]}}]
    moved = await api.graphql(f'{{ node(id: "{own["id"]}") {{ ... on SalesDeal {{ {ROLES} }} }} }}')
    assert moved["node"]["contactRoles"] == [
        {"role": "decision_maker", "note": "重複側のメモ", "contact": {"id": survivor["id"]}}
    ]


async def test_merging_accounts_moves_deals_quotes_contracts_and_team_members(api):
    created = await pipeline(api)
    survivor = await create_account(api, name="株式会社エービーシー")
    duplicate = await create_account(api, name="ABC株式会社")
    await on_team(api, survivor["id"], "sales")
    await on_team(api, duplicate["id"], "sales", team_role="inside_sales")
    await on_team(api, duplicate["id"], "manager", team_role="technical")
    moved_deal = await deal(api, created["id"], duplicate["id"], name="移る案件")
    quote = await api.mutate(
        "createQuote",
        {"title": "見積", "accountId": duplicate["id"], "lines": [{"description": "x", "unitPrice": 1}]},
        "quote { id }",
    )
    contract = await api.mutate(
        "createContract",
        {"name": "保守契約", "accountId": duplicate["id"], "startDate": "2025-01-01", "endDate": "2025-12-31", "value": 1},
        "contract { id }",
    )
    assert contract["userErrors"] == [], contract
    merged = await api.mutate(
        "mergeAccounts",
        {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]]},
        "account { deals { edges { node { id } } } contracts { id } team { role user { id } } } moves { plugin entity count }",
    )
    assert merged["userErrors"] == []
    sales_moves = {(m["entity"], m["count"]) for m in merged["moves"] if m["plugin"] == "sales"}
    assert sales_moves == {("sales_deal", 1), ("sales_quote", 1), ("sales_contract", 1), ("sales_team_member", 1)}
    account = merged["account"]
    assert account["deals"]["edges"] == [{"node": {"id": moved_deal["id"]}}]
    assert account["contracts"] == [{"id": contract["contract"]["id"]}]
    # The rep already on the survivor's team keeps that membership; the manager's moved over.
    assert sorted((m["role"], m["user"]["id"]) for m in account["team"]) == sorted(
        [("account_executive", await user_id(api, "sales")), ("technical", await user_id(api, "manager"))]
    )
    node = await api.graphql(f'{{ node(id: "{quote["quote"]["id"]}") {{ ... on SalesQuote {{ account {{ id }} }} }} }}')
    assert node["node"]["account"]["id"] == survivor["id"]

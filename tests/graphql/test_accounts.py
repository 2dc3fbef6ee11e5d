from tests.helpers import ACCOUNT_FIELDS, count_rows, create_account


async def test_create_account_normalises_input_and_returns_it(api):
    account = await create_account(
        api,
        name="株式会社ＡＢＣ商事",
        nameKana="ｴｰﾋﾞｰｼｰｼｮｳｼﾞ",
        domain="https://www.ABC.co.jp/about",
        employeeCount=1200,
        customFields={"region": "関東", "score": 7},
    )
    assert account["nameKana"] == "エービーシーショウジ"  # half-width katakana widened by NFKC
    assert account["domain"] == "abc.co.jp"
    assert account["customFields"] == {"region": "関東", "score": 7}
    assert account["lifecycleStage"] == "lead"


async def test_bad_account_input_reports_every_field_and_changes_nothing(api):
    payload = await api.mutate(
        "createAccount", {"name": " ", "domain": "not a domain", "employeeCount": -1, "lifecycleStage": "bogus"}, ACCOUNT_FIELDS
    )
    assert payload["account"] is None
    assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {
        ("name", "REQUIRED"),
        ("domain", "INVALID_DOMAIN"),
        ("employeeCount", "OUT_OF_RANGE"),
        ("lifecycleStage", "INVALID_CHOICE"),
    }
    assert await count_rows(api, "core_account") == 0
    assert await count_rows(api, "core_outbox") == 0


async def test_parent_hierarchy_refuses_cycles(api):
    root = await create_account(api, name="Acme Holdings")
    child = await create_account(api, name="Acme Japan", parentId=root["id"])
    grandchild = await create_account(api, name="Acme Osaka", parentId=child["id"])
    payload = await api.mutate("updateAccount", {"id": root["id"], "parentId": grandchild["id"]}, "account { id }")
    assert payload["userErrors"] == [
        {"field": "parentId", "message": "would make the account its own ancestor", "code": "HIERARCHY_CYCLE"}
    ]
    self_parent = await api.mutate("updateAccount", {"id": root["id"], "parentId": root["id"]}, "account { id }")
    assert self_parent["userErrors"][0]["code"] == "HIERARCHY_CYCLE"
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Account { children { name } parent { name } } } }", {"id": child["id"]}
    )
    assert data["node"] == {"children": [{"name": "Acme Osaka"}], "parent": {"name": "Acme Holdings"}}


async def test_update_changes_only_the_fields_sent_and_null_clears(api):
    account = await create_account(api, name="Globex", industry="it", employeeCount=10)
    payload = await api.mutate(
        "updateAccount",
        {"id": account["id"], "employeeCount": None, "name": "Globex Corporation"},
        "account { name industry employeeCount }",
    )
    assert payload["account"] == {"name": "Globex Corporation", "industry": "it", "employeeCount": None}


async def test_soft_delete_hides_restore_brings_back_destroy_removes(api):
    account = await create_account(api, name="Initech")
    deleted = await api.mutate("deleteAccount", {"id": account["id"]}, "account { deletedAt }")
    assert deleted["account"]["deletedAt"] == "2024-06-10T00:00:00+00:00"
    listing = "{ accounts { totalCount } }"
    assert (await api.graphql(listing))["accounts"]["totalCount"] == 0
    assert (await api.graphql("{ accounts(includeDeleted: true) { totalCount } }"))["accounts"]["totalCount"] == 1
    restored = await api.mutate("restoreAccount", {"id": account["id"]}, "account { deletedAt }")
    assert restored["account"]["deletedAt"] is None
    again = await api.mutate("restoreAccount", {"id": account["id"]}, "account { id }")
    assert again["userErrors"][0]["code"] == "NOT_DELETED"
    destroyed = await api.mutate("destroyAccount", {"id": account["id"]}, "destroyedId")
    assert destroyed["destroyedId"] == account["id"]
    assert await count_rows(api, "core_account") == 0


async def test_destroy_refuses_an_account_with_children(api):
    parent = await create_account(api, name="Parent")
    await create_account(api, name="Child", parentId=parent["id"])
    payload = await api.mutate("destroyAccount", {"id": parent["id"]}, "destroyedId")
    assert payload["userErrors"][0]["code"] == "HAS_CHILDREN"
    assert await count_rows(api, "core_account") == 2


async def test_filter_by_custom_fields_and_boolean_combinators(api):
    await create_account(api, name="Alpha", customFields={"region": "関東", "score": 80}, employeeCount=5000)
    await create_account(api, name="Beta", customFields={"region": "関西", "score": 40}, employeeCount=50)
    await create_account(api, name="Gamma", customFields={"region": "関東", "score": 20}, employeeCount=300)
    query = "query($f: AccountFilter) { accounts(filter: $f) { edges { node { name } } } }"

    async def names(f):
        return [e["node"]["name"] for e in (await api.graphql(query, {"f": f}))["accounts"]["edges"]]

    assert await names({"customField": [{"key": "region", "eq": "関東"}]}) == ["Alpha", "Gamma"]
    assert await names({"customField": [{"key": "score", "gt": 30}]}) == ["Alpha", "Beta"]
    assert await names({"or": [{"employeeCount": {"gte": 1000}}, {"name": {"eq": "Beta"}}]}) == ["Alpha", "Beta"]
    assert await names({"not": {"customField": [{"key": "region", "in": ["関東"]}]}}) == ["Beta"]
    assert await names({"and": [{"customField": [{"key": "region", "eq": "関東"}]}, {"employeeCount": {"lt": 1000}}]}) == [
        "Gamma"
    ]


async def test_order_by_several_fields_and_page_through_with_cursors(api):
    for name, employees in [("D", 10), ("A", 30), ("C", 10), ("B", 30), ("E", None)]:
        await create_account(api, name=name, employeeCount=employees)
    query = """query($after: String, $before: String, $first: Int, $last: Int) {
      accounts(orderBy: [{field: EMPLOYEE_COUNT, direction: DESC}, {field: NAME}], first: $first, after: $after,
               last: $last, before: $before) {
        totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } }"""
    first = (await api.graphql(query, {"first": 2}))["accounts"]
    assert [e["node"]["name"] for e in first["edges"]] == ["A", "B"]
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    second = (await api.graphql(query, {"first": 2, "after": first["pageInfo"]["endCursor"]}))["accounts"]
    assert [e["node"]["name"] for e in second["edges"]] == ["C", "D"]
    third = (await api.graphql(query, {"first": 2, "after": second["pageInfo"]["endCursor"]}))["accounts"]
    assert [e["node"]["name"] for e in third["edges"]] == ["E"] and not third["pageInfo"]["hasNextPage"]
    back = (await api.graphql(query, {"last": 2, "before": third["pageInfo"]["startCursor"]}))["accounts"]
    assert [e["node"]["name"] for e in back["edges"]] == ["C", "D"] and back["pageInfo"]["hasPreviousPage"]


async def test_account_duplicates_ignore_legal_forms_and_width(api):
    a = await create_account(api, name="株式会社ＡＢＣ")
    b = await create_account(api, name="ABC Inc.")
    c = await create_account(api, name="ABC（株）")
    await create_account(api, name="ABCD株式会社")
    d = await create_account(api, name="Other", domain="example.co.jp")
    e = await create_account(api, name="Another", domain="www.example.co.jp")
    groups = (await api.graphql("{ accountDuplicates { reason ids } }"))["accountDuplicates"]
    as_sets = {(g["reason"], frozenset(g["ids"])) for g in groups}
    assert ("company_name", frozenset({a["id"], b["id"], c["id"]})) in as_sets
    assert ("domain", frozenset({d["id"], e["id"]})) in as_sets
    assert len(groups) == 2

import base64

from tests.helpers import create_account, create_contact


async def test_node_and_nodes_resolve_any_type_by_global_id(api):
    account = await create_account(api, name="Acme")
    contact = await create_contact(api, familyName="田中")
    data = await api.graphql(
        """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }""", {"ids": [contact["id"], account["id"]]}
    )
    assert data["nodes"] == [{"__typename": "Contact", "id": contact["id"]}, {"__typename": "Account", "id": account["id"]}]
    assert base64.b64decode(account["id"]).decode().startswith("Account:")


async def test_unknown_and_malformed_ids_give_clean_answers(api):
    missing = base64.b64encode(b"Contact:00000000-0000-4000-8000-000000000000").decode()
    assert (await api.graphql("query($id: ID!) { node(id: $id) { id } }", {"id": missing}))["node"] is None
    garbage = base64.b64encode(b"Contact:not-a-uuid").decode()
    assert (await api.graphql("query($id: ID!) { node(id: $id) { id } }", {"id": garbage}))["node"] is None
    errors = await api.errors('{ node(id: "%%%") { id } }')
    assert "Internal" not in errors[0]["message"]
    no_such_type = base64.b64encode(b"Nothing:1").decode()
    for query in ("query($id: ID!) { node(id: $id) { id } }", "query($id: ID!) { nodes(ids: [$id]) { id } }"):
        errors = await api.errors(query, {"id": no_such_type})
        assert [(e["extensions"]["code"], e["message"]) for e in errors] == [("INVALID_ID", "not a valid id")]


async def test_page_size_is_capped_and_cursors_are_checked(api):
    errors = await api.errors("{ contacts(first: 101) { totalCount } }")
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT"
    errors = await api.errors('{ contacts(first: 1, after: "bm90IGEgY3Vyc29y") { totalCount } }')
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT"
    errors = await api.errors("{ contacts(first: 1, last: 1) { totalCount } }")
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_default_page_and_nodes_shortcut(api):
    # Listed by the reading's first two kana (五十音): ア… before イ… before ウ…
    for i, first in reversed(list(enumerate("アイウエオカキクケコサシスセソタチツテトナニヌネノ"))):
        await create_contact(api, familyName=f"Person {i:02d}", familyNameKana=f"{first}ラ")
    data = await api.graphql("{ contacts { totalCount nodes { familyName } pageInfo { hasNextPage } } }")
    assert data["contacts"]["totalCount"] == 25
    assert len(data["contacts"]["nodes"]) == 20 and data["contacts"]["pageInfo"]["hasNextPage"]
    assert [node["familyName"] for node in data["contacts"]["nodes"]] == [f"Person {i:02d}" for i in range(20)]

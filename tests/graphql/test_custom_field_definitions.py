"""Typed custom fields over GraphQL: an admin defines them per entity (typed inputs, userErrors
with field and code), every reader lists them, and writes of `customFields` are checked and
coerced against them — full-width digits and 和暦 dates normalised, `"abc"` refused for a number
— while a key without a definition keeps working as before."""

from tests.helpers import create_account, create_contact

DEFINITION = "definition { id entity key type labelJa labelEn options required position } userErrors { field code }"
CONTACT = "contact { id customFields } userErrors { field code }"


async def define(api, role: str = "admin", **input) -> dict:
    return await api.mutate("createCustomFieldDefinition", {"labelJa": input.get("key", ""), **input}, DEFINITION, role=role)


def codes(payload) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def contact_fields(api) -> None:
    for key, kind, options in (
        ("points", "NUMBER", None),
        ("visits", "INTEGER", None),
        ("契約日", "DATE", None),
        ("dm_ok", "BOOLEAN", None),
        ("ランク", "CHOICE", ["ゴールド", "シルバー"]),
        ("memo_no", "TEXT", None),
    ):
        made = await define(api, entity="CONTACT", key=key, type=kind, labelEn=key, options=options)
        assert made["userErrors"] == [], made


async def test_an_admin_defines_fields_and_every_reader_lists_them(api):
    made = await define(api, entity="CONTACT", key="ランク", type="CHOICE", labelJa="ランク", labelEn="Rank", options=["Ａ", "B"])
    assert made["definition"]["options"] == ["A", "B"] and made["definition"]["type"] == "CHOICE"
    await define(api, entity="ACCOUNT", key="業種コード", type="INTEGER", required=True)
    assert codes(await define(api, entity="CONTACT", key="ランク", type="TEXT")) == [("key", "DUPLICATE")]
    assert codes(await define(api, entity="CONTACT", key="a b", type="TEXT")) == [("key", "INVALID_KEY")]
    assert codes(await define(api, entity="CONTACT", key="c", type="CHOICE")) == [("options", "REQUIRED")]
    assert codes(await define(api, entity="CONTACT", key="d", type="NUMBER", options=["x"])) == [("options", "INVALID_OPTIONS")]
    assert codes(await define(api, entity="CONTACT", key="e", type="TEXT", labelJa=" ")) == [("labelJa", "REQUIRED")]
    create = 'createCustomFieldDefinition(input: {entity: CONTACT, key: "x", type: TEXT, labelJa: "x"})'
    denied = await api.post(f"mutation {{ {create} {{ userErrors {{ code }} }} }}", role="manager")
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    listed = await api.graphql("{ customFieldDefinitions { entity key type labelEn required } }", role="support")
    assert listed["customFieldDefinitions"] == [
        {"entity": "CONTACT", "key": "ランク", "type": "CHOICE", "labelEn": "Rank", "required": False},
        {"entity": "ACCOUNT", "key": "業種コード", "type": "INTEGER", "labelEn": None, "required": True},
    ]
    changed = await api.mutate(
        "updateCustomFieldDefinition", {"id": made["definition"]["id"], "labelEn": "Tier", "options": ["A", "B", "C"]}, DEFINITION
    )
    assert (changed["definition"]["labelEn"], changed["definition"]["options"]) == ("Tier", ["A", "B", "C"])
    deleted = await api.mutate("deleteCustomFieldDefinition", {"id": made["definition"]["id"]}, "deletedId")
    assert deleted == {"deletedId": made["definition"]["id"], "userErrors": []}
    only = await api.graphql("{ customFieldDefinitions(entity: CONTACT) { key } }")
    assert only["customFieldDefinitions"] == []


async def test_writes_are_coerced_to_the_definitions_and_refused_with_typed_errors(api):
    await contact_fields(api)
    written = {
        "points": "１，２００",
        "visits": "３",
        "契約日": "令和6年4月1日",
        "dm_ok": "はい",
        "ランク": "ゴールド",
        "memo_no": 120,
        "自由項目": {"any": ["json"]},  # no definition: kept as given, as before
    }
    made = await api.mutate("createContact", {"familyName": "山田", "customFields": written}, CONTACT)
    assert made["userErrors"] == []
    assert made["contact"]["customFields"] == {
        "points": 1200,
        "visits": 3,
        "契約日": "2024-04-01",
        "dm_ok": True,
        "ランク": "ゴールド",
        "memo_no": "120",
        "自由項目": {"any": ["json"]},
    }
    wrong = {"points": "abc", "visits": "1.5", "契約日": "4月1日ごろ", "dm_ok": "たぶん", "ランク": "ブロンズ"}
    refused = await api.mutate("updateContact", {"id": made["contact"]["id"], "customFields": wrong}, CONTACT)
    assert sorted(codes(refused)) == [
        ("customFields.dm_ok", "INVALID_BOOLEAN"),
        ("customFields.points", "INVALID_NUMBER"),
        ("customFields.visits", "INVALID_INTEGER"),
        ("customFields.ランク", "INVALID_CHOICE"),
        ("customFields.契約日", "INVALID_DATE"),
    ]
    unchanged = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { customFields } } }", {"id": made["contact"]["id"]}
    )
    assert unchanged["node"]["customFields"]["points"] == 1200  # nothing written

    account = await api.mutate("createAccount", {"name": "A社", "customFields": {"score": "7"}}, "userErrors { code }")
    assert account["userErrors"] == []  # accounts have no definitions yet: untyped as before
    await define(api, entity="ACCOUNT", key="score", type="INTEGER", required=True)
    missing = await api.mutate("createAccount", {"name": "B社"}, "userErrors { field code }")
    assert codes(missing) == [("customFields.score", "REQUIRED")]
    typed = await create_account(api, name="C社", customFields={"score": "８"})
    assert typed["customFields"] == {"score": 8}


async def test_a_key_without_a_definition_and_sensitive_fields_keep_working(api):
    person = await create_contact(api, familyName="佐藤", customFields={"note": "自由記述", "count": 3, "病歴": "糖尿病"})
    await define(api, entity="CONTACT", key="count", type="INTEGER")
    await define(api, entity="CONTACT", key="病歴", type="TEXT")
    marked = await api.mutate(
        "markFieldSensitive", {"entity": "contact", "field": "custom_fields.病歴"}, "userErrors { code }", role="compliance"
    )
    assert marked["userErrors"] == [], marked
    # Sales cannot see the sensitive field and replaces the custom fields: it is kept, the rest coerced.
    edited = await api.mutate(
        "updateContact", {"id": person["id"], "customFields": {"note": "変更", "count": "４"}}, CONTACT, role="sales"
    )
    assert codes(edited) == [] and edited["contact"]["customFields"] == {"note": "変更", "count": 4}
    seen = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { customFields } } }", {"id": person["id"]}, role="compliance"
    )
    assert seen["node"]["customFields"] == {"note": "変更", "count": 4, "病歴": "糖尿病"}
    refused = await api.mutate("updateContact", {"id": person["id"], "customFields": {"病歴": "喘息"}}, CONTACT)
    assert codes(refused) == [("customFields", "SENSITIVE_DATA_BASIS_REQUIRED")]  # the privacy plugin's guard still holds

from sqlalchemy import text

from enishi import DataSubject
from enishi.graphql.relay import parse_global_id
from tests.helpers import CONTACT_FIELDS, count_rows, create_account, create_contact, log_activity

YAMADA = {"familyName": "山田", "givenName": "太郎", "familyNameKana": "ヤマダ", "givenNameKana": "タロウ"}


async def test_contact_with_full_width_input_is_stored_normalised(api):
    account = await create_account(api, name="株式会社ＡＢＣ")
    contact = await create_contact(
        api,
        **YAMADA,
        emails=[{"address": "Taro@ABC.co.jp"}, {"address": "ｔａｒｏ＠ｇｍａｉｌ．ｃｏｍ", "primary": True}],
        phones=[{"number": "０３－１２３４－５６７８"}, {"number": "090 1234 5678", "label": "mobile"}],
        accounts=[{"accountId": account["id"]}],
    )
    assert contact["displayName"] == "山田 太郎"
    assert contact["primaryEmail"] == "taro@gmail.com"
    assert contact["emails"] == [
        {"address": "Taro@ABC.co.jp", "isPrimary": False},
        {"address": "taro@gmail.com", "isPrimary": True},
    ]
    assert contact["phones"] == [{"e164": "+81312345678", "isPrimary": True}, {"e164": "+819012345678", "isPrimary": False}]
    assert contact["accounts"] == [{"isPrimary": True, "account": {"id": account["id"], "name": "株式会社ＡＢＣ"}}]


async def test_international_contacts_are_first_class(api):
    contact = await create_contact(
        api,
        familyName="Smith",
        givenName="Emma",
        phones=[{"number": "+44 20 7946 0958"}],
        emails=[{"address": "emma@example.co.uk"}],
    )
    assert contact["displayName"] == "Emma Smith"
    assert contact["phones"][0]["e164"] == "+442079460958"


async def test_invalid_contact_input_is_rejected_field_by_field(api):
    payload = await api.mutate(
        "createContact",
        {
            "familyName": "山田",
            "emails": [{"address": "no-at-sign"}],
            "phones": [{"number": "12"}],
            "accounts": [{"accountId": "bm90IGFuIGlk"}],
        },
        "contact { id }",
    )
    assert payload["contact"] is None
    assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {("accounts.0.accountId", "INVALID_ID")}
    payload = await api.mutate(
        "createContact",
        {"familyName": "山田", "emails": [{"address": "no-at-sign"}], "phones": [{"number": "12"}]},
        "contact { id }",
    )
    assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {
        ("emails.0.address", "INVALID_EMAIL"),
        ("phones.0.number", "INVALID_PHONE"),
    }
    empty = await api.mutate("createContact", {}, "contact { id }")
    assert empty["userErrors"][0]["code"] == "REQUIRED"
    assert await count_rows(api, "core_contact") == 0


async def test_search_finds_japanese_names_in_any_script_and_width(api):
    account = await create_account(api, name="株式会社ＡＢＣ", nameKana="エービーシー")
    yamada = await create_contact(api, **YAMADA, emails=[{"address": "Taro@ABC.co.jp"}], phones=[{"number": "03-1234-5678"}])
    await create_contact(
        api,
        familyName="鈴木",
        givenName="花子",
        familyNameKana="スズキ",
        givenNameKana="ハナコ",
        accounts=[{"accountId": account["id"]}],
    )
    await create_contact(api, familyName="Smith", givenName="Emma", emails=[{"address": "emma@example.com"}])
    query = "query($q: String!) { contacts(filter: {search: $q}) { edges { node { familyName } } } }"

    async def found(q):
        return sorted(e["node"]["familyName"] for e in (await api.graphql(query, {"q": q}))["contacts"]["edges"])

    for spelling in (
        "山田",
        "ヤマダ",
        "やまだ",
        "ﾔﾏﾀﾞ",
        "山田太郎",
        "山田 太郎",
        "やまだ たろう",
        "taro@abc",
        "ＴＡＲＯ",
        "0312345678",
        "03-1234",
    ):
        assert await found(spelling) == ["山田"], spelling
    for spelling in ("ＡＢＣ", "abc"):
        assert await found(spelling) == ["山田", "鈴木"], spelling  # 山田 by email domain, 鈴木 by company name
    assert await found("えーびーしー") == ["鈴木"]  # the company's kana
    assert await found("emma smith") == ["Smith"]
    assert await found("%") == [] and await found("_") == []
    assert yamada["id"]


async def test_update_replaces_lists_and_keeps_one_primary(api):
    contact = await create_contact(api, **YAMADA, emails=[{"address": "a@example.jp"}, {"address": "b@example.jp"}])
    payload = await api.mutate(
        "updateContact",
        {"id": contact["id"], "emails": [{"address": "c@example.jp"}], "jobTitle": "部長"},
        "contact { emails { address isPrimary } jobTitle familyName }",
    )
    assert payload["contact"] == {
        "emails": [{"address": "c@example.jp", "isPrimary": True}],
        "jobTitle": "部長",
        "familyName": "山田",
    }
    search = await api.graphql('{ contacts(filter: {search: "a@example"}) { totalCount } }')
    assert search["contacts"]["totalCount"] == 0


async def test_update_cannot_leave_a_contact_without_name_email_or_phone(api):
    contact = await create_contact(api, familyName="山田", emails=[{"address": "a@example.jp"}])
    payload = await api.mutate("updateContact", {"id": contact["id"], "familyName": None, "emails": []}, "contact { id }")
    assert payload["userErrors"][0]["code"] == "REQUIRED"
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { familyName primaryEmail } } }", {"id": contact["id"]}
    )
    assert data["node"] == {"familyName": "山田", "primaryEmail": "a@example.jp"}


async def test_contact_duplicates_by_email_phone_and_name(api):
    a = await create_contact(api, **YAMADA, emails=[{"address": "Taro@ABC.co.jp"}])
    b = await create_contact(api, familyName="山田", givenName="太郎", emails=[{"address": "ｔａｒｏ＠ａｂｃ．ｃｏ．ｊｐ"}])
    c = await create_contact(api, familyName="Sato", phones=[{"number": "03-1111-2222"}])
    d = await create_contact(api, familyName="Kato", phones=[{"number": "+81 3 1111 2222"}])
    await create_contact(api, familyName="Unique", emails=[{"address": "unique@example.jp"}])
    groups = (await api.graphql("{ contactDuplicates { reason ids } }"))["contactDuplicates"]
    assert {(g["reason"], frozenset(g["ids"])) for g in groups} == {
        ("email", frozenset({a["id"], b["id"]})),
        ("phone", frozenset({c["id"], d["id"]})),
    }


POSSIBLE_DUPLICATES = "possibleDuplicates { matchedOn contact { id } }"


async def _saved(api, mutation: str, input: dict) -> dict:
    payload = await api.mutate(mutation, input, f"contact {{ id }} userErrors {{ code }} {POSSIBLE_DUPLICATES}")
    assert payload["userErrors"] == [] and payload["contact"] is not None, payload
    return payload


def _offered(payload: dict) -> list[tuple[str, str]]:
    return [(d["contact"]["id"], d["matchedOn"]) for d in payload["possibleDuplicates"]]


async def test_create_contact_is_saved_and_names_possible_duplicates_by_email_in_any_case_or_width(api):
    first = await create_contact(api, **YAMADA, emails=[{"address": "taro@abc.co.jp"}])
    api.clock.advance(minutes=1)
    upper = await _saved(api, "createContact", {"familyName": "山田", "emails": [{"address": "TARO@abc.co.jp"}]})
    assert _offered(upper) == [(first["id"], "EMAIL")]
    wide = await _saved(api, "createContact", {"familyName": "山田", "emails": [{"address": "ｔａｒｏ＠ａｂｃ．ｃｏ．ｊｐ"}]})
    assert _offered(wide) == [(first["id"], "EMAIL"), (upper["contact"]["id"], "EMAIL")]  # oldest first
    assert await count_rows(api, "core_contact") == 3  # offered, never refused
    alone = await _saved(api, "createContact", {"familyName": "鈴木", "emails": [{"address": "suzuki@abc.co.jp"}]})
    assert alone["possibleDuplicates"] == []
    nothing_to_match = await _saved(api, "createContact", {"familyName": "山田"})
    assert nothing_to_match["possibleDuplicates"] == []  # the same name is not the rule


async def test_a_shared_phone_is_a_weaker_reason_and_each_contact_is_offered_once(api):
    by_phone = await create_contact(api, familyName="佐藤", phones=[{"number": "03-1234-5678"}])
    by_both = await create_contact(
        api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}], phones=[{"number": "03-1234-5678"}]
    )
    payload = await _saved(
        api,
        "createContact",
        {"familyName": "山田", "emails": [{"address": "Taro@ABC.co.jp"}], "phones": [{"number": "+81 3 1234 5678"}]},
    )
    assert _offered(payload) == [(by_both["id"], "EMAIL"), (by_phone["id"], "PHONE")]


async def test_deleted_merged_and_erased_contacts_are_not_offered(api):
    email = [{"address": "taro@abc.co.jp"}]
    deleted = await create_contact(api, familyName="削除", emails=email)
    await api.mutate("deleteContact", {"id": deleted["id"]}, "contact { id }")
    erased = await create_contact(api, familyName="消去", emails=email)
    async with api.runtime.unit_of_work() as uow:
        await api.runtime.plugins.call(
            "enishi_subject_erase", uow=uow, subject=DataSubject(parse_global_id(erased["id"], "Contact", "id"))
        )
    survivor = await create_contact(api, familyName="山田", emails=email)
    merged = await create_contact(api, familyName="山田", emails=email)
    await api.mutate("mergeContacts", {"survivorId": survivor["id"], "mergedIds": [merged["id"]]}, "contact { id }")
    payload = await _saved(api, "createContact", {"familyName": "山田", "emails": [{"address": "TARO@abc.co.jp"}]})
    assert _offered(payload) == [(survivor["id"], "EMAIL")]
    # A manager sees deleted contacts elsewhere, but none is offered to merge with.
    as_manager = await api.mutate("createContact", {"familyName": "山田", "emails": email}, POSSIBLE_DUPLICATES, role="manager")
    assert {d["contact"]["id"] for d in as_manager["possibleDuplicates"]} == {survivor["id"], payload["contact"]["id"]}


async def test_update_contact_checks_the_emails_and_phones_it_sends(api):
    first = await create_contact(api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}])
    other = await create_contact(api, familyName="鈴木", emails=[{"address": "suzuki@abc.co.jp"}])
    changed = await _saved(api, "updateContact", {"id": other["id"], "emails": [{"address": "Taro@abc.co.jp"}]})
    assert _offered(changed) == [(first["id"], "EMAIL")]  # and never the contact itself
    renamed = await _saved(api, "updateContact", {"id": other["id"], "jobTitle": "部長"})
    assert renamed["possibleDuplicates"] == []  # nothing sent that could make it a duplicate
    refused = await api.mutate(
        "updateContact", {"id": other["id"], "emails": [{"address": "no-at-sign"}]}, f"contact {{ id }} {POSSIBLE_DUPLICATES}"
    )
    assert (refused["contact"], refused["possibleDuplicates"], refused["userErrors"][0]["code"]) == (None, [], "INVALID_EMAIL")


async def test_a_possible_duplicate_is_the_contact_as_a_reader_sees_it(api):
    first = await create_contact(api, **YAMADA, emails=[{"address": "taro@abc.co.jp"}], jobTitle="部長")
    payload = await api.mutate(
        "createContact",
        {"familyName": "山田", "emails": [{"address": "TARO@abc.co.jp"}]},
        "possibleDuplicates { contact { " + CONTACT_FIELDS.removeprefix("contact { ").removesuffix(" }") + " } }",
        role="sales",
    )
    assert payload["possibleDuplicates"][0]["contact"] == {**first, "emails": [{"address": "taro@abc.co.jp", "isPrimary": True}]}


async def test_merge_dry_run_reports_and_changes_nothing_then_merge_moves_everything(api):
    acme = await create_account(api, name="Acme")
    globex = await create_account(api, name="Globex")
    survivor = await create_contact(
        api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}], accounts=[{"accountId": acme["id"]}]
    )
    duplicate = await create_contact(
        api,
        familyName="山田",
        givenName="太郎",
        jobTitle="部長",
        emails=[{"address": "TARO@abc.co.jp"}, {"address": "yamada@home.jp"}],
        accounts=[{"accountId": acme["id"]}, {"accountId": globex["id"]}],
    )
    await log_activity(api, contactIds=[duplicate["id"]], summary="shared call")
    await log_activity(api, contactIds=[survivor["id"], duplicate["id"]], summary="meeting with both")
    await api.mutate("createTask", {"title": "follow up", "contactId": duplicate["id"]}, "task { id }")
    selection = (
        "contact { id givenName jobTitle emails { address } accounts { account { name } } timeline { totalCount } "
        "tasks { title } } moves { plugin entity count } dryRun"
    )

    dry = await api.mutate(
        "mergeContacts", {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]], "dryRun": True}, selection
    )
    assert dry["dryRun"] is True
    assert {(m["entity"], m["count"]) for m in dry["moves"] if m["plugin"] == "core"} == {
        ("activity_target", 1),
        ("contact_account", 1),
        ("contact_email", 1),
        ("contact_phone", 0),
        ("task", 1),
        ("purchase", 0),
    }
    assert dry["contact"]["givenName"] is None and dry["contact"]["timeline"]["totalCount"] == 1
    assert await count_rows(api, "core_outbox WHERE type = 'contact.merged'") == 0

    merged = await api.mutate("mergeContacts", {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]]}, selection)
    assert merged["userErrors"] == []
    contact = merged["contact"]
    assert contact["givenName"] == "太郎" and contact["jobTitle"] == "部長"  # blanks filled from the merged record
    assert sorted(e["address"] for e in contact["emails"]) == ["taro@abc.co.jp", "yamada@home.jp"]
    assert sorted(a["account"]["name"] for a in contact["accounts"]) == ["Acme", "Globex"]
    assert contact["timeline"]["totalCount"] == 2
    assert contact["tasks"] == [{"title": "follow up"}]
    gone = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { deletedAt mergedInto { id } } } }", {"id": duplicate["id"]}
    )
    assert gone["node"]["mergedInto"] == {"id": survivor["id"]}
    again = await api.mutate("mergeContacts", {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]]}, "contact { id }")
    assert again["userErrors"][0]["code"] == "ALREADY_MERGED"


async def test_merge_accounts_moves_contacts_children_and_timeline(api):
    survivor = await create_account(api, name="株式会社ABC")
    duplicate = await create_account(api, name="ABC Inc.", domain="abc.example")
    await create_account(api, name="ABC Osaka", parentId=duplicate["id"])
    contact = await create_contact(api, familyName="田中", accounts=[{"accountId": duplicate["id"]}])
    await log_activity(api, accountIds=[duplicate["id"]], summary="account call")
    await log_activity(api, contactIds=[contact["id"]], summary="contact call")
    payload = await api.mutate(
        "mergeAccounts",
        {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]]},
        "account { domain children { name } contacts { totalCount } timeline { totalCount } }",
    )
    assert payload["account"] == {
        "domain": "abc.example",
        "children": [{"name": "ABC Osaka"}],
        "contacts": {"totalCount": 1},
        "timeline": {"totalCount": 2},
    }


async def test_merge_rejects_bad_requests(api):
    a = await create_contact(api, familyName="A")
    account = await create_account(api, name="X")
    same = await api.mutate("mergeContacts", {"survivorId": a["id"], "mergedIds": [a["id"]]}, "contact { id }")
    assert same["userErrors"][0]["code"] == "SURVIVOR_IN_MERGED"
    wrong_type = await api.mutate("mergeContacts", {"survivorId": a["id"], "mergedIds": [account["id"]]}, "contact { id }")
    assert wrong_type["userErrors"] == [
        {"field": "mergedIds.0", "message": "must be the id of a Contact", "code": "WRONG_ID_TYPE"}
    ]


async def test_soft_deleted_contact_leaves_lists_but_not_the_record(api):
    contact = await create_contact(api, **YAMADA)
    await api.mutate("deleteContact", {"id": contact["id"]}, "contact { id }")
    assert (await api.graphql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0
    sales_view = await api.graphql("query($id: ID!) { node(id: $id) { id } }", {"id": contact["id"]}, role="sales")
    assert sales_view["node"] is None  # sales cannot see deleted records
    manager_view = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { deletedAt } } }", {"id": contact["id"]}, role="manager"
    )
    assert manager_view["node"]["deletedAt"] is not None
    restored = await api.mutate("restoreContact", {"id": contact["id"]}, "contact { deletedAt }")
    assert restored["contact"]["deletedAt"] is None


async def test_names_emails_and_phones_are_encrypted_at_rest_yet_found_and_shown(api):
    from sqlalchemy import text

    contact = await create_contact(
        api,
        **YAMADA,
        emails=[{"address": "Taro@ABC.co.jp"}],
        phones=[{"number": "03-1234-5678"}],
        jobTitle="営業部長",
        department="ＩＴ推進室",
    )
    await create_contact(api, familyName="佐藤", jobTitle="部長")
    cells = []
    async with api.runtime.read_session() as session:
        for table in (
            "core_contact",
            "core_contact_email",
            "core_contact_phone",
            "core_contact_search_token",
            "core_subject_key",
        ):
            for row in (await session.execute(text(f"SELECT * FROM {table}"))).all():
                cells += [cell.decode("utf-8", "replace") if isinstance(cell, bytes) else str(cell) for cell in row]
    stored = " ".join(cells).lower()
    for spelling in ("山田", "太郎", "ヤマダ", "タロウ", "taro@abc.co.jp", "taro", "81312345678", "0312345678", "営業", "推進"):
        assert spelling.lower() not in stored, spelling

    node = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { displayName familyNameKana emails { address } phones { e164 } } } }",
        {"id": contact["id"]},
    )
    assert node["node"] == {
        "displayName": "山田 太郎",
        "familyNameKana": "ヤマダ",
        "emails": [{"address": "Taro@ABC.co.jp"}],
        "phones": [{"e164": "+81312345678"}],
    }
    by_email = await api.graphql('{ contacts(filter: {email: {eq: "ＴＡＲＯ@abc.co.jp"}}) { nodes { familyName } } }')
    assert by_email["contacts"]["nodes"] == [{"familyName": "山田"}]
    without = await api.graphql("{ contacts(filter: {email: {isNull: true}}) { nodes { familyName } } }")
    assert without["contacts"]["nodes"] == [{"familyName": "佐藤"}]
    errors = await api.errors('{ contacts(filter: {email: {contains: "taro"}}) { totalCount } }')
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT" and "search" in errors[0]["message"]
    # Job titles and departments: whole values through their blind indexes, any width or case.
    by_department = await api.graphql(
        '{ contacts(filter: {department: {in: ["it推進室", "総務部"]}}) { nodes { familyName department } } }'
    )
    assert by_department["contacts"]["nodes"] == [{"familyName": "山田", "department": "ＩＴ推進室"}]
    by_title = await api.graphql('{ contacts(filter: {jobTitle: {eq: "部長"}}) { nodes { familyName } } }')
    assert by_title["contacts"]["nodes"] == [{"familyName": "佐藤"}]  # a whole value: 営業部長 is another title
    no_department = await api.graphql("{ contacts(filter: {department: {isNull: true}}) { nodes { familyName } } }")
    assert no_department["contacts"]["nodes"] == [{"familyName": "佐藤"}]
    errors = await api.errors('{ contacts(filter: {jobTitle: {startsWith: "営業"}}) { totalCount } }')
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT" and "encrypted at rest" in errors[0]["message"]


async def test_custom_fields_are_encrypted_at_rest_yet_filtered_by_whole_value_part_and_presence(api):
    from sqlalchemy import text

    yamada = await create_contact(api, **YAMADA, customFields={"紹介者": "佐藤 花子 様", "地域": "関東", "rank": 3, "vip": True})
    await create_contact(api, familyName="鈴木", customFields={"地域": "関西", "rank": 3.0, "tags": ["a"]})
    await create_contact(api, familyName="Smith", customFields={"region": "EMEA", "note": "Met at ＥＸＰＯ Tokyo"})
    await create_contact(api, familyName="田中")
    cells = []
    async with api.runtime.read_session() as session:
        for table in ("core_contact", "core_contact_search_token"):
            for row in (await session.execute(text(f"SELECT * FROM {table}"))).all():
                cells += [cell.decode("utf-8", "replace") if isinstance(cell, bytes) else str(cell) for cell in row]
    stored = " ".join(cells).lower()
    for spelling in ("紹介者", "佐藤", "花子", "関東", "関西", "emea", "expo", "tokyo", "vip", "rank"):
        assert spelling not in stored, spelling

    query = "query($f: ContactFilter) { contacts(filter: $f) { nodes { familyName } } }"

    async def names(*custom_field, f=None):
        found = await api.graphql(query, {"f": f or {"customField": list(custom_field)}})
        return sorted(n["familyName"] for n in found["contacts"]["nodes"])

    assert await names({"key": "地域", "eq": "関東"}) == ["山田"]
    assert await names({"key": "地域", "in": ["関東", "関西"]}) == ["山田", "鈴木"]
    assert await names({"key": "region", "eq": "ｅｍｅａ"}) == ["Smith"]  # any width or case, as job titles
    assert await names({"key": "rank", "eq": 3}) == ["山田", "鈴木"]  # 3 and 3.0 are one number
    assert await names({"key": "rank", "eq": "3"}) == []  # a string is not the number
    assert await names({"key": "vip", "eq": True}) == ["山田"] and await names({"key": "vip", "eq": False}) == []
    assert await names({"key": "紹介者", "contains": "佐藤"}) == ["山田"]
    assert await names({"key": "note", "contains": "expo tokyo"}) == ["Smith"]
    assert await names({"key": "note", "contains": "osaka"}) == []
    assert await names({"key": "note", "contains": " "}) == ["Smith"]  # blank: whoever has the key
    assert await names({"key": "地域", "contains": "関東"}) == ["山田"]  # the value's key matters: 関東 is not under 紹介者
    assert await names({"key": "tags", "exists": True}) == ["鈴木"]
    assert await names({"key": "地域", "exists": False}) == ["Smith", "田中"]
    assert await names({"key": "地域", "eq": "関東"}, {"key": "rank", "eq": 3}) == ["山田"]
    assert await names(f={"not": {"customField": [{"key": "地域", "eq": "関東"}]}}) == ["Smith", "田中", "鈴木"]
    for refused in ({"key": "rank", "gt": 1}, {"key": "tags", "eq": ["a"]}):
        errors = await api.errors(query, {"f": {"customField": [refused]}})
        assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT"

    # Changing or clearing the fields changes what finds the person; the values read back intact.
    await api.mutate(
        "updateContact", {"id": yamada["id"], "customFields": {"地域": "九州", "rank": 3, "vip": True}}, "contact { id }"
    )
    assert await names({"key": "地域", "eq": "関東"}) == [] and await names({"key": "地域", "eq": "九州"}) == ["山田"]
    assert await names({"key": "紹介者", "exists": True}) == []
    node = await api.graphql("query($id: ID!) { node(id: $id) { ... on Contact { customFields } } }", {"id": yamada["id"]})
    assert node["node"]["customFields"] == {"地域": "九州", "rank": 3, "vip": True}
    await api.mutate("updateContact", {"id": yamada["id"], "customFields": None}, "contact { id }")
    assert await names({"key": "rank", "eq": 3}) == ["鈴木"]
    node = await api.graphql("query($id: ID!) { node(id: $id) { ... on Contact { customFields } } }", {"id": yamada["id"]})
    assert node["node"]["customFields"] == {}


async def test_postal_code_and_address_are_sealed_set_exported_and_erased(api):
    created = await api.mutate(
        "createContact",
        {"familyName": "山田", "postalCode": "100-0001", "address": "東京都千代田区千代田1-1"},
        "contact { id postalCode address }",
    )
    contact = created["contact"]
    assert (contact["postalCode"], contact["address"]) == ("100-0001", "東京都千代田区千代田1-1")
    updated = await api.mutate("updateContact", {"id": contact["id"], "address": "大阪府大阪市北区1-1"}, "contact { address }")
    assert updated["contact"]["address"] == "大阪府大阪市北区1-1"
    contact_id = parse_global_id(contact["id"], "Contact", "id")
    async with api.runtime.read_session() as session:
        sealed = (await session.execute(text("SELECT sealed_address FROM core_contact"))).scalar_one()
    assert "大阪".encode() not in bytes(sealed)
    async with api.runtime.unit_of_work() as uow:
        collected = dict(await api.runtime.plugins.call("enishi_subject_collect", uow=uow, subject=DataSubject(contact_id)))
    assert (collected["core"]["contact"]["postal_code"], collected["core"]["contact"]["address"]) == (
        "100-0001",
        "大阪府大阪市北区1-1",
    )
    async with api.runtime.unit_of_work() as uow:
        await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(contact_id))
    async with api.runtime.read_session() as session:
        assert (await session.execute(text("SELECT sealed_postal_code, sealed_address FROM core_contact"))).one() == (None, None)

"""Sensitive personal information (要配慮個人情報) over GraphQL: a contact's custom field marked
sensitive can be written only with the person's consent or a recorded legal ground (refused
otherwise, nothing written), and is then out of every place that exists today to select or
hand out people: the `customField` filter (segments), the contacts export, ABM's audience export
and the view of roles without `crm.read_sensitive` (marketing, sales). ABM's scoring reads
accounts' fields only, and accounts cannot be marked."""

import csv
import io
from urllib.parse import urlsplit

from tests.helpers import create_account, create_contact

CONTACT = "contact { id customFields }"


async def mark(api, field, role="compliance", entity="contact"):
    return await api.mutate(
        "markFieldSensitive", {"entity": entity, "field": field}, "sensitiveField { entity field }", role=role
    )


async def found_by_condition(api, key, value) -> int:
    query = "query($f: ContactFilter) { contacts(filter: $f) { totalCount } }"
    return (await api.graphql(query, {"f": {"customField": [{"key": key, "eq": value}]}}))["contacts"]["totalCount"]


async def fields_as(api, contact_id, role) -> dict:
    query = f'{{ node(id: "{contact_id}") {{ ... on Contact {{ customFields }} }} }}'
    return (await api.graphql(query, role=role))["node"]["customFields"]


async def update(api, contact_id, custom_fields, role="admin"):
    return await api.mutate("updateContact", {"id": contact_id, "customFields": custom_fields}, CONTACT, role=role)


def codes(payload) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def test_a_sensitive_field_needs_consent_or_a_legal_ground_to_be_written(api):
    person = await create_contact(api, familyName="病歴", customFields={"会員番号": "M-1", "病歴": "糖尿病"})
    assert await found_by_condition(api, "病歴", "糖尿病") == 1
    assert (await mark(api, "custom_fields.病歴"))["userErrors"] == []
    assert await found_by_condition(api, "病歴", "糖尿病") == 0  # what people held already is no longer findable

    refused = await update(api, person["id"], {"会員番号": "M-1", "病歴": "高血圧"})
    assert (refused["contact"], codes(refused)) == (None, [("customFields", "SENSITIVE_DATA_BASIS_REQUIRED")])
    assert await fields_as(api, person["id"], "compliance") == {"会員番号": "M-1", "病歴": "糖尿病"}  # nothing written
    # Other fields, and clearing the sensitive one, need no basis.
    assert (await update(api, person["id"], {"会員番号": "M-2", "病歴": "糖尿病"}))["userErrors"] == []
    # Someone who cannot see the field (sales) replaces the custom fields: it is kept, not erased.
    edited = await update(api, person["id"], {"会員番号": "M-3"}, role="sales")
    assert (edited["userErrors"], edited["contact"]["customFields"]) == ([], {"会員番号": "M-3"})
    assert await fields_as(api, person["id"], "compliance") == {"会員番号": "M-3", "病歴": "糖尿病"}
    created = await api.mutate("createContact", {"familyName": "新規", "customFields": {"病歴": "喘息"}}, CONTACT)
    assert codes(created) == [("customFields", "SENSITIVE_DATA_BASIS_REQUIRED")]
    assert (await api.graphql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 1

    await api.mutate(
        "recordConsent", {"contactId": person["id"], "purpose": "sensitive_data", "state": "granted"}, "consent { state }"
    )
    assert (await update(api, person["id"], {"会員番号": "M-3", "病歴": "高血圧"}))["userErrors"] == []
    assert await found_by_condition(api, "病歴", "高血圧") == 0  # written with consent, still never indexed
    await api.mutate("withdrawConsent", {"contactId": person["id"], "purpose": "sensitive_data"}, "consent { state }")
    assert codes(await update(api, person["id"], {"病歴": "喘息"})) == [("customFields", "SENSITIVE_DATA_BASIS_REQUIRED")]

    other = await create_contact(api, familyName="法令")
    grounded = await api.mutate(
        "recordLegalGround",
        {"contactId": other["id"], "ground": "法第20条第2項第1号: 労働安全衛生法に基づく健康診断"},
        "legalGround { purpose ground }",
        role="compliance",
    )
    assert grounded["legalGround"]["purpose"] == "sensitive_data"
    assert (await update(api, other["id"], {"病歴": "なし"}))["userErrors"] == []


async def test_a_sensitive_field_is_out_of_filters_exports_abm_and_roles_without_the_permission(api):
    account = await create_account(api, name="Acme")
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    person = await create_contact(
        api, familyName="要配慮", accounts=[{"accountId": account["id"]}], customFields={"宗教": "仏教", "ランク": "A"}
    )
    for purpose in ("marketing", "sensitive_data"):
        await api.mutate(
            "recordConsent", {"contactId": person["id"], "purpose": purpose, "state": "granted"}, "consent { state }"
        )
    assert (await mark(api, "custom_fields.宗教"))["userErrors"] == []
    assert codes(await mark(api, "custom_fields.宗教")) == [("field", "ALREADY_SENSITIVE")]
    assert codes(await mark(api, "custom_fields.region", entity="account")) == [("entity", "INVALID_ENTITY")]
    assert codes(await mark(api, "job_title")) == [("field", "INVALID_FIELD")]

    assert await found_by_condition(api, "宗教", "仏教") == 0  # the customField filter: segments
    assert await found_by_condition(api, "ランク", "A") == 1
    for role in ("sales", "marketing"):
        assert await fields_as(api, person["id"], role) == {"ランク": "A"}
    for role in ("compliance", "support", "admin"):
        assert await fields_as(api, person["id"], role) == {"宗教": "仏教", "ランク": "A"}

    audience = await api.graphql(
        'mutation { exportAudience(input: {destination: "MA"}) { members { contact { customFields } } } }',
        role="marketing",
    )
    assert audience["exportAudience"]["members"] == [{"contact": {"customFields": {"ランク": "A"}}}]

    link = await api.mutate("exportContacts", {}, "url", role="admin")
    rows = list(csv.reader(io.StringIO((await api.client.get(urlsplit(link["url"]).path)).content.decode("utf-8-sig"))))
    assert "custom:ランク" in rows[0] and not any("宗教" in cell or "仏教" in cell for row in rows for cell in row)


async def test_only_compliance_and_admin_mark_fields_and_record_grounds(api):
    for role in ("sales", "support", "marketing"):
        refused = await api.errors(
            'mutation { markFieldSensitive(input: {field: "custom_fields.x"}) { sensitiveField { field } } }', role=role
        )
        assert refused[0]["extensions"]["code"] == "FORBIDDEN"
        assert (await api.errors("{ sensitiveFields { field } }", role=role))[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await mark(api, "custom_fields.x", role="admin"))["userErrors"] == []
    listed = (await api.graphql("{ sensitiveFields { entity field } }", role="compliance"))["sensitiveFields"]
    assert listed == [{"entity": "contact", "field": "custom_fields.x"}]


async def test_a_merge_carries_a_sensitive_value_to_the_survivor_only_with_the_survivors_basis(api):
    assert (await mark(api, "custom_fields.障害"))["userErrors"] == []
    survivor = await create_contact(api, familyName="統合先", customFields={"会員番号": "S-1"})
    merged = await create_contact(api, familyName="統合元")
    await api.mutate(
        "recordConsent", {"contactId": merged["id"], "purpose": "sensitive_data", "state": "granted"}, "consent { state }"
    )
    assert (await update(api, merged["id"], {"障害": "聴覚"}))["userErrors"] == []
    merge = "mutation($input: MergeContactsInput!) { mergeContacts(input: $input) { userErrors { field code } } }"
    for dry_run in (True, False):  # the merged person's consent does not cover the survivor
        refused = await api.graphql(
            merge, {"input": {"survivorId": survivor["id"], "mergedIds": [merged["id"]], "dryRun": dry_run}}
        )
        assert refused["mergeContacts"]["userErrors"] == [{"field": "customFields", "code": "SENSITIVE_DATA_BASIS_REQUIRED"}]
    assert await fields_as(api, survivor["id"], "compliance") == {"会員番号": "S-1"}  # nothing written
    assert await fields_as(api, merged["id"], "compliance") == {"障害": "聴覚"}  # nor merged away
    await api.mutate(
        "recordLegalGround",
        {"contactId": survivor["id"], "ground": "法第20条第2項第2号: 本人の生命の保護"},
        "legalGround { purpose }",
        role="compliance",
    )
    done = await api.graphql(merge, {"input": {"survivorId": survivor["id"], "mergedIds": [merged["id"]]}})
    assert done["mergeContacts"]["userErrors"] == []
    assert await fields_as(api, survivor["id"], "compliance") == {"会員番号": "S-1", "障害": "聴覚"}


async def test_an_unmarked_field_is_open_again_with_its_reason_kept_and_each_holder_logged(api):
    holder = await create_contact(api, familyName="既往", customFields={"既往歴": "経過観察"})
    bystander = await create_contact(api, familyName="無関係", customFields={"趣味": "釣り"})
    assert (await mark(api, "custom_fields.既往歴"))["userErrors"] == []
    assert await found_by_condition(api, "既往歴", "経過観察") == 0
    unmark = "change { field change reason holders } userErrors { field code }"

    async def unmarked(field, reason, role="compliance"):
        return await api.mutate("unmarkFieldSensitive", {"field": field, "reason": reason}, unmark, role=role)

    assert codes(await unmarked("custom_fields.既往歴", " ")) == [("reason", "REQUIRED")]
    assert codes(await unmarked("custom_fields.趣味", "誤り")) == [("field", "NOT_SENSITIVE")]
    assert await found_by_condition(api, "既往歴", "経過観察") == 0  # still sensitive: nothing changed
    denied = await api.errors(
        'mutation { unmarkFieldSensitive(input: {field: "custom_fields.既往歴", reason: "x"}) { change { field } } }',
        role="sales",
    )
    assert denied[0]["extensions"]["code"] == "FORBIDDEN"
    reason = "健康情報を扱わない運用に変更し、項目を任意の備考欄として使うため"
    done = await unmarked("custom_fields.既往歴", reason)
    assert (done["userErrors"], done["change"]) == (
        [],
        {"field": "custom_fields.既往歴", "change": "unmarked", "reason": reason, "holders": 1},
    )
    assert await found_by_condition(api, "既往歴", "経過観察") == 1  # filterable again
    assert await fields_as(api, holder["id"], "sales") == {"既往歴": "経過観察"}  # and shown to every role

    async def unmark_entries(person):
        query = "query($id: ID!) { accessLog(contactId: $id) { action purpose roles } }"
        log = (await api.graphql(query, {"id": person["id"]}, role="compliance"))["accessLog"]
        return [e for e in log if e["action"] == "sensitive_field_unmarked"]

    assert await unmark_entries(holder) == [
        {"action": "sensitive_field_unmarked", "purpose": "custom_fields.既往歴", "roles": ["compliance"]}
    ]
    assert await unmark_entries(bystander) == []
    changes = (await api.graphql("{ sensitiveFieldChanges { field change reason holders } }", role="compliance"))[
        "sensitiveFieldChanges"
    ]
    assert [c for c in changes if c["field"] == "custom_fields.既往歴"] == [
        {"field": "custom_fields.既往歴", "change": "marked", "reason": None, "holders": 1},
        {"field": "custom_fields.既往歴", "change": "unmarked", "reason": reason, "holders": 1},
    ]

"""APPI provision records over GraphQL: the register of processors and recipients, the basis each
kind of recipient gives a provision, cross-border transfers (法第28条) refused without their
route or a consent that snapshots the country and the recipient's measures, exact retention days
(規則第21条), who may do it, and ABM's audience export going through the same judgement."""

import datetime as dt

from sqlalchemy import func, select

from enishi.plugin import parse_global_id
from enishi.plugins.privacy.models import PrivacyAccessLog
from tests.helpers import create_account, create_contact, log_activity

JST = dt.timezone(dt.timedelta(hours=9))
RECIPIENT = "id name kind country transferRoute abroad reviewDate remindedFor reminderTaskId subProcessors { name country }"
RECORD = "contactId recipient country purpose dataItems basis legalGround exempt recordMethod providedAt recordedOn keepUntil"
US_VENDOR = {
    "name": "Acme Analytics Inc.",
    "kind": "THIRD_PARTY",
    "country": "US",
    "transferRoute": "CONSENT",
    "purpose": "広告効果の分析",
    "securityMeasures": "ISO/IEC 27001 certified; encryption at rest",
}


async def register(api, role="compliance", **input):
    payload = await api.mutate("registerRecipient", input, f"recipient {{ {RECIPIENT} }}", role=role)
    return payload


async def registered(api, **input) -> dict:
    payload = await register(api, **input)
    assert payload["userErrors"] == [], payload
    return payload["recipient"]


async def provide(api, recipient_id, contact_ids, role="compliance", **extra):
    return await api.mutate(
        "recordProvision",
        {
            "recipientId": recipient_id,
            "contactIds": contact_ids,
            "dataItems": ["氏名", "メールアドレス"],
            "purpose": "広告配信",
            **extra,
        },
        f"provisions {{ {RECORD} }}",
        role=role,
    )


async def records(api, **args) -> list[dict]:
    arguments = ", ".join(f'{k}: "{v}"' for k, v in args.items())
    query = f"{{ provisionRecords{'(' + arguments + ')' if arguments else ''} {{ totalCount edges {{ node {{ {RECORD} }} }} }} }}"
    return [e["node"] for e in (await api.graphql(query, role="compliance"))["provisionRecords"]["edges"]]


async def provided_log_entries(api, person: dict) -> int:
    """The access log's `provided` entries of `person` (the log is append-only: other tests' stay)."""
    async with api.runtime.read_session() as session:
        entries = select(func.count()).where(
            PrivacyAccessLog.action == "provided", PrivacyAccessLog.contact_id == parse_global_id(person["id"], "Contact", "id")
        )
        return (await session.execute(entries)).scalar_one()


def codes(payload) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def test_a_transfer_abroad_needs_a_consent_that_snapshots_the_country_and_the_recipients_measures(api):
    api.clock.set(dt.datetime(2025, 6, 2, 10, 0, tzinfo=JST))
    person = await create_contact(api, familyName="山田", emails=[{"address": "taro@example.jp"}])
    vendor = await registered(api, **US_VENDOR)
    assert (vendor["abroad"], vendor["transferRoute"]) == (True, "CONSENT")

    refused = await provide(api, vendor["id"], [person["id"]])
    assert (refused["provisions"], codes(refused)) == ([], [("contactIds", "CROSS_BORDER_CONSENT_REQUIRED")])
    assert await records(api) == [] and await provided_log_entries(api, person) == 0  # nothing written

    granted = await api.mutate(
        "recordCrossBorderConsent",
        {"contactId": person["id"], "recipientId": vendor["id"], "regimeInformation": "米国: 連邦の包括的な個人情報保護法はない"},
        "consent { state country securityMeasures regimeInformation }",
        role="compliance",
    )
    assert granted["consent"] == {
        "state": "granted",
        "country": "US",
        "securityMeasures": "ISO/IEC 27001 certified; encryption at rest",
        "regimeInformation": "米国: 連邦の包括的な個人情報保護法はない",
    }
    done = await provide(api, vendor["id"], [person["id"]])
    assert done["userErrors"] == []
    assert done["provisions"] == [
        {
            "contactId": person["id"],
            "recipient": "Acme Analytics Inc.",
            "country": "US",
            "purpose": "広告配信",
            "dataItems": ["氏名", "メールアドレス"],
            "basis": "CONSENT",
            "legalGround": None,
            "exempt": False,
            "recordMethod": "INDIVIDUAL",
            "providedAt": "2025-06-02T01:00:00+00:00",
            "recordedOn": "2025-06-02",
            "keepUntil": "2028-06-02",
        }
    ]
    assert await provided_log_entries(api, person) == 1  # the disclosure is in the access log, by id

    # The recipient's measures change: what the person was told no longer holds.
    changed = await api.mutate(
        "updateRecipient", {"id": vendor["id"], "securityMeasures": "SOC 2 Type II"}, "recipient { id }", role="compliance"
    )
    assert changed["userErrors"] == []
    again = await provide(api, vendor["id"], [person["id"]])
    assert codes(again) == [("contactIds", "CROSS_BORDER_CONSENT_REQUIRED")]
    assert len(await records(api)) == 1


async def test_the_route_must_fit_the_country(api):
    cases = [
        ({**US_VENDOR, "transferRoute": None}, [("transferRoute", "TRANSFER_ROUTE_REQUIRED")]),
        ({**US_VENDOR, "transferRoute": "ADEQUACY"}, [("transferRoute", "NOT_ADEQUATE")]),
        ({**US_VENDOR, "transferRoute": "EQUIVALENT_MEASURES", "securityMeasures": None}, [("securityMeasures", "REQUIRED")]),
        ({**US_VENDOR, "country": "USA"}, [("country", "INVALID_COUNTRY")]),
        ({**US_VENDOR, "subProcessors": [{"name": "", "country": "US"}]}, [("subProcessors.0.name", "REQUIRED")]),
    ]
    for input, expected in cases:
        refused = await register(api, **input)
        assert (refused["recipient"], codes(refused)) == (None, expected), input
    assert (await api.graphql("{ provisionRecipients { totalCount } }", role="compliance"))["provisionRecipients"][
        "totalCount"
    ] == 0
    domestic = await registered(api, **{**US_VENDOR, "country": "jp", "transferRoute": "CONSENT"})
    assert (domestic["country"], domestic["transferRoute"], domestic["abroad"]) == ("JP", "DOMESTIC", False)
    assert codes(await register(api, **{**US_VENDOR, "country": "JP"})) == [("name", "DUPLICATE")]


async def test_a_processor_in_an_adequate_country_is_entrusted_without_consent_and_a_third_party_needs_one(api):
    api.clock.set(dt.datetime(2025, 6, 2, 10, 0, tzinfo=JST))
    person = await create_contact(api, familyName="佐藤")
    processor = await registered(
        api,
        name="Mailer GmbH",
        kind="PROCESSOR",
        country="DE",
        transferRoute="ADEQUACY",
        purpose="メール配信の委託",
        dpaDate="2025-04-01",
        subProcessors=[{"name": "Cloud Hosting Ltd", "country": "IE"}],
    )
    assert processor["subProcessors"] == [{"name": "Cloud Hosting Ltd", "country": "IE"}]
    entrusted = await provide(api, processor["id"], [person["id"]])
    assert entrusted["userErrors"] == []
    assert [(r["basis"], r["exempt"], r["country"]) for r in entrusted["provisions"]] == [("ENTRUSTMENT", True, "DE")]

    partner = await registered(api, name="株式会社パートナー", kind="THIRD_PARTY", country="JP", purpose="共同キャンペーン")
    refused = await provide(api, partner["id"], [person["id"]])
    assert codes(refused) == [("contactIds", "PROVISION_CONSENT_REQUIRED")]
    assert codes(await provide(api, partner["id"], [person["id"]], ground="LAW")) == [("legalGround", "REQUIRED")]
    by_law = await provide(api, partner["id"], [person["id"]], ground="LAW", legalGround="法第27条第1項第1号 (警察からの照会)")
    assert [(r["basis"], r["exempt"]) for r in by_law["provisions"]] == [("LAW", True)]
    await api.mutate(
        "recordConsent", {"contactId": person["id"], "purpose": "third_party_provision", "state": "granted"}, "consent { state }"
    )
    consented = await provide(api, partner["id"], [person["id"]])
    assert [(r["basis"], r["exempt"]) for r in consented["provisions"]] == [("CONSENT", False)]
    assert len(await records(api, contactId=person["id"])) == 3
    assert len(await records(api, recipientId=partner["id"])) == 2


async def test_records_are_kept_three_years_or_one_from_the_last_provision_under_a_contract(api):
    api.clock.set(dt.datetime(2025, 6, 2, 10, 0, tzinfo=JST))
    person = await create_contact(api, familyName="鈴木")
    processor = await registered(api, name="配送センター株式会社", kind="PROCESSOR", country="JP", purpose="商品の配送")
    partner = await registered(api, name="提携先株式会社", kind="JOINT_USER", country="JP", purpose="共同利用")

    def keep(payload):
        assert payload["userErrors"] == [], payload
        return [r["keepUntil"] for r in payload["provisions"]]

    # 規則第21条第1号: kept as a contract, 1 year from the last provision it covers.
    assert keep(
        await provide(api, processor["id"], [person["id"]], recordMethod="CONTRACT", providedAt="2024-02-29T12:00:00+09:00")
    ) == ["2025-02-28"]
    assert keep(
        await provide(api, processor["id"], [person["id"]], recordMethod="CONTRACT", providedAt="2025-05-01T23:30:00+09:00")
    ) == ["2026-05-01"]
    # 第2号: recorded in bulk, 3 years from the last provision.
    assert keep(
        await provide(api, partner["id"], [person["id"]], recordMethod="BULK", providedAt="2025-04-01T09:00:00+09:00")
    ) == ["2028-04-01"]
    # 第3号: a record per provision, 3 years from the day it was made (Q&A 13-35), whenever the provision.
    assert keep(await provide(api, partner["id"], [person["id"]], providedAt="2025-01-10T09:00:00+09:00")) == ["2028-06-02"]
    listed = {(r["recipient"], r["recordMethod"], r["keepUntil"]) for r in await records(api)}
    assert listed == {
        ("配送センター株式会社", "CONTRACT", "2026-05-01"),  # the earlier contract record follows the latest
        ("提携先株式会社", "BULK", "2028-04-01"),
        ("提携先株式会社", "INDIVIDUAL", "2028-06-02"),
    }
    future = await provide(api, partner["id"], [person["id"]], providedAt="2025-06-03T09:00:00+09:00")
    assert codes(future) == [("providedAt", "IN_THE_FUTURE")]


async def test_only_compliance_and_admin_keep_the_register(api):
    assert (await register(api, role="admin", **US_VENDOR))["userErrors"] == []
    for role in ("sales", "marketing", "support"):
        refused = await api.errors(
            "mutation($input: RegisterRecipientInput!) { registerRecipient(input: $input) { recipient { id } } }",
            {"input": {**US_VENDOR, "name": role}},
            role=role,
        )
        assert refused[0]["extensions"]["code"] == "FORBIDDEN"
        for query in ("{ provisionRecipients { totalCount } }", "{ provisionRecords { totalCount } }"):
            assert (await api.errors(query, role=role))[0]["extensions"]["code"] == "FORBIDDEN"


async def _audience(api) -> list[str]:
    account = await create_account(api, name="Acme")
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    ids = []
    for name in ("一郎", "二郎"):
        contact = await create_contact(api, familyName=name, accounts=[{"accountId": account["id"]}])
        await api.mutate(
            "recordConsent", {"contactId": contact["id"], "purpose": "marketing", "state": "granted"}, "consent { state }"
        )
        ids.append(contact["id"])
    return ids


async def test_abms_audience_export_goes_through_the_register(api):
    ids = await _audience(api)
    export = "members { contact { id } } userErrors { field code }"

    async def export_to(destination):
        return await api.graphql(
            f"mutation($input: ExportAudienceInput!) {{ exportAudience(input: $input) {{ {export} }} }}",
            {"input": {"destination": destination, "thirdParty": True}},
            role="marketing",
        )

    unknown = (await export_to("Unknown Ads"))["exportAudience"]
    assert (unknown["members"], unknown["userErrors"]) == ([], [{"field": "recipient", "code": "UNKNOWN_RECIPIENT"}])
    vendor = await registered(api, **US_VENDOR)
    abroad = (await export_to(vendor["name"]))["exportAudience"]
    assert abroad["userErrors"] == [{"field": "contactIds", "code": "CROSS_BORDER_CONSENT_REQUIRED"}]
    assert await records(api) == []
    processor = await registered(api, name="MA Tool KK", kind="PROCESSOR", country="JP", purpose="メール配信")
    entrusted = (await export_to("MA Tool KK"))["exportAudience"]
    assert entrusted["userErrors"] == [] and len(entrusted["members"]) == 2
    recorded = await records(api, recipientId=processor["id"])
    assert sorted(r["contactId"] for r in recorded) == sorted(ids)
    assert {(r["basis"], r["purpose"], tuple(r["dataItems"])) for r in recorded} == {
        ("ENTRUSTMENT", "marketing", ("name", "email", "phone", "company", "buying_role"))
    }


async def test_an_export_for_someone_outside_is_recorded_for_everyone_in_it_or_refused(api):
    api.clock.set(dt.datetime(2025, 6, 2, 10, 0, tzinfo=JST))
    listed = await create_contact(api, familyName="輸出", jobTitle="部長")
    await create_contact(api, familyName="対象外", jobTitle="課長")
    concerned = await create_contact(api, familyName="通話")
    await log_activity(api, summary="電話", contactIds=[concerned["id"]])

    async def export(mutation, **input):
        selection = "url userErrors { field code }"
        query = f"mutation($input: {mutation[0].upper()}{mutation[1:]}Input!) {{ {mutation}(input: $input) {{ {selection} }} }}"
        return (await api.graphql(query, {"input": input}))[mutation]

    own = await export("exportContacts", filter={"jobTitle": {"eq": "部長"}})
    assert own["url"] and await records(api) == []  # the business's own use: no provision
    provision = {"recipient": "委託先 株式会社データ入力", "purpose": "名寄せ作業の委託"}
    refused = await export("exportContacts", filter={"jobTitle": {"eq": "部長"}}, provision=provision)
    assert refused == {"url": None, "userErrors": [{"field": "recipient", "code": "UNKNOWN_RECIPIENT"}]}
    await registered(api, name=provision["recipient"], kind="PROCESSOR", country="JP", purpose="名寄せ")
    issued = await export("exportContacts", filter={"jobTitle": {"eq": "部長"}}, provision=provision)
    assert issued["url"] and issued["userErrors"] == []
    (record,) = await records(api)
    assert (record["contactId"], record["basis"], record["purpose"]) == (listed["id"], "ENTRUSTMENT", "名寄せ作業の委託")
    assert record["dataItems"][:3] == ["姓", "名", "セイ"] and "カスタム項目" in record["dataItems"]
    activities = await export("exportActivities", provision=provision)
    assert activities["userErrors"] == []
    latest = await records(api)  # the most recent first
    assert latest[0]["contactId"] == concerned["id"]  # whom the activities concern

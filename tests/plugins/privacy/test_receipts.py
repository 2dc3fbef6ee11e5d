"""Records of personal data received from a third party (APPI 法第30条) over GraphQL: the
provider, how they obtained it, the items and the basis, checked (refused whole, nothing
written), kept 3 years (bulk: from the last receipt), flagged exempt on a law; disclosed in the
access export together with the person's cross-border consents (法第28条, 第33条第5項)."""

import datetime as dt

from tests.helpers import create_contact
from tests.plugins.privacy.helpers import intake, run_request
from tests.plugins.privacy.test_provisions import JST, US_VENDOR, codes, registered

RECEIPT = "contactId provider providerAddress providerRepresentative acquisition dataItems basis exempt recordMethod "
RECEIPT += "receivedAt recordedOn keepUntil"
RECEIVED = {
    "provider": "株式会社名簿センター",
    "providerAddress": "東京都港区芝公園1-1-1",
    "providerRepresentative": "代表取締役 名簿 一郎",
    "acquisition": "セミナー申込フォームで本人から取得し、第三者提供への同意を得ている",
    "dataItems": ["氏名", "メールアドレス"],
    "basis": "CONSENT",
}


async def receive(api, contact_ids, role="compliance", **changes):
    return await api.mutate(
        "recordReceipt", {"contactIds": contact_ids, **RECEIVED, **changes}, f"receipts {{ {RECEIPT} }}", role=role
    )


async def receipts_of(api, person) -> list[dict]:
    query = "query($id: ID!) { receiptRecords(contactId: $id) { nodes { provider receivedAt keepUntil } } }"
    return (await api.graphql(query, {"id": person["id"]}, role="compliance"))["receiptRecords"]["nodes"]


async def test_a_receipt_is_recorded_checked_and_kept_three_years_or_from_the_last_bulk_receipt(api):
    api.clock.set(dt.datetime(2025, 6, 2, 10, 0, tzinfo=JST))
    person = await create_contact(api, familyName="受領", emails=[{"address": "received@example.jp"}])
    done = await receive(api, [person["id"]], receivedAt="2025-06-01T09:00:00+09:00")
    assert done["userErrors"] == [], done
    assert done["receipts"] == [
        {
            "contactId": person["id"],
            **RECEIVED,
            "exempt": False,
            "recordMethod": "INDIVIDUAL",
            "receivedAt": "2025-06-01T00:00:00+00:00",
            "recordedOn": "2025-06-02",
            "keepUntil": "2028-06-02",  # 規則第25条: 3 years from the record, as 第21条
        }
    ]
    for changes, expected in (
        ({"acquisition": " "}, [("acquisition", "REQUIRED")]),
        ({"providerAddress": ""}, [("providerAddress", "REQUIRED")]),
        ({"dataItems": []}, [("dataItems", "REQUIRED")]),
        ({"receivedAt": "2025-06-03T09:00:00+09:00"}, [("receivedAt", "IN_THE_FUTURE")]),
        ({"receivedAt": "2025-06-01T09:00:00"}, [("receivedAt", "NAIVE_DATETIME")]),
    ):
        refused = await receive(api, [person["id"]], **changes)
        assert (refused["receipts"], codes(refused)) == ([], expected), changes
    gone = await create_contact(api, familyName="削除済み")
    await api.mutate("deleteContact", {"id": gone["id"]}, "contact { id }")
    assert codes(await receive(api, [person["id"], gone["id"]])) == [("contactIds", "NOT_FOUND")]
    assert len(await receipts_of(api, person)) == 1  # nothing written by the refusals

    bulk = {"provider": "株式会社一括提供", "recordMethod": "BULK"}
    await receive(api, [person["id"]], receivedAt="2025-01-10T09:00:00+09:00", **bulk)
    later = await receive(api, [person["id"]], receivedAt="2025-05-01T09:00:00+09:00", **bulk)
    assert later["receipts"][0]["keepUntil"] == "2028-05-01"
    assert {r["keepUntil"] for r in await receipts_of(api, person) if r["provider"] == "株式会社一括提供"} == {"2028-05-01"}
    by_law = await receive(api, [person["id"]], basis="LAW", provider="市役所")
    assert by_law["receipts"][0]["exempt"] is True  # 法第27条第1項各号: no 第30条 duty, kept anyway
    forbidden = await api.errors(
        "mutation($input: RecordReceiptInput!) { recordReceipt(input: $input) { receipts { provider } } }",
        {"input": {"contactIds": [person["id"]], **RECEIVED}},
        role="sales",
    )
    assert forbidden[0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_access_export_discloses_receipts_and_cross_border_consents(api):
    api.clock.set(dt.datetime(2025, 6, 2, 10, 0, tzinfo=JST))
    person = await create_contact(api, familyName="開示", emails=[{"address": "disclosed@example.jp"}])
    await receive(api, [person["id"]], receivedAt="2025-06-01T09:00:00+09:00")
    vendor = await registered(api, **{**US_VENDOR, "name": "Acme Receipts Inc."})
    granted = await api.mutate(
        "recordCrossBorderConsent",
        {"contactId": person["id"], "recipientId": vendor["id"], "regimeInformation": "米国: 連邦の包括的な個人情報保護法はない"},
        "consent { state }",
        role="compliance",
    )
    assert granted["userErrors"] == []
    request = await run_request(api, (await intake(api, person["id"], "access"))["id"])
    url = (
        await api.graphql(
            'mutation($id: ID!) { dataSubjectExportLink(requestId: $id, format: "json") { url } }',
            {"id": request["id"]},
            role="compliance",
        )
    )["dataSubjectExportLink"]["url"]
    privacy = (await api.client.get(url)).json()["sections"]["privacy"]
    assert privacy["cross_border_consents"] == [
        {
            "recipient": "Acme Receipts Inc.",
            "state": "granted",
            "country": "US",
            "regime_information": "米国: 連邦の包括的な個人情報保護法はない",
            "security_measures": "ISO/IEC 27001 certified; encryption at rest",
            "captured_at": "2025-06-02T01:00:00+00:00",
        }
    ]
    assert privacy["received_from_third_parties"] == [
        {
            "provider": "株式会社名簿センター",
            "provider_address": "東京都港区芝公園1-1-1",
            "provider_representative": "代表取締役 名簿 一郎",
            "acquisition": RECEIVED["acquisition"],
            "data_items": ["氏名", "メールアドレス"],
            "basis": "consent",
            "exempt": False,
            "received_at": "2025-06-01T00:00:00+00:00",
            "keep_until": "2028-06-02",
        }
    ]

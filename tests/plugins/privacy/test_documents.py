"""Reports and extracts over GraphQL: records of processing (GDPR Art. 30) and the APPI public
statement from the catalog as JSON, CSV and printable HTML, saying what is missing, with the
processor register and the transfers abroad; consent and provision records as CSV for
regulators; single-use links; pseudonymised extracts with keyed HMACs whose key only compliance
reads and which are never provided; anonymised extracts generalised to k-anonymity with the
suppressed rows counted."""

import base64
import csv
import datetime as dt
import hashlib
import hmac
import io

from sqlalchemy import text

from tests.helpers import count_rows, create_contact, log_activity
from tests.plugins.privacy.helpers import raw_id
from tests.plugins.privacy.test_provisions import JST, provide, registered
from tests.plugins.privacy.test_retention import _rule

CONTROLLER = {"name": "縁商事株式会社", "address": "東京都千代田区丸の内1-1-1", "representative": "代表取締役 縁 太郎"}
EXTRACT = "extract { id kind columns k rows suppressed provisions { recipient } } url"


async def _download(api, url: str, status: int = 200):
    response = await api.client.get(url)
    assert response.status_code == status, response.text
    return response


async def _extract_provisions(api) -> list[dict]:
    """The provision register's records of extracts provided."""
    fields = "contactId extractId recipient country purpose dataItems basis exempt keepUntil"
    query = f"{{ provisionRecords(first: 100) {{ nodes {{ {fields} }} }} }}"
    nodes = (await api.graphql(query, role="compliance"))["provisionRecords"]["nodes"]
    return [n for n in nodes if n["extractId"]]


def _rows(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_the_record_of_processing_and_the_appi_statement_come_from_the_catalog_and_say_what_is_missing(enishi_api):
    api = await enishi_api(extra={"privacy_controller": CONTROLLER, "privacy_security_measures": ["従業者への定期的な研修"]})
    await _rule(api, "support_ticket", "ANONYMISE", 60)
    person = await create_contact(api, familyName="提供", givenName="花子")
    registered = await api.mutate(
        "registerRecipient",
        {"name": "株式会社データ分析", "kind": "JOINT_USER", "country": "JP", "purpose": "共同キャンペーン"},
        "recipient { id }",
        role="compliance",
    )
    assert registered["userErrors"] == [], registered
    async with api.runtime.unit_of_work() as uow:
        await api.runtime.plugins.call(
            "enishi_record_provision",
            uow=uow,
            contact_ids=[raw_id(person["id"])],
            recipient="株式会社データ分析",
            purpose="共同キャンペーン",
            data_items=["氏名"],
        )
    report = (await api.graphql("{ recordsOfProcessingReport }", role="compliance"))["recordsOfProcessingReport"]
    assert report["controller"] == CONTROLLER and report["missing"] == ["controller.contact"]
    support = next(a for a in report["activities"] if a["purpose"] == "support")
    assert support["description"] == "お問い合わせ・サポートへの対応"
    assert {
        "plugin": "support",
        "entity": "support_ticket",
        "field": "sealed_subject",
        "category": "user.content",
        "provenance": "provided",
        "sensitive": False,
        "erasure": "shred",
        "retention": "60 months after closed, then anonymise",
    } in support["fields"]
    assert report["recipients"] == [{"recipient": "株式会社データ分析", "purpose": "共同キャンペーン", "retired_at": None}]
    assert report["security_measures"][-1] == "従業者への定期的な研修"

    statement = (await api.graphql("{ appiPublicStatement }", role="compliance"))["appiPublicStatement"]
    assert statement["business"] == CONTROLLER
    assert "お問い合わせ・サポートへの対応" in statement["purposes_of_use"]
    assert statement["missing"] == ["request_procedure", "complaints_contact"]
    forbidden = await api.post("{ appiPublicStatement }", role="sales")
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    link = "mutation($input: PrivacyReportLinkInput!) { privacyReportLink(input: $input) { url userErrors { field code } } }"
    html = await api.graphql(link, {"input": {"report": "APPI_PUBLIC_STATEMENT", "format": "HTML"}}, role="compliance")
    page = await _download(api, html["privacyReportLink"]["url"])
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "保有個人データに関する事項の公表" in page.text and "縁商事株式会社" in page.text
    await _download(api, html["privacyReportLink"]["url"], 410)  # single use
    records = await api.graphql(link, {"input": {"report": "RECORDS_OF_PROCESSING", "format": "CSV"}}, role="compliance")
    rows = _rows((await _download(api, records["privacyReportLink"]["url"])).content)
    assert {
        "section": "activity:support",
        "field": "sealed_subject",
        "retention": "60 months after closed, then anonymise",
    }.items() <= next(r for r in rows if r["section"] == "activity:support" and r["field"] == "sealed_subject").items()
    public = await api.client.get("/privacy/statement")  # 公表: anyone may read it, no token
    assert public.status_code == 200 and "代表取締役 縁 太郎" in public.text and "missing" not in public.text


async def test_consent_records_go_to_regulators_as_csv_with_ids_and_no_one_named(api):
    people = [
        await create_contact(api, familyName=name, emails=[{"address": f"{tag}@example.jp"}])
        for name, tag in (("同意", "a"), ("撤回", "b"))
    ]
    for person, state in zip(people, ("granted", "withdrawn"), strict=True):
        payload = await api.mutate(
            "recordConsent",
            {"contactId": person["id"], "purpose": "marketing", "state": state, "source": "web_form", "noticeVersion": "2024-04"},
            "consent { purpose }",
        )
        assert payload["userErrors"] == [], payload
    link = "mutation($input: PrivacyReportLinkInput!) { privacyReportLink(input: $input) { url userErrors { field code } } }"
    refused = await api.graphql(link, {"input": {"report": "CONSENT_RECORDS", "format": "HTML"}}, role="compliance")
    assert refused["privacyReportLink"] == {"url": None, "userErrors": [{"field": "format", "code": "INVALID_FORMAT"}]}
    made = await api.graphql(link, {"input": {"report": "CONSENT_RECORDS", "format": "CSV"}}, role="compliance")
    body = (await _download(api, made["privacyReportLink"]["url"])).content
    rows = _rows(body)
    assert [(r["contact_id"], r["purpose"], r["state"], r["notice_version"]) for r in rows] == [
        (str(raw_id(people[0]["id"])), "marketing", "granted", "2024-04"),
        (str(raw_id(people[1]["id"])), "marketing", "withdrawn", "2024-04"),
    ]
    assert "同意" not in body.decode("utf-8-sig") and "example.jp" not in body.decode("utf-8-sig")
    async with api.runtime.read_session() as session:  # the used link keeps nothing
        assert (await session.execute(text("SELECT content FROM privacy_download"))).scalars().all() == [None]


async def test_provision_records_go_to_regulators_as_csv_and_the_reports_list_processors_and_transfers_abroad(api):
    processor = await registered(
        api,
        name="Cloud Mail Pte. Ltd.",
        kind="PROCESSOR",
        country="SG",
        transferRoute="EQUIVALENT_MEASURES",
        purpose="メール配信の委託",
        contractDate="2025-01-10",
        dpaDate="2025-01-15",
        reviewDate="2026-01-15",
        securityMeasures="APEC CBPR certified",
        subProcessors=[{"name": "Hosting LLC", "country": "US"}, {"name": "データセンター株式会社", "country": "JP"}],
    )
    await registered(api, name="株式会社国内提供先", kind="THIRD_PARTY", country="JP", purpose="共同販促")
    person = await create_contact(api, familyName="提供", emails=[{"address": "provided@example.jp"}])
    recorded = await provide(api, processor["id"], [person["id"]])
    assert recorded["userErrors"] == [], recorded

    report = (await api.graphql("{ recordsOfProcessingReport }", role="compliance"))["recordsOfProcessingReport"]
    assert report["processors"] == [
        {
            "name": "Cloud Mail Pte. Ltd.",
            "country": "SG",
            "purpose": "メール配信の委託",
            "contract_date": "2025-01-10",
            "dpa_date": "2025-01-15",
            "review_date": "2026-01-15",
            "security_measures": "APEC CBPR certified",
            "sub_processors": [{"name": "Hosting LLC", "country": "US"}, {"name": "データセンター株式会社", "country": "JP"}],
            "retired_at": None,
        }
    ]
    assert report["transfers_abroad"] == [
        {
            "recipient": "Cloud Mail Pte. Ltd.",
            "kind": "processor",
            "country": "SG",
            "route": "equivalent_measures",
            "safeguards": "APEC CBPR certified",
            "retired_at": None,
        },
        {
            "recipient": "Cloud Mail Pte. Ltd. / Hosting LLC",
            "kind": "sub_processor",
            "country": "US",
            "route": None,
            "safeguards": None,
            "retired_at": None,
        },
    ]
    statement = (await api.graphql("{ appiPublicStatement }", role="compliance"))["appiPublicStatement"]
    assert statement["foreign_countries"] == ["SG", "US"]

    link = "mutation($input: PrivacyReportLinkInput!) { privacyReportLink(input: $input) { url userErrors { field code } } }"
    refused = await api.graphql(link, {"input": {"report": "PROVISION_RECORDS", "format": "JSON"}}, role="compliance")
    assert refused["privacyReportLink"] == {"url": None, "userErrors": [{"field": "format", "code": "INVALID_FORMAT"}]}
    made = await api.graphql(link, {"input": {"report": "PROVISION_RECORDS", "format": "CSV"}}, role="compliance")
    body = (await _download(api, made["privacyReportLink"]["url"])).content
    (row,) = [r for r in _rows(body) if r["contact_id"] == str(raw_id(person["id"]))]
    assert {k: v for k, v in row.items() if k not in ("seq", "recipient_id", "provided_at", "recorded_on", "keep_until")} == {
        "contact_id": str(raw_id(person["id"])),
        "extract_id": "",
        "recipient": "Cloud Mail Pte. Ltd.",
        "recipient_retired_at": "",
        "country": "SG",
        "purpose": "広告配信",
        "data_items": "氏名; メールアドレス",
        "basis": "entrustment",
        "legal_ground": "",
        "exempt": "True",
        "record_method": "individual",
    }
    assert row["recipient_id"] == str(raw_id(processor["id"])) and row["keep_until"]
    assert "provided@example.jp" not in body.decode("utf-8-sig") and "提供" not in body.decode("utf-8-sig")
    forbidden = await api.errors(link, {"input": {"report": "PROVISION_RECORDS", "format": "CSV"}}, role="sales")
    assert forbidden[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_retired_recipient_shows_as_retired_in_every_report(api):
    api.clock.set(dt.datetime(2025, 6, 20, 9, tzinfo=JST))
    processor = await registered(
        api,
        name="Retired Mail Inc.",
        kind="PROCESSOR",
        country="US",
        transferRoute="EQUIVALENT_MEASURES",
        purpose="メール配信の委託 (終了)",
        securityMeasures="SOC 2 Type II",
        subProcessors=[{"name": "Old Hosting GmbH", "country": "DE"}],
    )
    person = await create_contact(api, familyName="終了")
    assert (await provide(api, processor["id"], [person["id"]]))["userErrors"] == []
    delete = "mutation($id: ID!) { deleteRecipient(id: $id) { recipient { retiredAt } userErrors { field code } } }"
    retired = (await api.graphql(delete, {"id": processor["id"]}, role="compliance"))["deleteRecipient"]
    since = "2025-06-20T00:00:00+00:00"
    assert retired == {"recipient": {"retiredAt": since}, "userErrors": []}

    report = (await api.graphql("{ recordsOfProcessingReport }", role="compliance"))["recordsOfProcessingReport"]
    assert [(p["name"], p["retired_at"]) for p in report["processors"]] == [("Retired Mail Inc.", since)]
    assert [(t["recipient"], t["retired_at"]) for t in report["transfers_abroad"]] == [
        ("Retired Mail Inc.", since),
        ("Retired Mail Inc. / Old Hosting GmbH", since),
    ]
    assert report["recipients"] == [{"recipient": "Retired Mail Inc.", "purpose": "広告配信", "retired_at": since}]
    statement = (await api.graphql("{ appiPublicStatement }", role="compliance"))["appiPublicStatement"]
    assert statement["foreign_countries"] == []  # it handles nothing for the business any more

    link = "mutation($input: PrivacyReportLinkInput!) { privacyReportLink(input: $input) { url } }"
    made = await api.graphql(link, {"input": {"report": "PROVISION_RECORDS", "format": "CSV"}}, role="compliance")
    (row,) = _rows((await _download(api, made["privacyReportLink"]["url"])).content)
    assert (row["recipient"], row["recipient_retired_at"]) == ("Retired Mail Inc.", since)
    made = await api.graphql(link, {"input": {"report": "RECORDS_OF_PROCESSING", "format": "CSV"}}, role="compliance")
    rows = _rows((await _download(api, made["privacyReportLink"]["url"])).content)
    processors = [r for r in rows if r["section"] == "processors"]
    assert len(processors) == 1 and f'"retired_at": "{since}"' in processors[0]["item"]


async def _people(api):
    """Seven people: five in their thirties in Tokyo, two in their forties in Osaka."""
    made = []
    for n, (born, address) in enumerate(
        [("1990-06-11", "東京都千代田区丸の内1-1")] * 3
        + [("1985-01-01", "東京都港区六本木6-10"), ("1994-06-10", "東京都新宿区西新宿2-8")]
        + [("1980-03-03", "大阪府大阪市北区梅田1-1"), ("1976-12-31", "大阪府堺市堺区南瓦町3")]
    ):
        made.append(
            await create_contact(
                api,
                familyName=f"仮名{n}",
                givenName="太郎",
                emails=[{"address": f"person{n}@example.jp"}],
                address=address,
                postalCode="100-0005",
                customFields={"birth_date": born},
            )
        )
    return made


async def test_a_pseudonymised_extract_carries_keyed_hmacs_only_compliance_can_key_and_is_never_provided(api):
    people = await _people(api)
    await log_activity(api, summary="電話", contactIds=[people[0]["id"]])
    created = await api.mutate(
        "createPrivacyExtract", {"kind": "PSEUDONYMISED", "purpose": "解約要因の分析"}, EXTRACT, role="marketing"
    )
    assert created["userErrors"] == [] and created["extract"]["rows"] == 7
    body = (await _download(api, created["url"])).content.decode("utf-8-sig")
    await _download(api, created["url"], 410)
    for n in range(7):
        assert f"仮名{n}" not in body and f"person{n}@" not in body
    assert "丸の内" not in body and "100-0005" not in body and "birth_date" not in body
    rows = _rows(body.encode())
    assert list(rows[0]) == ["subject", "account", "age", "prefecture", "job_title", "department", "activities", "created_on"]

    key_query = "query($id: ID!) { privacyExtractMappingKey(extractId: $id) }"
    denied = await api.post(key_query, {"id": created["extract"]["id"]}, role="marketing")
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    key = base64.b64decode(
        (await api.graphql(key_query, {"id": created["extract"]["id"]}, role="compliance"))["privacyExtractMappingKey"]
    )
    by_subject = {r["subject"]: r for r in rows}
    first = by_subject[hmac.new(key, f"enishi-extract:{raw_id(people[0]['id'])}".encode(), hashlib.sha256).hexdigest()[:32]]
    assert (first["age"], first["prefecture"], first["activities"]) == ("33", "東京都", "1")  # born 11 June 1990, on 10 June 2024
    assert (
        by_subject[hmac.new(key, f"enishi-extract:{raw_id(people[4]['id'])}".encode(), hashlib.sha256).hexdigest()[:32]]["age"]
        == "30"
    )

    provided = await api.mutate(
        "providePrivacyExtract",
        {"extractId": created["extract"]["id"], "recipient": "株式会社データ分析"},
        EXTRACT,
        role="marketing",
    )
    assert [(e["field"], e["code"]) for e in provided["userErrors"]] == [("extractId", "PSEUDONYMISED_EXTRACT_NOT_PROVIDABLE")]
    assert await _extract_provisions(api) == []


async def test_an_anonymised_extract_keeps_combinations_seen_k_times_and_counts_the_rest(api):
    await _people(api)
    anonymised = await api.mutate(
        "createPrivacyExtract", {"kind": "ANONYMISED", "purpose": "地域別の年代分布"}, EXTRACT, role="marketing"
    )
    assert {k: anonymised["extract"][k] for k in ("k", "rows", "suppressed", "columns")} == {
        "k": 5,
        "rows": 5,
        "suppressed": 2,
        "columns": ["age_band", "prefecture", "activities"],
    }
    rows = _rows((await _download(api, anonymised["url"])).content)
    assert {(r["age_band"], r["prefecture"]) for r in rows} == {("30-39", "東京都")} and len(rows) == 5
    api.clock.advance(minutes=5)
    looser = await api.mutate("createPrivacyExtract", {"kind": "ANONYMISED", "purpose": "x", "k": 2}, EXTRACT, role="marketing")
    assert (looser["extract"]["rows"], looser["extract"]["suppressed"]) == (7, 0)
    rows = _rows((await _download(api, looser["url"])).content)
    assert sorted({(r["age_band"], r["prefecture"]) for r in rows}) == [("30-39", "東京都"), ("40-49", "大阪府")]
    for k in (1, 0):
        refused = await api.mutate(
            "createPrivacyExtract", {"kind": "ANONYMISED", "purpose": "x", "k": k}, EXTRACT, role="marketing"
        )
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("k", "OUT_OF_RANGE")] and refused["extract"] is None
    assert await count_rows(api, "privacy_extract") == 2

    provide = {"extractId": anonymised["extract"]["id"], "recipient": "統計研究所"}
    unknown = await api.mutate("providePrivacyExtract", provide, EXTRACT, role="marketing")
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [("recipient", "UNKNOWN_RECIPIENT")]
    await registered(api, name="統計研究所", kind="THIRD_PARTY", country="DE", transferRoute="ADEQUACY", purpose="統計研究")
    provided = await api.mutate("providePrivacyExtract", provide, EXTRACT, role="marketing")
    assert provided["userErrors"] == [] and provided["extract"]["provisions"] == [{"recipient": "統計研究所"}]
    # One register: the provision is a record like any other, naming no one (APPI Art. 44).
    assert await _extract_provisions(api) == [
        {
            "contactId": None,
            "extractId": anonymised["extract"]["id"],
            "recipient": "統計研究所",
            "country": "DE",
            "purpose": "地域別の年代分布",
            "dataItems": ["age_band", "prefecture", "activities"],
            "basis": "ANONYMISED_INFORMATION",
            "exempt": True,
            "keepUntil": "2027-06-10",
        }
    ]
    key_query = "query($id: ID!) { privacyExtractMappingKey(extractId: $id) }"
    assert (await api.graphql(key_query, {"id": anonymised["extract"]["id"]}, role="compliance"))[
        "privacyExtractMappingKey"
    ] is None
    statement = (await api.graphql("{ appiPublicStatement }", role="compliance"))["appiPublicStatement"]
    assert statement["anonymised_information"] == [  # APPI Art. 43(3)-(4): the items of each made, and provisions
        {"created_on": "2024-06-10", "items": ["age_band", "prefecture", "activities"], "provided_as_csv": 1},
        {"created_on": "2024-06-10", "items": ["age_band", "prefecture", "activities"], "provided_as_csv": 0},
    ]

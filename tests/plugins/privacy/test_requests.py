"""Data-subject requests over GraphQL: intake with a one-time code, deadlines and extensions,
every request type, restriction, and the access export with a section per plugin."""

import io
import json
import zipfile

import pytest

from tests.helpers import create_account, create_contact, log_activity, root_fields_added_by
from tests.plugins.privacy.helpers import (
    PRIVACY_FIELDS,
    NotesPlugin,
    act,
    error_codes,
    intake,
    mailed_codes,
    raw_id,
    run_request,
    submit,
    verify_code,
)


async def test_every_privacy_root_field_has_a_permission_decision(enishi_api, api):
    assert await root_fields_added_by(enishi_api, "privacy") == set(PRIVACY_FIELDS)
    denied = await api.errors("{ dataSubjectRequests { edges { node { id } } } }", role="support")
    assert denied[0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await api.client.post("/graphql", json={"query": "{ dataSubjectRequests { edges { node { id } } } }"})
    assert anonymous.json()["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")


async def test_gdpr_deadline_is_one_calendar_month_extended_once_appi_is_configurable(api):
    person = await create_contact(api, familyName="期限")
    leap = await intake(api, person["id"], "access", "2024-01-31T03:00:00+00:00")  # 12:00 in Tokyo
    plain = await intake(api, person["id"], "erasure", "2023-01-31T14:30:00+00:00")  # 23:30 on 31 January in Tokyo
    appi = await intake(api, person["id"], "appi_disclosure")
    assert (leap["regime"], leap["dueDate"], leap["overdue"]) == ("gdpr", "2024-02-29", True)
    assert (plain["dueDate"], appi["regime"], appi["dueDate"], appi["daysLeft"]) == ("2023-02-28", "appi", "2024-06-24", 14)
    assert leap["status"] == "pending_review" and leap["daysLeft"] < 0
    extended = await act(api, "extendDataSubjectRequest", leap["id"], months=2, reason="複数の事業所に照会が必要")
    assert extended["request"]["dueDate"] == "2024-04-30" and extended["request"]["extended"]
    again = await act(api, "extendDataSubjectRequest", leap["id"], months=1, reason="more")
    assert again["userErrors"] == [{"field": "id", "code": "ALREADY_EXTENDED"}]
    assert (await act(api, "extendDataSubjectRequest", appi["id"], months=1, reason="x"))["userErrors"][0][
        "code"
    ] == "NOT_ALLOWED"
    assert (await act(api, "extendDataSubjectRequest", plain["id"], months=3, reason="x"))["userErrors"][0][
        "code"
    ] == "OUT_OF_RANGE"
    overdue = await api.graphql(
        "{ dataSubjectRequests(filter: {overdue: true}) { edges { node { id dueDate } } } }", role="compliance"
    )
    assert [e["node"]["id"] for e in overdue["dataSubjectRequests"]["edges"]] == [
        plain["id"],
        leap["id"],
    ]  # soonest deadline first
    denied = await act(api, "denyDataSubjectRequest", plain["id"], reason="")
    assert denied["userErrors"] == [{"field": "reason", "code": "REQUIRED"}]
    denied = await act(api, "denyDataSubjectRequest", plain["id"], reason="Art. 17(3)(b): 法令上の保存義務")
    assert denied["request"]["status"] == "denied" and not denied["request"]["overdue"]


async def test_appi_working_deadline_is_a_setting(enishi_api):
    api = await enishi_api(extra={"privacy_appi_response_days": 7})
    person = await create_contact(api, familyName="設定")
    assert (await intake(api, person["id"], "appi_stop_use"))["dueDate"] == "2024-06-17"


async def test_subject_intake_answers_the_same_for_unknown_addresses_and_limits_attempts(api, enishi_sent_mail):
    person = await create_contact(api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}])
    known = await submit(api, type="access", email="Ｔａｒｏ＠ＡＢＣ.co.jp")  # full-width input finds the address
    unknown = await submit(api, type="access", email="nobody@example.com")
    assert known["message"] == unknown["message"] and set(known) == set(unknown) == {"requestId", "message"}
    codes = await mailed_codes(api, enishi_sent_mail)
    assert list(codes) == [raw_id(known["requestId"])]  # a code goes out only to a known address
    assert [m["To"] for m in enishi_sent_mail().values() if codes[raw_id(known["requestId"])] in m.get_content()] == [
        "taro@abc.co.jp"
    ]
    code = codes[raw_id(known["requestId"])]
    wrong = await verify_code(api, known["requestId"], "000000" if code != "000000" else "111111", status=422)
    assert error_codes(wrong) == {"INVALID_CODE"}
    assert (await verify_code(api, known["requestId"], code))["verified"] is True
    state = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status channel contact { id } history { status } } } }",
        {"id": known["requestId"]},
        role="compliance",
    )
    assert (state["node"]["status"], state["node"]["channel"], state["node"]["contact"]["id"]) == (
        "pending_review",
        "web",
        person["id"],
    )
    assert [h["status"] for h in state["node"]["history"]] == ["identity_unverified", "pending_review"]
    assert error_codes(await verify_code(api, known["requestId"], code, status=422)) == {"INVALID_CODE"}  # a code works once
    for _ in range(5):
        assert error_codes(await verify_code(api, unknown["requestId"], "123456", status=422)) == {"INVALID_CODE"}
    locked = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status } } }",
        {"id": unknown["requestId"]},
        role="compliance",
    )
    assert locked["node"]["status"] == "canceled"
    for _ in range(2):
        await submit(api, type="erasure", email="taro@abc.co.jp")
    assert error_codes(await submit(api, status=429, type="erasure", email="TARO@abc.co.jp")) == {"RATE_LIMITED"}
    assert error_codes(await submit(api, status=422, type="everything", email="not-an-address")) == {
        "INVALID_CHOICE",
        "INVALID_EMAIL",
    }
    assert error_codes(await submit(api, status=422, email="someone@example.jp")) == {"REQUIRED"}
    assert (await api.client.post("/privacy/requests", content=b"[1, 2]")).status_code == 400
    assert error_codes(await verify_code(api, "not-an-id", "1", status=422)) == {"INVALID_ID"}


SUBMIT = """mutation($input: SubmitDataSubjectRequestInput!) { submitDataSubjectRequest(input: $input) {
    requestId message userErrors { field code } } }"""
VERIFY = """mutation($input: VerifyDataSubjectRequestInput!) { verifyDataSubjectRequest(input: $input) {
    verified userErrors { field code } } }"""


async def test_subject_intake_through_the_public_graphql_mutations_needs_no_token(api, enishi_sent_mail):
    await create_contact(api, familyName="公開", emails=[{"address": "hanako@example.jp"}])

    async def anonymous(query, variables):
        response = await api.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    known = (await anonymous(SUBMIT, {"input": {"type": "erasure", "email": "HANAKO@example.jp"}}))["submitDataSubjectRequest"]
    unknown = (await anonymous(SUBMIT, {"input": {"type": "erasure", "email": "nobody@example.jp"}}))["submitDataSubjectRequest"]
    assert known["message"] == unknown["message"] and known["userErrors"] == unknown["userErrors"] == []
    invalid = (await anonymous(SUBMIT, {"input": {"type": "everything", "email": "x"}}))["submitDataSubjectRequest"]
    assert invalid["requestId"] is None and {(e["field"], e["code"]) for e in invalid["userErrors"]} == {
        ("type", "INVALID_CHOICE"),
        ("email", "INVALID_EMAIL"),
    }
    code = (await mailed_codes(api, enishi_sent_mail))[raw_id(known["requestId"])]
    wrong = (await anonymous(VERIFY, {"input": {"requestId": known["requestId"], "code": "x"}}))["verifyDataSubjectRequest"]
    assert wrong == {"verified": False, "userErrors": [{"field": "code", "code": "INVALID_CODE"}]}
    right = (await anonymous(VERIFY, {"input": {"requestId": known["requestId"], "code": code}}))["verifyDataSubjectRequest"]
    assert right == {"verified": True, "userErrors": []}
    state = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status channel } } }",
        {"id": known["requestId"]},
        role="compliance",
    )
    assert state["node"] == {"status": "pending_review", "channel": "web"}
    assert (await api.client.post("/graphql", json={"query": "{ contacts { totalCount } }"})).status_code == 401


async def test_expired_code_is_refused(api, enishi_sent_mail):
    await create_contact(api, familyName="遅延", emails=[{"address": "late@example.jp"}])
    submitted = await submit(api, type="portability", email="late@example.jp")
    api.clock.advance(hours=25)
    code = (await mailed_codes(api, enishi_sent_mail))[raw_id(submitted["requestId"])]
    assert error_codes(await verify_code(api, submitted["requestId"], code, status=422)) == {"CODE_EXPIRED"}


async def test_objection_to_direct_marketing_needs_no_review(api, enishi_sent_mail):
    person = await create_contact(api, familyName="異議", emails=[{"address": "objector@example.jp"}])
    await api.mutate(
        "recordConsent", {"contactId": person["id"], "purpose": "marketing", "state": "granted"}, "consent { state }"
    )
    submitted = await submit(api, type="objection", email="objector@example.jp")
    await verify_code(api, submitted["requestId"], (await mailed_codes(api, enishi_sent_mail))[raw_id(submitted["requestId"])])
    state = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status } } }",
        {"id": submitted["requestId"]},
        role="compliance",
    )
    assert state["node"]["status"] == "completed"
    history = await api.graphql("query($id: ID!) { consentHistory(contactId: $id) { state source } }", {"id": person["id"]})
    assert history["consentHistory"][-1] == {"state": "withdrawn", "source": "dsr"}
    by_phone = await intake(api, person["id"], "objection")
    assert by_phone["status"] == "completed"
    assert (await act(api, "denyDataSubjectRequest", by_phone["id"], reason="no"))["userErrors"][0]["code"] == "INVALID_STATUS"


@pytest.mark.parametrize(
    ("request_type", "final_status"),
    [
        ("access", "completed"),
        ("portability", "completed"),
        ("appi_disclosure", "completed"),
        ("rectification", "awaiting_manual"),
        ("restriction", "completed"),
        ("appi_stop_use", "completed"),
        ("appi_stop_provision", "completed"),
        ("erasure", "completed"),
    ],
)
async def test_each_request_type_end_to_end(api, request_type, final_status):
    person = await create_contact(api, familyName="種別", emails=[{"address": f"{request_type}@example.jp"}])
    request = await intake(api, person["id"], request_type, details="姓の漢字が違います: 斉藤 → 齋藤")
    assert request["dueDate"] == ("2024-06-24" if request_type.startswith("appi") else "2024-07-10")
    done = await run_request(api, request["id"])
    assert done["status"] == final_status and [h["status"] for h in done["history"]][-2:] == ["in_progress", final_status]
    assert {e["format"] for e in done["exports"]} == (
        {"json", "zip"} if request_type in ("access", "portability", "appi_disclosure") else set()
    )
    if request_type == "rectification":
        details = await api.graphql(
            "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { details } } }",
            {"id": request["id"]},
            role="compliance",
        )
        assert details["node"]["details"]["details"] == "姓の漢字が違います: 斉藤 → 齋藤"
        fixed = await api.mutate("updateContact", {"id": person["id"], "familyName": "齋藤"}, "contact { familyName }")
        assert fixed["contact"] == {"familyName": "齋藤"}
        closed = await act(api, "completeDataSubjectRequest", request["id"], note="姓を訂正")
        assert closed["request"]["status"] == "completed"
    if request_type == "appi_stop_provision":
        history = await api.graphql("query($id: ID!) { consentHistory(contactId: $id) { purpose state } }", {"id": person["id"]})
        assert history["consentHistory"] == [{"purpose": "third_party_provision", "state": "withdrawn"}]
    again = await act(api, "executeDataSubjectRequest", request["id"])
    assert again["userErrors"] == [{"field": "id", "code": "INVALID_STATUS"}]


async def test_access_export_has_a_section_per_plugin_and_downloads_once(enishi_api):
    notes = NotesPlugin()
    api = await enishi_api(plugins=[("notes", notes)])
    account = await create_account(api, name="ABC株式会社")
    person = await create_contact(
        api,
        familyName="山田",
        givenName="太郎",
        familyNameKana="ヤマダ",
        givenNameKana="タロウ",
        emails=[{"address": "Taro@ABC.co.jp"}],
        accounts=[{"accountId": account["id"]}],
    )
    other = await create_contact(api, familyName="佐藤", givenName="花子", accounts=[{"accountId": account["id"]}])
    notes.notes[raw_id(person["id"])] = ['=HYPERLINK("http://evil")', "展示会で名刺交換"]
    await log_activity(api, summary="山田様と電話", contactIds=[person["id"]])
    await log_activity(api, type="meeting", summary="定例会議", body="議事録", contactIds=[person["id"], other["id"]])
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    for purpose in ("marketing", "third_party_provision"):
        await api.mutate(
            "recordConsent", {"contactId": person["id"], "purpose": purpose, "state": "granted"}, "consent { state }"
        )
    await api.mutate(
        "registerRecipient",
        {"name": "広告代理店 株式会社エージェント", "kind": "THIRD_PARTY", "country": "JP", "purpose": "広告配信"},
        "recipient { id }",
        role="compliance",
    )
    shared = await api.mutate(
        "exportAudience",
        {"destination": "広告代理店 株式会社エージェント", "thirdParty": True},
        "excludedWithoutConsent",
        role="marketing",
    )
    assert shared["userErrors"] == []
    request = await intake(api, person["id"], "appi_disclosure")
    done = await run_request(api, request["id"])
    assert done["status"] == "completed"
    assert {r["plugin"]: r["status"] for r in done["runs"]}.items() >= {
        "core": "done",
        "privacy": "done",
        "notes": "done",
    }.items()
    url = (
        await api.graphql(
            'mutation($id: ID!) { dataSubjectExportLink(requestId: $id, format: "json") { url userErrors { code } } }',
            {"id": request["id"]},
            role="compliance",
        )
    )["dataSubjectExportLink"]["url"]
    response = await api.client.get(url)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    doc = response.json()
    assert doc["schema"] == "enishi.dsr-export/1" and doc["request"]["regime"] == "appi"
    assert set(doc["sections"]) == {"core", "privacy", "notes", "insights"}  # insights: the person's health score
    assert doc["sections"]["core"]["contact"]["family_name_kana"] == "ヤマダ"
    assert doc["sections"]["core"]["emails"] == [{"address": "Taro@ABC.co.jp", "label": None, "primary": True}]
    # APPI 第33条第5項: the provision records, with what was provided, on which basis, kept how long.
    (provision,) = doc["sections"]["privacy"]["third_party_provisions"]
    assert {k: v for k, v in provision.items() if k not in ("provided_at", "keep_until")} == {
        "recipient": "広告代理店 株式会社エージェント",
        "country": "JP",
        "purpose": "marketing",
        "data_items": ["name", "email", "phone", "company", "buying_role"],
        "basis": "consent",
        "legal_ground": None,
        "exempt": False,
    }
    assert doc["metadata"]["recipients"] == ["広告代理店 株式会社エージェント"] and "crm" in doc["metadata"]["purposes"]
    assert "佐藤" not in json.dumps(doc, ensure_ascii=False)  # the co-attendee of the meeting is not disclosed
    assert (await api.client.get(url)).status_code == 410  # single use
    zipped = (
        await api.graphql(
            'mutation($id: ID!) { dataSubjectExportLink(requestId: $id, format: "zip") { url } }',
            {"id": request["id"]},
            role="compliance",
        )
    )["dataSubjectExportLink"]["url"]
    archive = zipfile.ZipFile(io.BytesIO((await api.client.get(zipped)).content))
    contact_csv = archive.read("core/contact.csv").decode("utf-8")
    assert contact_csv.startswith("\ufeff") and "ヤマダ" in contact_csv
    assert "'=HYPERLINK" in archive.read("notes/notes.csv").decode("utf-8")  # no formula runs in Excel
    again = await api.graphql(
        'mutation($id: ID!) { dataSubjectExportLink(requestId: $id, format: "json") { url userErrors { code } } }',
        {"id": request["id"]},
        role="compliance",
    )
    assert again["dataSubjectExportLink"]["userErrors"] == [{"code": "ALREADY_DOWNLOADED"}]
    log = await api.graphql(
        "query($id: ID!) { accessLog(contactId: $id) { action roles user { displayName } } }",
        {"id": person["id"]},
        role="compliance",
    )
    exports = [e for e in log["accessLog"] if e["action"].startswith("dsr_")]
    assert [e["action"] for e in exports] == ["dsr_export_prepared", "dsr_export_downloaded", "dsr_export_downloaded"]
    assert exports[0]["roles"] == ["compliance"]


async def test_restriction_allows_only_storage_and_dsr_work(api):
    account = await create_account(api, name="制限テスト")
    person = await create_contact(api, familyName="制限", accounts=[{"accountId": account["id"]}])
    await api.mutate(
        "recordConsent", {"contactId": person["id"], "purpose": "marketing", "state": "granted"}, "consent { state }"
    )
    await run_request(api, (await intake(api, person["id"], "restriction"))["id"])
    update = await api.mutate("updateContact", {"id": person["id"], "jobTitle": "部長"}, "contact { jobTitle }")
    assert update["userErrors"][0]["code"] == "RESTRICTED"
    logged = await api.mutate(
        "logActivity", {"type": "call", "summary": "営業電話", "contactIds": [person["id"]]}, "activity { id }"
    )
    assert logged["userErrors"][0]["code"] == "RESTRICTED"
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    audience = await api.mutate("exportAudience", {"destination": "MA tool"}, "excludedWithoutConsent", role="marketing")
    assert audience["excludedWithoutConsent"] == 1
    access = await run_request(api, (await intake(api, person["id"], "access"))["id"])  # DSR work goes on
    assert access["status"] == "completed"
    lifted = await api.graphql(
        "mutation($id: ID!) { liftRestriction(contactId: $id) { contactId userErrors { code } } }",
        {"id": person["id"]},
        role="compliance",
    )
    assert lifted["liftRestriction"] == {"contactId": person["id"], "userErrors": []}
    update = await api.mutate("updateContact", {"id": person["id"], "jobTitle": "部長"}, "contact { jobTitle }")
    assert update["userErrors"] == []


async def test_a_receipt_time_without_an_offset_is_a_user_error_and_records_nothing(api):
    # Found by the fuzzer: compared with the clock's aware "now", a naive time raised TypeError (INTERNAL).
    contact = await create_contact(api, familyName="山田")
    payload = await api.mutate(
        "createDataSubjectRequest",
        {
            "contactId": contact["id"],
            "type": "access",
            "channel": "phone",
            "verificationNote": "本人確認済み",
            "receivedAt": "2024-06-01T10:00:00",
        },
        "request { id }",
        role="support",
    )
    assert payload == {
        "request": None,
        "userErrors": [{"field": "receivedAt", "message": "needs a time zone offset", "code": "NAIVE_DATETIME"}],
    }
    assert (await api.graphql("{ dataSubjectRequests(first: 5) { totalCount } }"))["dataSubjectRequests"]["totalCount"] == 0

"""Data-subject requests end to end over GraphQL: intake with a one-time code, deadlines and
extensions, every request type, exports with a section per plugin, erasure that leaves nothing
behind (tables, raw SQLite file and WAL), a failing plugin and its retry, legal holds,
restriction, and the hash-chained access log."""

import base64
import datetime as dt
import io
import json
import re
import uuid
import zipfile

import pytest
from sqlalchemy import text

from enishi import ErasureReport, hookimpl
from enishi.outbox import deliver_pending
from enishi.worker import run_due_jobs
from tests.helpers import create_account, create_contact, file_hits, log_activity, root_fields_added_by, table_hits
from tests.plugins.loyalty.helpers import program

REQUEST = (
    "id status type regime dueDate daysLeft overdue extended "
    "runs { plugin action status attempts affected retained error } history { status note } exports { format downloadedAt }"
)
PRIVACY_FIELDS = {
    "Query.consentHistory": "privacy.consent.read",
    "Query.consentWithdrawalLink": "privacy.consent.write",
    "Mutation.recordConsent": "privacy.consent.write",
    "Mutation.withdrawConsent": "privacy.consent.write",
    "Query.dataSubjectRequests": "privacy.request.manage",
    "Query.legalHolds": "privacy.request.manage",
    "Query.legalHoldTypes": "privacy.request.manage",
    "Query.accessLog": "privacy.audit",
    "Query.verifyAccessLog": "privacy.audit",
    "Query.incidents": "privacy.incident.manage",
    "Query.complianceDeadlines": "privacy.incident.manage",
    **dict.fromkeys(
        (
            "Query.retentionEntities",
            "Query.retentionRules",
            "Query.retentionPreview",
            "Query.retentionRuns",
            "Mutation.createRetentionRule",
            "Mutation.updateRetentionRule",
            "Mutation.deleteRetentionRule",
            "Mutation.runRetentionSweep",
        ),
        "privacy.retention.manage",
    ),
    "Query.recordsOfProcessingReport": "privacy.report.read",
    "Query.appiPublicStatement": "privacy.report.read",
    "Mutation.privacyReportLink": "privacy.report.read",
    "Query.privacyExtracts": "privacy.extract.create",
    "Mutation.createPrivacyExtract": "privacy.extract.create",
    "Mutation.providePrivacyExtract": "privacy.extract.create",
    "Query.privacyExtractMappingKey": "privacy.extract.key",
    **{
        f"Mutation.{name}": "privacy.incident.manage"
        for name in (
            "createIncident",
            "recordIncidentReport",
            "updateIncidentStatus",
            "addIncidentSubjectsFromAccessLog",
            "notifyIncidentSubjects",
        )
    },
    "Mutation.createDataSubjectRequest": "privacy.request.intake",
    "Mutation.submitDataSubjectRequest": "public",
    "Mutation.verifyDataSubjectRequest": "public",
    **{
        f"Mutation.{name}": "privacy.request.manage"
        for name in (
            "approveDataSubjectRequest",
            "denyDataSubjectRequest",
            "cancelDataSubjectRequest",
            "extendDataSubjectRequest",
            "executeDataSubjectRequest",
            "retryDataSubjectRequest",
            "completeDataSubjectRequest",
            "dataSubjectExportLink",
            "placeLegalHold",
            "releaseLegalHold",
            "liftRestriction",
        )
    },
    **dict.fromkeys(
        (
            "Query.provisionRecipients",
            "Query.provisionRecords",
            "Query.crossBorderConsents",
            "Mutation.registerRecipient",
            "Mutation.updateRecipient",
            "Mutation.recordProvision",
            "Mutation.recordCrossBorderConsent",
        ),
        "privacy.provision.manage",
    ),
    "Query.sensitiveFields": "privacy.sensitive.manage",
    "Mutation.markFieldSensitive": "privacy.sensitive.manage",
    "Mutation.recordLegalGround": "privacy.sensitive.manage",
}


class NotesPlugin:
    """A third-party plugin holding personal data of its own (in memory), whose erasure can fail."""

    def __init__(self):
        self.notes: dict[uuid.UUID, list[str]] = {}
        self.failures_left = 0

    @hookimpl
    def enishi_subject_collect(self, uow, subject):
        return {"notes": self.notes[subject.contact_id]} if subject.contact_id in self.notes else None

    @hookimpl
    def enishi_subject_erase(self, uow, subject):
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("CRM sync refused the erasure of 山田 太郎 <taro@abc.co.jp>")
        report = ErasureReport("notes")
        report.add("notes", "delete", len(self.notes.pop(subject.contact_id, [])))
        return report


def _raw(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":")[1])


async def _intake(api, contact_id, type, received_at=None, **extra):
    payload = await api.mutate(
        "createDataSubjectRequest",
        {
            "contactId": contact_id,
            "type": type,
            "channel": "phone",
            "verificationNote": "生年月日と住所で本人確認",
            "receivedAt": received_at,
            **extra,
        },
        f"request {{ {REQUEST} }}",
        role="support",
    )
    assert payload["userErrors"] == [], payload
    return payload["request"]


async def _act(api, mutation, request_id, **args):
    arguments = ", ".join(f"{k}: ${k}" for k in ("id", *args))
    types = ", ".join(f"${k}: {'Int!' if isinstance(v, int) else 'String!'}" for k, v in args.items())
    query = (
        f"mutation($id: ID!{', ' + types if types else ''}) "
        f"{{ {mutation}({arguments}) {{ request {{ {REQUEST} }} userErrors {{ field code }} }} }}"
    )
    return (await api.graphql(query, {"id": request_id, **args}, role="compliance"))[mutation]


async def _run(api, request_id):
    assert (await _act(api, "approveDataSubjectRequest", request_id))["userErrors"] == []
    payload = await _act(api, "executeDataSubjectRequest", request_id)
    assert payload["userErrors"] == [], payload
    return payload["request"]


async def _submit(api, status=202, **body):
    """The subject's own request: plain HTTP, no login (like the withdrawal and survey links)."""
    response = await api.client.post("/privacy/requests", json=body)
    assert response.status_code == status, response.text
    return response.json()


async def _verify(api, request_id, code, status=200):
    response = await api.client.post(f"/privacy/requests/{request_id}/verify", json={"code": code})
    assert response.status_code == status, response.text
    return response.json()


def _codes_of(answer) -> set[str]:
    return {e["code"] for e in answer["errors"]}


async def _codes(api, sent_mail) -> dict:
    """The one-time codes mailed so far, by request: the worker's outbox job delivers them."""
    await deliver_pending(api.runtime)
    async with api.runtime.read_session() as session:
        rows = (
            await session.execute(
                text("SELECT id, entity_id, payload FROM core_outbox WHERE type = 'privacy.verification_code_issued'")
            )
        ).all()
    mails = sent_mail()
    codes = {}
    for event_id, request_id, payload in rows:
        assert "_code" not in (payload if isinstance(payload, dict) else json.loads(payload))  # forgotten once delivered
        code = re.search(
            r"Your verification code for your data request: (\d+)", mails[str(uuid.UUID(str(event_id)))].get_content()
        )
        assert code, "the mail carries the code"
        codes[uuid.UUID(str(request_id))] = code.group(1)
    return codes


async def test_every_privacy_root_field_has_a_permission_decision(enishi_api, api):
    assert await root_fields_added_by(enishi_api, "privacy") == set(PRIVACY_FIELDS)
    denied = await api.errors("{ dataSubjectRequests { edges { node { id } } } }", role="support")
    assert denied[0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await api.client.post("/graphql", json={"query": "{ dataSubjectRequests { edges { node { id } } } }"})
    assert anonymous.json()["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")


async def test_gdpr_deadline_is_one_calendar_month_extended_once_appi_is_configurable(api):
    person = await create_contact(api, familyName="期限")
    leap = await _intake(api, person["id"], "access", "2024-01-31T03:00:00+00:00")  # 12:00 in Tokyo
    plain = await _intake(api, person["id"], "erasure", "2023-01-31T14:30:00+00:00")  # 23:30 on 31 January in Tokyo
    appi = await _intake(api, person["id"], "appi_disclosure")
    assert (leap["regime"], leap["dueDate"], leap["overdue"]) == ("gdpr", "2024-02-29", True)
    assert (plain["dueDate"], appi["regime"], appi["dueDate"], appi["daysLeft"]) == ("2023-02-28", "appi", "2024-06-24", 14)
    assert leap["status"] == "pending_review" and leap["daysLeft"] < 0
    extended = await _act(api, "extendDataSubjectRequest", leap["id"], months=2, reason="複数の事業所に照会が必要")
    assert extended["request"]["dueDate"] == "2024-04-30" and extended["request"]["extended"]
    again = await _act(api, "extendDataSubjectRequest", leap["id"], months=1, reason="more")
    assert again["userErrors"] == [{"field": "id", "code": "ALREADY_EXTENDED"}]
    assert (await _act(api, "extendDataSubjectRequest", appi["id"], months=1, reason="x"))["userErrors"][0][
        "code"
    ] == "NOT_ALLOWED"
    assert (await _act(api, "extendDataSubjectRequest", plain["id"], months=3, reason="x"))["userErrors"][0][
        "code"
    ] == "OUT_OF_RANGE"
    overdue = await api.graphql(
        "{ dataSubjectRequests(filter: {overdue: true}) { edges { node { id dueDate } } } }", role="compliance"
    )
    assert [e["node"]["id"] for e in overdue["dataSubjectRequests"]["edges"]] == [
        plain["id"],
        leap["id"],
    ]  # soonest deadline first
    denied = await _act(api, "denyDataSubjectRequest", plain["id"], reason="")
    assert denied["userErrors"] == [{"field": "reason", "code": "REQUIRED"}]
    denied = await _act(api, "denyDataSubjectRequest", plain["id"], reason="Art. 17(3)(b): 法令上の保存義務")
    assert denied["request"]["status"] == "denied" and not denied["request"]["overdue"]


async def test_appi_working_deadline_is_a_setting(enishi_api):
    api = await enishi_api(extra={"privacy_appi_response_days": 7})
    person = await create_contact(api, familyName="設定")
    assert (await _intake(api, person["id"], "appi_stop_use"))["dueDate"] == "2024-06-17"


async def test_subject_intake_answers_the_same_for_unknown_addresses_and_limits_attempts(api, enishi_sent_mail):
    person = await create_contact(api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}])
    known = await _submit(api, type="access", email="Ｔａｒｏ＠ＡＢＣ.co.jp")  # full-width input finds the address
    unknown = await _submit(api, type="access", email="nobody@example.com")
    assert known["message"] == unknown["message"] and set(known) == set(unknown) == {"requestId", "message"}
    codes = await _codes(api, enishi_sent_mail)
    assert list(codes) == [_raw(known["requestId"])]  # a code goes out only to a known address
    assert [m["To"] for m in enishi_sent_mail().values() if codes[_raw(known["requestId"])] in m.get_content()] == [
        "taro@abc.co.jp"
    ]
    code = codes[_raw(known["requestId"])]
    wrong = await _verify(api, known["requestId"], "000000" if code != "000000" else "111111", status=422)
    assert _codes_of(wrong) == {"INVALID_CODE"}
    assert (await _verify(api, known["requestId"], code))["verified"] is True
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
    assert _codes_of(await _verify(api, known["requestId"], code, status=422)) == {"INVALID_CODE"}  # a code works once
    for _ in range(5):
        assert _codes_of(await _verify(api, unknown["requestId"], "123456", status=422)) == {"INVALID_CODE"}
    locked = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status } } }",
        {"id": unknown["requestId"]},
        role="compliance",
    )
    assert locked["node"]["status"] == "canceled"
    for _ in range(2):
        await _submit(api, type="erasure", email="taro@abc.co.jp")
    assert _codes_of(await _submit(api, status=429, type="erasure", email="TARO@abc.co.jp")) == {"RATE_LIMITED"}
    assert _codes_of(await _submit(api, status=422, type="everything", email="not-an-address")) == {
        "INVALID_CHOICE",
        "INVALID_EMAIL",
    }
    assert _codes_of(await _submit(api, status=422, email="someone@example.jp")) == {"REQUIRED"}
    assert (await api.client.post("/privacy/requests", content=b"[1, 2]")).status_code == 400
    assert _codes_of(await _verify(api, "not-an-id", "1", status=422)) == {"INVALID_ID"}


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
    code = (await _codes(api, enishi_sent_mail))[_raw(known["requestId"])]
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
    submitted = await _submit(api, type="portability", email="late@example.jp")
    api.clock.advance(hours=25)
    code = (await _codes(api, enishi_sent_mail))[_raw(submitted["requestId"])]
    assert _codes_of(await _verify(api, submitted["requestId"], code, status=422)) == {"CODE_EXPIRED"}


async def test_objection_to_direct_marketing_needs_no_review(api, enishi_sent_mail):
    person = await create_contact(api, familyName="異議", emails=[{"address": "objector@example.jp"}])
    await api.mutate(
        "recordConsent", {"contactId": person["id"], "purpose": "marketing", "state": "granted"}, "consent { state }"
    )
    submitted = await _submit(api, type="objection", email="objector@example.jp")
    await _verify(api, submitted["requestId"], (await _codes(api, enishi_sent_mail))[_raw(submitted["requestId"])])
    state = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status } } }",
        {"id": submitted["requestId"]},
        role="compliance",
    )
    assert state["node"]["status"] == "completed"
    history = await api.graphql("query($id: ID!) { consentHistory(contactId: $id) { state source } }", {"id": person["id"]})
    assert history["consentHistory"][-1] == {"state": "withdrawn", "source": "dsr"}
    by_phone = await _intake(api, person["id"], "objection")
    assert by_phone["status"] == "completed"
    assert (await _act(api, "denyDataSubjectRequest", by_phone["id"], reason="no"))["userErrors"][0]["code"] == "INVALID_STATUS"


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
    request = await _intake(api, person["id"], request_type, details="姓の漢字が違います: 斉藤 → 齋藤")
    assert request["dueDate"] == ("2024-06-24" if request_type.startswith("appi") else "2024-07-10")
    done = await _run(api, request["id"])
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
        closed = await _act(api, "completeDataSubjectRequest", request["id"], note="姓を訂正")
        assert closed["request"]["status"] == "completed"
    if request_type == "appi_stop_provision":
        history = await api.graphql("query($id: ID!) { consentHistory(contactId: $id) { purpose state } }", {"id": person["id"]})
        assert history["consentHistory"] == [{"purpose": "third_party_provision", "state": "withdrawn"}]
    again = await _act(api, "executeDataSubjectRequest", request["id"])
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
    notes.notes[_raw(person["id"])] = ['=HYPERLINK("http://evil")', "展示会で名刺交換"]
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
    request = await _intake(api, person["id"], "appi_disclosure")
    done = await _run(api, request["id"])
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
    assert set(doc["sections"]) == {"core", "privacy", "notes"}
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


async def test_erasure_leaves_nothing_behind_and_a_failed_plugin_is_retried(enishi_api, enishi_fresh_migrated, tmp_path):
    notes = NotesPlugin()
    # The server's home holds everything it writes: the database (on SQLite) and the mail folder.
    api = await enishi_api(plugins=[("notes", notes)], database_url=enishi_fresh_migrated, mail_url=(tmp_path / "mail").as_uri())
    account = await create_account(api, name="ABC株式会社")
    person = await create_contact(
        api,
        familyName="山田",
        givenName="太郎",
        familyNameKana="ヤマダ",
        givenNameKana="タロウ",
        emails=[{"address": "Taro@ABC.co.jp"}],
        phones=[{"number": "０３－１２３４－５６７８"}],
        accounts=[{"accountId": account["id"]}],
        customFields={"宛名": "山田 太郎 様", "携帯": "03-1234-5678"},
    )
    other = await create_contact(
        api,
        familyName="佐藤",
        givenName="花子",
        emails=[{"address": "hanako@xyz.co.jp"}],
        phones=[{"number": "06-9876-5432"}],
        accounts=[{"accountId": account["id"]}],
    )
    notes.notes[_raw(person["id"])] = ["山田 太郎さんは Excel で管理"]
    call = await log_activity(
        api,
        summary="山田 太郎様と電話 (03-1234-5678)",
        body="taro@abc.co.jp に資料送付",
        contactIds=[person["id"]],
        accountIds=[account["id"]],
    )
    meeting = await log_activity(api, type="meeting", summary="定例会議", body="議事録", contactIds=[person["id"], other["id"]])
    await api.mutate("createTask", {"title": "山田様へ折り返し", "contactId": person["id"]}, "task { id }")
    ticket = await api.mutate(
        "createTicket",
        {"subject": "請求書について", "body": "山田です。電話は 03-1234-5678 まで", "requesterId": person["id"]},
        "ticket { id }",
        role="support",
    )
    await api.mutate(
        "replyToTicket",
        {"ticketId": ticket["ticket"]["id"], "body": "山田様、お問い合わせありがとうございます"},
        "ticket { id }",
        role="support",
    )
    program_id = await program(api)
    await api.mutate("enrollMember", {"programId": program_id, "contactId": person["id"]}, "member { id }")
    await api.mutate(
        "recordConsent",
        {"contactId": person["id"], "purpose": "marketing", "state": "granted", "evidence": "フォーム: 山田 太郎 taro@abc.co.jp"},
        "consent { state }",
    )
    access = await _intake(api, person["id"], "access", details="山田 太郎 本人より電話")
    await _run(api, access["id"])  # an export exists too, and must go with the rest
    await _submit(api, type="access", email="taro@abc.co.jp")  # the verification code is mailed to them
    await deliver_pending(api.runtime)
    # The scans read every table and the raw files: they find what is stored in clear (a company name)…
    assert set(await table_hits(api.runtime, ["ABC株式会社"])) == {"core_account"}
    # …and not one spelling of the person, even before the erasure: names, kana, emails, phones,
    # custom fields, activity text, task titles and ticket text are sealed. Only the mail the file
    # transport kept names them, filed under their id.
    assert await table_hits(api.runtime) == {}
    mailed = file_hits(tmp_path)
    assert [path.split("/")[:2] for path in mailed] == [["mail", str(_raw(person["id"]))]]
    assert mailed.popitem()[1] == {"taro@abc.co.jp", "Taro@ABC.co.jp"}
    if enishi_fresh_migrated.startswith("sqlite"):
        company = set(file_hits(tmp_path, ["ABC株式会社"]))
        assert company and company <= {"fresh.db", "fresh.db-wal"}

    notes.failures_left = 1
    erasure = await _intake(api, person["id"], "erasure")
    failed = await _run(api, erasure["id"])
    runs = {r["plugin"]: r for r in failed["runs"]}
    assert failed["status"] == "failed" and runs["notes"]["status"] == "failed"
    assert runs["notes"]["error"] == "RuntimeError"  # the kind only: the message quoted the person
    assert runs["core"]["status"] == "done" and runs["privacy"]["status"] == "done"
    assert (await _act(api, "executeDataSubjectRequest", erasure["id"]))["userErrors"][0]["code"] == "INVALID_STATUS"
    retried = (await _act(api, "retryDataSubjectRequest", erasure["id"]))["request"]
    runs = {r["plugin"]: r for r in retried["runs"]}
    assert retried["status"] == "completed"
    assert (runs["notes"]["attempts"], runs["core"]["attempts"]) == (2, 1)  # only the failed part ran again
    assert runs["notes"]["affected"] == {"notes:delete": 1} and runs["core"]["affected"]["core_contact:anonymise"] == 1
    assert runs["support"]["affected"]["support_ticket:shred"] == 1
    assert notes.notes == {}

    assert runs["core"]["affected"]["mail:delete"] == 1
    assert await table_hits(api.runtime) == {}
    assert file_hits(tmp_path) == {}
    # The access log records the erasure itself: who ran it (and retried it), which request; ids only.
    log = await api.graphql(
        "query($id: ID!) { accessLog(contactId: $id) { action purpose roles user { displayName } } }",
        {"id": person["id"]},
        role="compliance",
    )
    executed = [e for e in log["accessLog"] if e["action"] == "dsr_erasure_executed"]
    purpose = f"data-subject request {_raw(erasure['id'])} (erasure)"
    assert executed == 2 * [
        {
            "action": "dsr_erasure_executed",
            "purpose": purpose,
            "roles": ["compliance"],
            "user": {"displayName": "test compliance"},
        }
    ]
    still = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { familyName emails { address } phones { e164 } "
        "timeline { edges { node { summary } } } } } }",
        {"id": other["id"]},
    )
    assert still["node"] == {
        "familyName": "佐藤",
        "emails": [{"address": "hanako@xyz.co.jp"}],
        "phones": [{"e164": "+81698765432"}],
        "timeline": {"edges": [{"node": {"summary": "定例会議"}}]},
    }
    shared = await api.graphql("query($id: ID!) { node(id: $id) { ... on Activity { summary } } }", {"id": meeting["id"]})
    assert shared["node"] == {"summary": "定例会議"}
    # The log keeps the call (what, when, with which account), its text unreadable for good.
    logged = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Account { timeline { nodes { id type summary body contacts { id } } } } } }",
        {"id": account["id"]},
    )
    assert [n for n in logged["node"]["timeline"]["nodes"] if n["id"] == call["id"]] == [
        {"id": call["id"], "type": "call", "summary": None, "body": None, "contacts": []}
    ]
    refused = await api.mutate("updateActivity", {"id": call["id"], "summary": "復元"}, "activity { id }")
    assert refused["userErrors"] == [
        {"field": "id", "message": "this activity's text was erased with the people it concerned", "code": "ERASED"}
    ]


async def test_legal_hold_keeps_a_record_until_it_ends(api):
    person = await create_contact(api, familyName="保全", emails=[{"address": "hold@example.jp"}])
    ticket = (
        await api.mutate(
            "createTicket",
            {"subject": "返金請求", "body": "返金してください", "requesterId": person["id"]},
            "ticket { id }",
            role="support",
        )
    )["ticket"]
    call = await log_activity(api, summary="返金の件で電話", contactIds=[person["id"]])
    hold = await api.mutate(
        "placeLegalHold",
        {
            "contactId": person["id"],
            "recordId": ticket["id"],
            "basis": "係争中の返金請求 / pending claim",
            "reference": "CASE-2024-17",
            "until": "2024-12-31",
        },
        "hold { id nodeType until }",
        role="compliance",
    )
    assert hold["userErrors"] == [] and hold["hold"]["nodeType"] == "SupportTicket"
    bad = await api.mutate(
        "placeLegalHold", {"contactId": person["id"], "recordId": person["id"], "basis": "x"}, "hold { id }", role="compliance"
    )
    assert bad["userErrors"] == [
        {"field": "recordId", "message": "must be the id of a Activity or SupportTicket", "code": "WRONG_ID_TYPE"}
    ]
    done = await _run(api, (await _intake(api, person["id"], "erasure"))["id"])
    assert done["status"] == "completed_with_exceptions", done["history"]
    support = next(r for r in done["runs"] if r["plugin"] == "support")
    hold = {"basis": "係争中の返金請求 / pending claim", "until": "2024-12-31", "reference": "CASE-2024-17", "legal_hold": True}
    assert support["retained"] == [
        {"entity": "support_ticket", "rows": 1, **hold},
        {"entity": "support_article", "rows": 1, **hold},
    ]
    assert "support_ticket" in done["history"][-1]["note"]
    kept = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on SupportTicket { requester { id } articles { body } } } }",
        {"id": ticket["id"]},
        role="support",
    )
    assert kept["node"] == {"requester": {"id": person["id"]}, "articles": [{"body": "返金してください"}]}
    erased_call = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Activity { summary contacts { id } } } }", {"id": call["id"]}
    )
    assert erased_call["node"] == {"summary": None, "contacts": []}
    api.clock.set(dt.datetime(2025, 1, 1, 0, 0, tzinfo=dt.UTC))  # 09:00 on 1 January in Tokyo: the hold has ended
    assert "privacy.finish_held_erasures" in await run_due_jobs(api.runtime)
    finished = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status history { note } } } }",
        {"id": done["id"]},
        role="compliance",
    )
    assert finished["node"]["status"] == "completed"
    gone = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on SupportTicket { requester { id } articles { body } } } }",
        {"id": ticket["id"]},
        role="support",
    )
    assert gone["node"] == {"requester": None, "articles": [{"body": None}]}


async def test_restriction_allows_only_storage_and_dsr_work(api):
    account = await create_account(api, name="制限テスト")
    person = await create_contact(api, familyName="制限", accounts=[{"accountId": account["id"]}])
    await api.mutate(
        "recordConsent", {"contactId": person["id"], "purpose": "marketing", "state": "granted"}, "consent { state }"
    )
    await _run(api, (await _intake(api, person["id"], "restriction"))["id"])
    update = await api.mutate("updateContact", {"id": person["id"], "jobTitle": "部長"}, "contact { jobTitle }")
    assert update["userErrors"][0]["code"] == "RESTRICTED"
    logged = await api.mutate(
        "logActivity", {"type": "call", "summary": "営業電話", "contactIds": [person["id"]]}, "activity { id }"
    )
    assert logged["userErrors"][0]["code"] == "RESTRICTED"
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    audience = await api.mutate("exportAudience", {"destination": "MA tool"}, "excludedWithoutConsent", role="marketing")
    assert audience["excludedWithoutConsent"] == 1
    access = await _run(api, (await _intake(api, person["id"], "access"))["id"])  # DSR work goes on
    assert access["status"] == "completed"
    lifted = await api.graphql(
        "mutation($id: ID!) { liftRestriction(contactId: $id) { contactId userErrors { code } } }",
        {"id": person["id"]},
        role="compliance",
    )
    assert lifted["liftRestriction"] == {"contactId": person["id"], "userErrors": []}
    update = await api.mutate("updateContact", {"id": person["id"], "jobTitle": "部長"}, "contact { jobTitle }")
    assert update["userErrors"] == []


async def test_access_log_is_append_only_and_hash_chained(api):
    person = await create_contact(api, familyName="監査", emails=[{"address": "audit@example.jp"}])
    await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": person["id"]}, role="compliance"
    )
    log = await api.graphql(
        "query($id: ID!) { accessLog(contactId: $id) { action purpose roles hash prevHash } }",
        {"id": person["id"]},
        role="compliance",
    )
    entries = {(e["action"], e["purpose"], tuple(e["roles"])) for e in log["accessLog"]}
    assert ("personal_data_read", "compliance_review", ("compliance",)) in entries
    assert "監査" not in json.dumps(log, ensure_ascii=False) and "audit@" not in json.dumps(log)
    verified = await api.graphql("{ verifyAccessLog { valid entries firstBrokenSeq } }", role="compliance")
    assert verified["verifyAccessLog"]["valid"] and verified["verifyAccessLog"]["entries"] >= 1
    for statement in ("UPDATE privacy_access_log SET purpose = 'x'", "DELETE FROM privacy_access_log"):
        with pytest.raises(Exception, match="append-only"):
            async with api.runtime.unit_of_work() as uow:
                await uow.session.execute(text(statement))
    assert (await api.errors("{ verifyAccessLog { valid } }", role="support"))[0]["extensions"]["code"] == "FORBIDDEN"


async def test_every_read_of_a_persons_names_emails_or_phones_is_logged_once_a_day(api, enishi_clock):
    read, unread = (
        await create_contact(api, familyName="閲覧", emails=[{"address": "seen@example.jp"}]),
        await create_contact(api, familyName="未読"),
    )
    page = "query($q: String!) { contacts(filter: {search: $q}) { nodes { displayName primaryEmail } } }"

    async def reads_of(person):
        log = await api.graphql(
            "query($id: ID!) { accessLog(contactId: $id) { action purpose roles user { displayName } } }",
            {"id": person["id"]},
            role="compliance",
        )
        return [e for e in log["accessLog"] if e["action"] == "read" and e["roles"] == ["sales"]]

    for _ in range(3):  # the same page, again and again: one entry for the day
        assert (await api.graphql(page, {"q": "閲覧"}, role="sales"))["contacts"]["nodes"][0]["primaryEmail"] == "seen@example.jp"
    assert [(e["purpose"], e["roles"]) for e in await reads_of(read)] == [("crm", ["sales"])]
    assert await reads_of(unread) == []
    ids_only = await api.graphql('{ contacts(filter: {search: "未読"}) { nodes { id } } }', role="sales")
    assert len(ids_only["contacts"]["nodes"]) == 1 and await reads_of(unread) == []  # ids are not personal data read
    enishi_clock.advance(days=1)
    await api.graphql(page, {"q": "閲覧"}, role="sales")
    assert len(await reads_of(read)) == 2
    assert (await api.graphql("{ verifyAccessLog { valid } }", role="compliance"))["verifyAccessLog"]["valid"]


async def test_a_tickets_sealed_text_is_a_read_of_its_requester_only_when_selected(api):
    person = await create_contact(api, familyName="問合")
    await api.mutate(
        "createTicket",
        {"subject": "請求書", "requesterId": person["id"], "customFields": {"注文": "A-1"}},
        "ticket { id }",
        role="support",
    )

    async def reads():
        log = await api.graphql(
            "query($id: ID!) { accessLog(contactId: $id) { action roles } }", {"id": person["id"]}, role="compliance"
        )
        return [e for e in log["accessLog"] if e == {"action": "read", "roles": ["sales"]}]

    numbers = await api.graphql("{ tickets { nodes { number status } } }", role="sales")
    assert len(numbers["tickets"]["nodes"]) == 1 and await reads() == []  # nothing sealed was opened
    subjects = await api.graphql("{ tickets { nodes { subject customFields } } }", role="sales")
    assert subjects["tickets"]["nodes"] == [{"subject": "請求書", "customFields": {"注文": "A-1"}}] and len(await reads()) == 1


async def test_reading_activity_text_messages_or_ledger_reasons_is_a_read_of_the_people_they_concern(api):
    yamada, sato, suzuki = [await create_contact(api, familyName=name) for name in ("山田", "佐藤", "鈴木")]
    meeting = await log_activity(api, type="meeting", summary="山田様・佐藤様と打ち合わせ", contactIds=[yamada["id"], sato["id"]])
    ticket = (
        await api.mutate(
            "createTicket",
            {"subject": "請求書", "body": "山田です", "requesterId": yamada["id"]},
            "ticket { id }",
            role="support",
        )
    )["ticket"]
    member_id = (await api.mutate("enrollMember", {"programId": await program(api), "contactId": suzuki["id"]}, "member { id }"))[
        "member"
    ]["id"]
    await api.mutate("adjustPoints", {"memberId": member_id, "amount": 10, "reason": "鈴木様へのお詫び"}, "entry { id }")

    async def readers():
        """Whose personal data the sales role has read, by family name."""
        found = set()
        for person in (yamada, sato, suzuki):
            log = await api.graphql(
                "query($id: ID!) { accessLog(contactId: $id) { action roles } }", {"id": person["id"]}, role="compliance"
            )
            if {"action": "read", "roles": ["sales"]} in log["accessLog"]:
                found.add(person["id"])
        return {p["familyName"] for p in (yamada, sato, suzuki) if p["id"] in found}

    activity = "query($id: ID!) { node(id: $id) { ... on Activity { type %s } } }"
    assert (await api.graphql(activity % "", {"id": meeting["id"]}, role="sales"))["node"] == {"type": "meeting"}
    messages = "query($id: ID!) { node(id: $id) { ... on SupportTicket { number articles { public %s } } } }"
    await api.graphql(messages % "", {"id": ticket["id"]}, role="sales")
    ledger = "query($m: ID!) { pointsLedger(memberId: $m) { nodes { amount %s } } }"
    await api.graphql(ledger % "", {"m": member_id}, role="sales")
    assert await readers() == set()  # nothing sealed was opened
    assert (await api.graphql(messages % "body", {"id": ticket["id"]}, role="sales"))["node"]["articles"][0]["body"] == "山田です"
    assert await readers() == {"山田"}  # the ticket's requester
    assert (await api.graphql(ledger % "reason", {"m": member_id}, role="sales"))["pointsLedger"]["nodes"][0][
        "reason"
    ] == "鈴木様へのお詫び"
    assert await readers() == {"山田", "鈴木"}  # the member
    assert (await api.graphql(activity % "summary", {"id": meeting["id"]}, role="sales"))["node"][
        "summary"
    ] == "山田様・佐藤様と打ち合わせ"
    assert await readers() == {"山田", "佐藤", "鈴木"}  # the activity concerns both of its people


class Crash(BaseException):
    """The process dying midway: nothing after it runs, no handler records it."""


class CrashingPlugin:
    def __init__(self):
        self.crashes_left = 1
        self.erased = 0

    @hookimpl
    def enishi_subject_erase(self, uow, subject):
        if self.crashes_left:
            self.crashes_left -= 1
            raise Crash()
        self.erased += 1
        return ErasureReport("crashing")


async def test_an_erasure_cut_short_by_a_crash_is_completed_by_the_next_run(enishi_api):
    from enishi.plugins.privacy import execution

    crashing = CrashingPlugin()
    api = await enishi_api(plugins=[("crashing", crashing)])
    person = await create_contact(api, familyName="中断", emails=[{"address": "crash@example.jp"}])
    erasure = await _intake(api, person["id"], "erasure")
    assert (await _act(api, "approveDataSubjectRequest", erasure["id"]))["userErrors"] == []
    with pytest.raises(Crash):
        await execution.execute(api.runtime, _raw(erasure["id"]))
    state = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status runs { plugin status attempts } } } }",
        {"id": erasure["id"]},
        role="compliance",
    )
    assert state["node"]["status"] == "in_progress"
    assert {r["plugin"]: (r["status"], r["attempts"]) for r in state["node"]["runs"]}["crashing"] == ("pending", 0)
    busy = await _act(api, "executeDataSubjectRequest", erasure["id"])  # the dead worker's lease still stands
    assert busy["userErrors"] == [{"field": "id", "code": "INVALID_STATUS"}]
    api.clock.advance(minutes=16)
    assert "privacy.finish_held_erasures" in await run_due_jobs(api.runtime)
    done = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status runs { plugin status attempts } } } }",
        {"id": erasure["id"]},
        role="compliance",
    )
    assert done["node"]["status"] == "completed" and crashing.erased == 1
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in done["node"]["runs"])
    gone = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { familyName emails { address } } } }",
        {"id": person["id"]},
        role="compliance",
    )
    assert gone["node"] == {"familyName": None, "emails": []}  # compliance sees the anonymised, soft-deleted shell


class LatePlugin:
    """Writes the person's words into another plugin's table while the erasure runs, after that
    plugin's part (`trylast`), and says it erased: the verification must not take anyone's word."""

    def __init__(self):
        self.ticket_id = None

    @hookimpl(trylast=True)
    async def enishi_subject_erase(self, uow, subject):
        from enishi.plugins.support.models import SupportArticle, SupportTicket

        article = SupportArticle(
            ticket_id=self.ticket_id,
            public=True,
            author_type="customer",
            author_contact_id=subject.contact_id,
            created_at=uow.clock.now(),
        )
        article.share_key_of(await uow.session.get(SupportTicket, self.ticket_id))
        article.body = "残存です。電話は 03-9999-0000"
        uow.session.add(article)
        await uow.session.flush()
        return ErasureReport("late")


async def test_verification_fails_an_erasure_that_left_personal_data(enishi_api):
    late = LatePlugin()
    api = await enishi_api(plugins=[("late", late)])
    person = await create_contact(api, familyName="残存", emails=[{"address": "left@example.jp"}])
    other = await create_contact(api, familyName="別人")
    ticket = await api.mutate(
        "createTicket", {"subject": "共有", "body": "?", "requesterId": other["id"]}, "ticket { id }", role="support"
    )
    late.ticket_id = _raw(ticket["ticket"]["id"])
    done = await _run(api, (await _intake(api, person["id"], "erasure"))["id"])
    assert done["status"] == "failed"
    assert done["history"][-1]["note"] == "verification found personal data left in: support_article (1)"
    assert all(r["status"] == "done" for r in done["runs"])  # every plugin said it was done


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

"""Erasure over GraphQL: nothing left behind (tables, the raw SQLite file and WAL, every file
the server wrote), a failing plugin and its retry, a crash midway, legal holds, and the
verification that takes no plugin's word."""

import datetime as dt

import pytest

from enishi import ErasureReport, hookimpl
from enishi.outbox import deliver_pending
from enishi.worker import run_due_jobs
from tests.helpers import count_rows, create_account, create_contact, file_hits, log_activity, table_hits
from tests.plugins.loyalty.helpers import program
from tests.plugins.privacy.helpers import NotesPlugin, act, intake, raw_id, run_request, submit


async def test_erasure_leaves_nothing_behind_and_a_failed_plugin_is_retried(enishi_api, enishi_fresh_migrated, tmp_path):
    notes = NotesPlugin()
    # The server's home holds everything it writes: the database (on SQLite) and the mail folder.
    api = await enishi_api(plugins=[("notes", notes)], database_url=enishi_fresh_migrated, mail_url=(tmp_path / "mail").as_uri())
    account = await create_account(api, name="ABC株式会社")
    birth_date = await api.mutate(
        "createCustomFieldDefinition",
        {"entity": "CONTACT", "key": "birth_date", "type": "DATE", "labelJa": "生年月日"},
        "definition { id }",
    )
    assert birth_date["userErrors"] == []
    person = await create_contact(
        api,
        familyName="山田",
        givenName="太郎",
        familyNameKana="ヤマダ",
        givenNameKana="タロウ",
        emails=[{"address": "Taro@ABC.co.jp"}],
        phones=[{"number": "０３－１２３４－５６７８"}],
        accounts=[{"accountId": account["id"]}],
        customFields={"宛名": "山田 太郎 様", "携帯": "03-1234-5678", "birth_date": "1980-06-10"},
    )
    other = await create_contact(
        api,
        familyName="佐藤",
        givenName="花子",
        emails=[{"address": "hanako@xyz.co.jp"}],
        phones=[{"number": "06-9876-5432"}],
        accounts=[{"accountId": account["id"]}],
    )
    notes.notes[raw_id(person["id"])] = ["山田 太郎さんは Excel で管理"]
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
    access = await intake(api, person["id"], "access", details="山田 太郎 本人より電話")
    await run_request(api, access["id"])  # an export exists too, and must go with the rest
    await submit(api, type="access", email="taro@abc.co.jp")  # the verification code is mailed to them
    await deliver_pending(api.runtime)
    # The scans read every table and the raw files: they find what is stored in clear (a company name)…
    assert set(await table_hits(api.runtime, ["ABC株式会社"])) == {"core_account"}
    # …and not one spelling of the person, even before the erasure: names, kana, emails, phones,
    # custom fields, activity text, task titles and ticket text are sealed. Only the mail the file
    # transport kept names them, filed under their id.
    assert await table_hits(api.runtime) == {}
    mailed = file_hits(tmp_path)
    assert [path.split("/")[:2] for path in mailed] == [["mail", str(raw_id(person["id"]))]]
    assert mailed.popitem()[1] == {"taro@abc.co.jp", "Taro@ABC.co.jp"}
    if enishi_fresh_migrated.startswith("sqlite"):
        company = set(file_hits(tmp_path, ["ABC株式会社"]))
        database = enishi_fresh_migrated.rsplit("/", 1)[-1]  # the database file and its log only
        assert company and company <= {database, f"{database}-wal"}

    notes.failures_left = 1
    erasure = await intake(api, person["id"], "erasure")
    failed = await run_request(api, erasure["id"])
    runs = {r["plugin"]: r for r in failed["runs"]}
    assert failed["status"] == "failed" and runs["notes"]["status"] == "failed"
    assert runs["notes"]["error"] == "RuntimeError"  # the kind only: the message quoted the person
    assert runs["core"]["status"] == "done" and runs["privacy"]["status"] == "done"
    assert (await act(api, "executeDataSubjectRequest", erasure["id"]))["userErrors"][0]["code"] == "INVALID_STATUS"
    retried = (await act(api, "retryDataSubjectRequest", erasure["id"]))["request"]
    runs = {r["plugin"]: r for r in retried["runs"]}
    assert retried["status"] == "completed"
    assert (runs["notes"]["attempts"], runs["core"]["attempts"]) == (2, 1)  # only the failed part ran again
    assert runs["notes"]["affected"] == {"notes:delete": 1} and runs["core"]["affected"]["core_contact:anonymise"] == 1
    assert runs["support"]["affected"]["support_ticket:shred"] == 1
    assert notes.notes == {}

    assert runs["core"]["affected"]["mail:delete"] == 1
    assert runs["core"]["affected"]["core_contact_custom_date_index:delete"] == 1  # the birthday's month-day
    assert await count_rows(api, "core_contact_custom_date_index") == 0
    assert await table_hits(api.runtime) == {}
    assert file_hits(tmp_path) == {}
    # The access log records the erasure itself: who ran it (and retried it), which request; ids only.
    log = await api.graphql(
        "query($id: ID!) { accessLog(contactId: $id) { action purpose roles user { displayName } } }",
        {"id": person["id"]},
        role="compliance",
    )
    executed = [e for e in log["accessLog"] if e["action"] == "dsr_erasure_executed"]
    purpose = f"data-subject request {raw_id(erasure['id'])} (erasure)"
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
    done = await run_request(api, (await intake(api, person["id"], "erasure"))["id"])
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
    erasure = await intake(api, person["id"], "erasure")
    assert (await act(api, "approveDataSubjectRequest", erasure["id"]))["userErrors"] == []
    with pytest.raises(Crash):
        await execution.execute(api.runtime, raw_id(erasure["id"]))
    state = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status runs { plugin status attempts } } } }",
        {"id": erasure["id"]},
        role="compliance",
    )
    assert state["node"]["status"] == "in_progress"
    assert {r["plugin"]: (r["status"], r["attempts"]) for r in state["node"]["runs"]}["crashing"] == ("pending", 0)
    busy = await act(api, "executeDataSubjectRequest", erasure["id"])  # the dead worker's lease still stands
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
    late.ticket_id = raw_id(ticket["ticket"]["id"])
    done = await run_request(api, (await intake(api, person["id"], "erasure"))["id"])
    assert done["status"] == "failed"
    assert done["history"][-1]["note"] == "verification found personal data left in: support_article (1)"
    assert all(r["status"] == "done" for r in done["runs"])  # every plugin said it was done

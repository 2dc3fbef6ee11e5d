"""Ticket life cycle, assignment, macros, merging, CSAT, knowledge base, metrics, privacy."""

import json
import re
import uuid

from sqlalchemy import text

from enishi.graphql.relay import to_global_id
from enishi.outbox import deliver_pending
from enishi.worker import run_due_jobs
from tests.helpers import create_account, create_contact, root_fields_added_by
from tests.plugins.support import target

T = "ticket { id number status priority tags assignee { displayName } followUpOf { number } reopenedCount }"


async def _config(api, name, input):
    payload = await api.mutate(name, input, "id")
    assert payload["userErrors"] == [], payload
    return payload["id"]


async def _ticket(api, **input):
    payload = await api.mutate("createTicket", {"subject": "請求書について", **input}, T, role="support")
    assert payload["userErrors"] == [], payload
    return payload["ticket"]


async def _reply(api, ticket_id, body, customer=False):
    payload = await api.mutate(
        "replyToTicket", {"ticketId": ticket_id, "body": body, "fromCustomer": customer}, T, role="support"
    )
    assert payload["userErrors"] == [], payload
    return payload["ticket"]


async def _status(api, ticket_id, status):
    return (await api.mutate("updateTicket", {"ticketId": ticket_id, "status": status}, T, role="support"))["ticket"]


async def _surveys_sent(api) -> int:
    async with api.runtime.read_session() as session:
        return (await session.execute(text("SELECT count(*) FROM core_outbox WHERE type = 'support.csat_requested'"))).scalar()


async def _mailed_survey_links(api, sent_mail) -> dict[str, str]:
    """Survey links mailed so far, by recipient; the outbox keeps no token once delivered."""
    await deliver_pending(api.runtime)
    async with api.runtime.read_session() as session:
        rows = (await session.execute(text("SELECT id, payload FROM core_outbox WHERE type = 'support.csat_requested'"))).all()
    mails = sent_mail()
    links = {}
    for event_id, payload in rows:
        assert "_token" not in (json.loads(payload) if isinstance(payload, str) else payload)
        mail = mails[str(uuid.UUID(str(event_id)))]
        link = re.search(r"https://crm\.example\.test(/support/csat/\S+)", mail.get_content())
        assert link, mail.get_content()
        links[mail["To"]] = link.group(1)
    return links


async def test_public_messages_reach_the_core_timeline_and_internal_notes_do_not(api):
    contact = await create_contact(api, familyName="山田")
    ticket = await _ticket(api, requesterId=contact["id"], body="請求書が届きません")
    await _reply(api, ticket["id"], "再送しました")
    await api.mutate("addInternalNote", {"ticketId": ticket["id"], "body": "経理に確認済み"}, "ticket { id }", role="support")
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { timeline { nodes { type direction sourcePlugin } } "
        "tickets { totalCount nodes { number } } } } }",
        {"id": contact["id"]},
    )
    timeline = data["node"]["timeline"]["nodes"]
    assert sorted(n["direction"] for n in timeline) == ["inbound", "outbound"]
    assert {n["sourcePlugin"] for n in timeline} == {"support"}
    assert data["node"]["tickets"]["totalCount"] == 1
    sales_view = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on SupportTicket { articles { body } } } }", {"id": ticket["id"]}, role="sales"
    )
    assert [a["body"] for a in sales_view["node"]["articles"]] == ["請求書が届きません", "再送しました"]  # no internal note


async def test_internal_notes_need_the_tickets_internal_scope_on_an_integration_token(api):
    ticket = await _ticket(api, body="請求書が届きません")
    articles = "query($id: ID!) { node(id: $id) { ... on SupportTicket { articles { public body } } } }"
    note = {"ticketId": ticket["id"], "body": "経理に確認済み"}
    working = await api.scoped_token("integration", ["tickets:write"])
    assert (
        await api.mutate("replyToTicket", {"ticketId": ticket["id"], "body": "再送しました"}, "ticket { id }", token=working)
    )["userErrors"] == []
    refused = await api.post(
        "mutation($input: AddInternalNoteInput!) { addInternalNote(input: $input) { ticket { id } } }",
        {"input": note},
        token=working,
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    noting = await api.scoped_token("integration", ["tickets:read", "tickets:internal"])
    assert (await api.mutate("addInternalNote", note, "ticket { id }", token=noting))["userErrors"] == []
    reading = await api.scoped_token("integration", ["tickets:read"])
    seen = {
        "tickets:read": reading,
        "tickets:write": working,
        "tickets:read+internal": noting,
        "the whole role": await api.token("integration"),
    }
    bodies = {
        name: [a["body"] for a in (await api.graphql(articles, {"id": ticket["id"]}, token=token))["node"]["articles"]]
        for name, token in seen.items()
    }
    public = ["請求書が届きません", "再送しました"]
    assert bodies == {
        "tickets:read": public,
        "tickets:write": public,
        "tickets:read+internal": [*public, "経理に確認済み"],
        "the whole role": [*public, "経理に確認済み"],
    }


async def test_a_customer_reply_reopens_a_solved_ticket_and_cancels_its_survey(api):
    ticket = await _ticket(api, body="質問")
    await _reply(api, ticket["id"], "回答")
    assert (await _status(api, ticket["id"], "solved"))["status"] == "solved"
    api.clock.advance(hours=2)
    reopened = await _reply(api, ticket["id"], "まだ解決していません", customer=True)
    assert reopened["status"] == "open" and reopened["reopenedCount"] == 1
    api.clock.advance(days=2)
    await run_due_jobs(api.runtime)
    assert await _surveys_sent(api) == 0  # the survey was cancelled by the reopening


async def test_solved_tickets_close_after_four_days_and_a_later_reply_opens_a_follow_up(api):
    ticket = await _ticket(api, body="質問")
    await _status(api, ticket["id"], "solved")
    api.clock.advance(days=3, hours=23)
    await run_due_jobs(api.runtime)
    assert (await api.graphql("query($id: ID!) { node(id: $id) { ... on SupportTicket { status } } }", {"id": ticket["id"]}))[
        "node"
    ]["status"] == "solved"
    api.clock.advance(hours=1)
    await run_due_jobs(api.runtime)
    assert (await api.graphql("query($id: ID!) { node(id: $id) { ... on SupportTicket { status } } }", {"id": ticket["id"]}))[
        "node"
    ]["status"] == "closed"
    follow_up = await api.mutate(
        "replyToTicket", {"ticketId": ticket["id"], "body": "また問題が", "fromCustomer": True}, T, role="support"
    )
    listing = await api.graphql(
        "{ tickets(orderBy: [{field: NUMBER, direction: DESC}]) { nodes { number followUpOf { number } status } } }"
    )
    assert listing["tickets"]["nodes"][0] == {
        "number": ticket["number"] + 1,
        "followUpOf": {"number": ticket["number"]},
        "status": "new",
    }
    assert follow_up["userErrors"] == []


async def test_example_4_csat_mailed_a_day_after_solving_and_answered_through_its_link(api, enishi_sent_mail):
    ratings = [5, 4, 4, 3, 5, 2, 5, 4]
    for n, _ in enumerate(ratings):
        requester = await create_contact(api, familyName=f"顧客{n}", emails=[{"address": f"customer{n}@example.jp"}])
        ticket = await _ticket(api, body="?", requesterId=requester["id"])
        await _reply(api, ticket["id"], "!")
        await _status(api, ticket["id"], "solved")
    api.clock.advance(hours=23)
    await run_due_jobs(api.runtime)
    assert await _surveys_sent(api) == 0  # not before 24 hours
    api.clock.advance(hours=1)
    await run_due_jobs(api.runtime)
    links = await _mailed_survey_links(api, enishi_sent_mail)
    assert sorted(links) == sorted(f"customer{n}@example.jp" for n in range(len(ratings)))
    first = links["customer0@example.jp"]
    page = await api.client.get(first)
    assert page.status_code == 200 and 'name="rating"' in page.text and "<form" in page.text
    answered = await api.client.post(
        first, content="rating=5&comment=%E4%B8%81%E5%AF%A7", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answered.status_code == 200 and "ありがとうございました" in answered.text
    for n, rating in enumerate(ratings[1:], start=1):
        response = await api.client.post(links[f"customer{n}@example.jp"], json={"rating": rating, "comment": "ありがとう"})
        assert response.status_code == 200 and response.json() == {"accepted": True}
    assert (await api.client.post(first, json={"rating": 1})).status_code == 409
    assert (await api.client.get(first)).status_code == 409  # the page says it was answered
    assert (await api.client.post("/support/csat/forged", json={"rating": 5})).status_code == 404
    assert (await api.client.get("/support/csat/forged")).status_code == 404
    assert (await api.client.post(first, json={"rating": "five"})).status_code == 400
    rows = await api.graphql(
        '{ supportMetrics(from: "2024-06-01T00:00:00Z", to: "2024-07-01T00:00:00Z") { key csatPercent csatAnswers } }'
    )
    assert rows["supportMetrics"] == [{"key": "normal", "csatPercent": 75.0, "csatAnswers": 8}]


async def test_a_survey_waits_in_the_outbox_until_the_public_address_is_configured(enishi_api, enishi_sent_mail):
    api = await enishi_api(public_url="")  # production without ENISHI_PUBLIC_URL: no link can be written
    requester = await create_contact(api, familyName="顧客", emails=[{"address": "waiting@example.jp"}])
    ticket = await _ticket(api, body="?", requesterId=requester["id"])
    await _status(api, ticket["id"], "solved")
    api.clock.advance(hours=24)
    await run_due_jobs(api.runtime)
    assert await deliver_pending(api.runtime) == 0
    async with api.runtime.read_session() as session:
        attempts, payload = (
            await session.execute(text("SELECT attempts, payload FROM core_outbox WHERE type = 'support.csat_requested'"))
        ).one()
    assert attempts >= 1 and "_token" in (json.loads(payload) if isinstance(payload, str) else payload)  # kept for the retry
    assert not [m for m in enishi_sent_mail().values() if m["To"] == "waiting@example.jp"]


async def test_round_robin_assignment_skips_agents_who_are_away(api):
    group = await _config(api, "createSupportGroup", {"name": "一次対応"})
    agents = {}
    for role in ("support", "manager", "integration"):
        await api.token(role)
        agents[role] = to_global_id("User", api.user_ids[role])
        await _config(api, "setSupportAgent", {"groupId": group, "userId": agents[role], "away": role == "integration"})
    assigned = []
    for _ in range(4):
        api.clock.advance(minutes=1)
        assigned.append((await _ticket(api, groupId=group))["assignee"]["displayName"])
    assert assigned == [assigned[0], assigned[1], assigned[0], assigned[1]] and set(assigned) == {"test support", "test manager"}


async def test_macros_apply_reply_status_and_tags_in_one_transaction(api):
    macro = await _config(
        api,
        "createMacro",
        {
            "name": "解決済みにする",
            "reply": "ご連絡ありがとうございました。",
            "status": "solved",
            "addTags": ["faq"],
            "priority": "low",
        },
    )
    ticket = await _ticket(api, body="?", tags=["billing"])
    applied = await api.mutate("applyMacro", {"ticketId": ticket["id"], "macroId": macro}, T, role="support")
    assert applied["ticket"]["status"] == "solved" and applied["ticket"]["tags"] == ["billing", "faq"]
    assert applied["ticket"]["priority"] == "low"
    bad = await api.mutate(
        "applyMacro",
        {"ticketId": ticket["id"], "macroId": "U3VwcG9ydE1hY3JvOjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMA=="},
        T,
        role="support",
    )
    assert bad["userErrors"][0]["code"] == "NOT_FOUND"


async def test_merging_tickets_moves_the_conversation(api):
    target = await _ticket(api, body="一通目")
    source = await _ticket(api, body="二通目")
    merged = await api.mutate(
        "mergeTickets", {"targetId": target["id"], "sourceIds": [source["id"]]}, "ticket { id }", role="support"
    )
    assert merged["userErrors"] == []
    data = await api.graphql(
        "query($t: ID!, $s: ID!) { t: node(id: $t) { ... on SupportTicket { articles { body } } } "
        "s: node(id: $s) { ... on SupportTicket { status } } }",
        {"t": target["id"], "s": source["id"]},
    )
    assert sorted(a["body"] for a in data["t"]["articles"]) == ["一通目", "二通目"] and data["s"]["status"] == "merged"


async def test_knowledge_base_search_works_for_japanese(api):
    for title, status in (("パスワードの再設定方法", "published"), ("請求書の再発行", "published"), ("社内メモ", "draft")):
        payload = await api.mutate(
            "saveKbArticle",
            {"title": title, "body": f"{title}の手順です。", "locale": "ja", "status": status},
            "article { id }",
            role="support",
        )
        assert payload["userErrors"] == []
    query = "query($q: String) { kbArticles(search: $q) { nodes { title } } }"
    assert (await api.graphql(query, {"q": "パスワード"}, role="sales"))["kbArticles"]["nodes"] == [
        {"title": "パスワードの再設定方法"}
    ]
    assert (await api.graphql(query, {"q": "ぱすわーど"}, role="sales"))["kbArticles"]["nodes"] == [
        {"title": "パスワードの再設定方法"}
    ]
    assert (await api.graphql(query, {"q": "ﾊﾟｽﾜｰﾄﾞ"}, role="sales"))["kbArticles"]["nodes"] == [
        {"title": "パスワードの再設定方法"}
    ]
    assert (await api.graphql(query, {"q": "再発行"}, role="sales"))["kbArticles"]["nodes"] == [{"title": "請求書の再発行"}]
    assert len((await api.graphql(query, {"q": None}, role="sales"))["kbArticles"]["nodes"]) == 2  # drafts hidden
    assert len((await api.graphql(query, {"q": None}, role="support"))["kbArticles"]["nodes"]) == 3


async def test_metrics_first_reply_mttr_fcr_backlog_and_sla(api):
    await _config(
        api,
        "createSlaPolicy",
        {"name": "any", "targets": [target("normal", "first_reply", 60), target("high", "first_reply", 60)]},
    )
    fast = await _ticket(api, body="a")
    api.clock.advance(minutes=30)
    await _reply(api, fast["id"], "ok")
    api.clock.advance(minutes=30)
    await _status(api, fast["id"], "solved")
    slow = await _ticket(api, body="b", priority="high")
    api.clock.advance(minutes=90)
    await _reply(api, slow["id"], "late")
    await _reply(api, slow["id"], "again")
    await _ticket(api, body="c")  # still open: backlog
    rows = (
        await api.graphql("""{ supportMetrics(from: "2024-06-01T00:00:00Z", groupBy: PRIORITY) {
        key tickets firstReplyMedianMinutes mttrMinutes fcrPercent backlog slaAttainmentPercent } }""")
    )["supportMetrics"]
    assert rows == [
        {
            "key": "high",
            "tickets": 1,
            "firstReplyMedianMinutes": 90.0,
            "mttrMinutes": None,
            "fcrPercent": None,
            "backlog": 1,
            "slaAttainmentPercent": 0.0,
        },
        {
            "key": "normal",
            "tickets": 2,
            "firstReplyMedianMinutes": 30.0,
            "mttrMinutes": 60.0,
            "fcrPercent": 100.0,
            "backlog": 1,
            "slaAttainmentPercent": 100.0,
        },
    ]


async def test_requester_erasure_keeps_the_ticket_without_the_person(api):
    """The ticket stays for the metrics; its key goes with the requester, so subject, custom
    fields and every message on it (agents' replies greet them by name) are unreadable for good.
    Their own message on someone else's ticket is emptied; that ticket stays readable."""
    import base64
    import uuid

    from sqlalchemy import text

    from enishi import DataSubject

    account = await create_account(api, name="Acme")
    contact = await create_contact(api, familyName="山田", accounts=[{"accountId": account["id"]}])
    other = await create_contact(api, familyName="佐藤")
    ticket = await _ticket(
        api,
        subject="山田です、ログインできません",
        requesterId=contact["id"],
        accountId=account["id"],
        customFields={"注文番号": "A-1"},
        body="私の電話番号は 03-1234-5678 です",
    )
    await _reply(api, ticket["id"], "山田様、承知しました")
    others_ticket = await _ticket(api, subject="佐藤の請求書", requesterId=other["id"], body="佐藤より")
    carried = await _ticket(api, subject="追記", requesterId=contact["id"], body="山田からの追記")
    merged = await api.mutate(
        "mergeTickets", {"targetId": others_ticket["id"], "sourceIds": [carried["id"]]}, "ticket { id }", role="support"
    )
    assert merged["userErrors"] == []
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": contact["id"]}, role="compliance"
    )
    assert exported["node"]["personalData"]["support"]["tickets"][0]["messages"][0]["body"] == "私の電話番号は 03-1234-5678 です"

    subject = DataSubject(uuid.UUID(base64.b64decode(contact["id"]).decode().split(":")[1]))
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=subject))
    assert reports["support"].affected == {
        "support_ticket:shred": 2,
        "support_article:anonymise": 1,
        "support_ticket:anonymise": 2,
    }

    query = (
        "query($id: ID!) { node(id: $id) { ... on SupportTicket { number subject customFields requester { id } account { name } "
        "articles { body } } } }"
    )
    data = (await api.graphql(query, {"id": ticket["id"]}))["node"]
    assert (
        data["subject"] is None
        and data["customFields"] == {}
        and data["requester"] is None
        and data["account"] == {"name": "Acme"}
    )
    assert [a["body"] for a in data["articles"]] == [None, None]
    kept = (await api.graphql(query, {"id": others_ticket["id"]}))["node"]
    assert kept["subject"] == "佐藤の請求書" and sorted(a["body"] or "" for a in kept["articles"]) == ["", "佐藤より"]
    refused = await api.mutate("replyToTicket", {"ticketId": ticket["id"], "body": "続き"}, T, role="support")
    assert [e["code"] for e in refused["userErrors"]] == ["ERASED"]
    async with api.runtime.read_session() as session:
        stored = b"".join(
            value
            for (value,) in (
                await session.execute(
                    text(
                        "SELECT sealed_subject FROM support_ticket UNION ALL "
                        "SELECT sealed_body FROM support_article WHERE sealed_body IS NOT NULL"
                    )
                )
            ).all()
        )
    assert "山田".encode() not in stored and b"03-1234" not in stored and "佐藤".encode() not in stored


async def test_bad_ticket_input_is_refused(api):
    bad = await api.mutate("createTicket", {"subject": " ", "priority": "critical"}, "ticket { id }", role="support")
    assert {e["code"] for e in bad["userErrors"]} == {"REQUIRED", "INVALID_CHOICE"}
    denied = await api.post('mutation { createTicket(input: {subject: "x"}) { ticket { id } } }', role="sales")
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.graphql("{ tickets { totalCount } }"))["tickets"]["totalCount"] == 0


SUPPORT_FIELDS = {
    "Query.tickets": "support.read",
    "Query.ticket": "support.read",
    "Query.kbArticles": "support.read",
    "Query.supportMetrics": "support.metrics",
    "Mutation.createTicket": "support.agent",
    "Mutation.replyToTicket": "support.agent",
    "Mutation.addInternalNote": "support.internal",
    "Mutation.updateTicket": "support.agent",
    "Mutation.assignTicket": "support.agent",
    "Mutation.mergeTickets": "support.agent",
    "Mutation.applyMacro": "support.agent",
    "Mutation.saveKbArticle": "support.agent",
    "Mutation.createSupportCalendar": "support.configure",
    "Mutation.createSlaPolicy": "support.configure",
    "Mutation.addEscalationRule": "support.configure",
    "Mutation.createSupportGroup": "support.configure",
    "Mutation.setSupportAgent": "support.configure",
    "Mutation.createMacro": "support.configure",
    "Mutation.createKbCategory": "support.configure",
    "Mutation.submitCsat": "support.read",
    "Mutation.updateSupportSettings": "support.configure",
}


async def test_every_support_root_field_has_a_permission(enishi_api):
    assert await root_fields_added_by(enishi_api, "support") == set(SUPPORT_FIELDS)


async def test_a_ticket_is_found_by_id_or_number(api):
    ticket = await _ticket(api, body="?")
    by_number = await api.graphql("query($n: Int) { ticket(number: $n) { id } }", {"n": ticket["number"]})
    by_id = await api.graphql("query($id: ID) { ticket(id: $id) { number } }", {"id": ticket["id"]})
    assert by_number["ticket"]["id"] == ticket["id"] and by_id["ticket"]["number"] == ticket["number"]
    errors = await api.errors("{ ticket { id } }")
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_close_and_survey_delays_are_configurable(api):
    settings = await api.mutate(
        "updateSupportSettings", {"autoCloseHours": 24, "csatDelayHours": 2}, "autoCloseHours csatDelayHours", role="manager"
    )
    assert settings == {"autoCloseHours": 24, "csatDelayHours": 2, "userErrors": []}
    bad = await api.mutate("updateSupportSettings", {"csatDelayHours": -1}, "csatDelayHours", role="manager")
    assert bad["userErrors"][0]["code"] == "OUT_OF_RANGE"
    ticket = await _ticket(api, body="?")
    await _status(api, ticket["id"], "solved")
    api.clock.advance(hours=2)
    await run_due_jobs(api.runtime)
    assert await _surveys_sent(api) == 1
    api.clock.advance(hours=22)
    await run_due_jobs(api.runtime)
    state = await api.graphql("query($id: ID!) { node(id: $id) { ... on SupportTicket { status } } }", {"id": ticket["id"]})
    assert state["node"]["status"] == "closed"


async def test_least_open_assignment_prefers_the_agent_with_fewest_open_tickets(api):
    group = await _config(api, "createSupportGroup", {"name": "二次対応", "assignment": "least_open"})
    for role in ("support", "manager"):
        await api.token(role)
        await _config(api, "setSupportAgent", {"groupId": group, "userId": to_global_id("User", api.user_ids[role])})
    first = await _ticket(api, groupId=group)
    api.clock.advance(minutes=1)
    second = await _ticket(api, groupId=group)
    assert {first["assignee"]["displayName"], second["assignee"]["displayName"]} == {"test support", "test manager"}
    await _status(api, first["id"], "solved")  # its agent now has none open
    api.clock.advance(minutes=1)
    third = await _ticket(api, groupId=group)
    assert third["assignee"] == first["assignee"]

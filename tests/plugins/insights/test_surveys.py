"""Surveys (issue #24, example 1): NPS, CSAT and CES sent through single-use links, answered on a
page without JavaScript or over GraphQL, recorded on the timeline, and scored in one place —
support's CSAT included — with a 95 % interval and a zero-filled monthly trend in Asia/Tokyo."""

import asyncio
import base64
import datetime as dt
import hashlib
import re
import uuid

from sqlalchemy import text

from enishi.db import is_sqlite
from enishi.outbox import deliver_pending
from enishi.plugin import SURVEY_ANSWERED, DataSubject, hookimpl
from enishi.worker import run_due_jobs
from tests.helpers import count_rows, create_contact
from tests.plugins.insights.helpers import buy
from tests.plugins.sales.test_contracts import _lock_waiters

JST = dt.timezone(dt.timedelta(hours=9))
FIGURES = "kind score responses promoters passives detractors satisfied confidenceInterval { low high }"
SCORE = """query($from: Date!, $to: Date!, $segment: InsightsAudienceInput) {
    %s(from: $from, to: $to, segment: $segment) { firstDay lastDay %s trend(interval: MONTH) { start score responses } } }"""
QUESTION_EN = "Would you recommend us?"
ANSWER = "mutation($input: AnswerSurveyInput!) { answerSurvey(input: $input) { accepted userErrors { field code } } }"


def _raw(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":")[1])


async def survey(api, kind: str, name: str | None = None) -> str:
    payload = await api.mutate(
        "createSurvey",
        {"name": name or f"{kind} survey", "kind": kind, "questionJa": "友人に勧めますか？", "questionEn": QUESTION_EN},
        "survey { id kind }",
        role="marketing",
    )
    assert payload["userErrors"] == [], payload
    return payload["survey"]["id"]


async def person(api, name: str, *, consent: bool = True) -> str:
    contact_id = (await create_contact(api, familyName=name, emails=[{"address": f"{name}@example.jp"}]))["id"]
    if consent:
        recorded = await api.mutate(
            "recordConsent", {"contactId": contact_id, "purpose": "surveys", "state": "granted"}, "consent { purpose }"
        )
        assert recorded["userErrors"] == [], recorded
    return contact_id


async def send(api, contact_id: str, survey_id: str) -> dict:
    payload = await api.mutate("sendSurvey", {"contactId": contact_id, "surveyId": survey_id}, "sent expiresAt", role="support")
    return {**payload, "userErrors": [{"field": e["field"], "code": e["code"]} for e in payload["userErrors"]]}


async def mailed_token(api, sent_mail, address: str) -> str:
    """The token of the last survey link mailed to `address` (the outbox forgets it once delivered)."""
    await deliver_pending(api.runtime)
    mails = [mail for mail in sent_mail().values() if mail["To"] == address]
    assert mails, address
    link = re.search(r"https://crm\.example\.test/insights/surveys/(\S+)", mails[-1].get_content())
    assert link, mails[-1].get_content()
    return link.group(1)


async def answered(api, sent_mail, survey_id: str, name: str, score: int, comment: str | None = None) -> str:
    contact_id = await person(api, name)
    assert (await send(api, contact_id, survey_id))["sent"]
    token = await mailed_token(api, sent_mail, f"{name}@example.jp")
    result = await api.graphql(ANSWER, {"input": {"token": token, "score": score, "comment": comment}})
    assert result["answerSurvey"] == {"accepted": True, "userErrors": []}
    return contact_id


async def scores(api, field: str, first: str, last: str, segment: dict | None = None) -> dict:
    data = await api.graphql(SCORE % (field, FIGURES), {"from": first, "to": last, "segment": segment})
    return data[field]


async def test_example_one_nps_of_ten_answers_is_20_with_its_confidence_interval(api, enishi_sent_mail):
    api.clock.set(dt.datetime(2025, 5, 10, 12, tzinfo=JST))
    nps = await survey(api, "NPS")
    for n, score in enumerate([10, 10, 9, 9, 9, 8, 7, 6, 3, 0]):
        await answered(api, enishi_sent_mail, nps, f"customer{n}", score)
    result = await scores(api, "npsScore", "2025-05-01", "2025-05-31")
    assert {key: result[key] for key in ("score", "responses", "promoters", "passives", "detractors", "satisfied")} == {
        "score": 20.0,
        "responses": 10,
        "promoters": 5,
        "passives": 2,
        "detractors": 3,
        "satisfied": None,
    }
    # 20 ± 1.96 · 100 · √((0.5 + 0.3 − 0.2²) / 10)
    assert result["confidenceInterval"] == {"low": -34.0, "high": 74.0}
    assert result["trend"] == [{"start": "2025-05-01", "score": 20.0, "responses": 10}]


async def test_the_link_is_single_use_expiring_stored_hashed_and_answered_without_javascript(api, enishi_sent_mail):
    nps = await survey(api, "NPS")
    contact_id = await person(api, "yamada")
    sent = await send(api, contact_id, nps)
    assert sent["sent"] and sent["userErrors"] == []
    token = await mailed_token(api, enishi_sent_mail, "yamada@example.jp")
    async with api.runtime.read_session() as session:
        stored = (await session.execute(text("SELECT token_hash FROM insights_survey_answer"))).scalar_one()
        payloads = (await session.execute(text("SELECT payload FROM core_outbox WHERE type = 'insights.survey_requested'"))).all()
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in str(payloads)
    page = await api.client.get(f"/insights/surveys/{token}")
    assert page.status_code == 200 and "友人に勧めますか？" in page.text and "Would you recommend us?" in page.text
    assert page.text.count('type="radio" name="score"') == 11 and "<form" in page.text
    assert "<script" not in page.text and "http" not in page.text.replace("<!doctype html>", "")  # nothing fetched elsewhere
    out_of_range = await api.client.post(f"/insights/surveys/{token}", json={"score": 11})
    assert out_of_range.status_code == 400 and out_of_range.json()["code"] == "OUT_OF_RANGE"
    bad = await api.graphql(ANSWER, {"input": {"token": token, "score": -1}})
    assert bad["answerSurvey"] == {"accepted": False, "userErrors": [{"field": "score", "code": "OUT_OF_RANGE"}]}
    form = await api.client.post(
        f"/insights/surveys/{token}",
        content="score=9&comment=%E4%B8%81%E5%AF%A7",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 200 and "ありがとうございました" in form.text
    again = await api.graphql(ANSWER, {"input": {"token": token, "score": 10}})
    assert again["answerSurvey"]["userErrors"] == [{"field": "token", "code": "ALREADY_ANSWERED"}]
    assert (await api.client.get(f"/insights/surveys/{token}")).status_code == 409
    assert (await api.client.post("/insights/surveys/forged", json={"score": 9})).status_code == 404
    forged = await api.graphql(ANSWER, {"input": {"token": "forged", "score": 9}})
    assert forged["answerSurvey"]["userErrors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    timeline = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { timeline { nodes { type summary body sourcePlugin } } } } }",
        {"id": contact_id},
    )
    assert {"type": "insights.survey_answer", "summary": "NPS survey: NPS 9", "body": "丁寧", "sourcePlugin": "insights"} in (
        timeline["node"]["timeline"]["nodes"]
    )
    async with api.runtime.read_session() as session:
        query = text("SELECT sealed_body FROM core_activity WHERE type = 'insights.survey_answer'")
        sealed = (await session.execute(query)).scalar()
    assert "丁寧".encode() not in bytes(sealed)


async def test_an_expired_link_is_refused(api, enishi_sent_mail):
    ces = await survey(api, "CES")
    contact_id = await person(api, "sato")
    assert (await send(api, contact_id, ces))["sent"]
    token = await mailed_token(api, enishi_sent_mail, "sato@example.jp")
    api.clock.advance(days=14)
    expired = await api.graphql(ANSWER, {"input": {"token": token, "score": 3}})
    assert expired["answerSurvey"]["userErrors"] == [{"field": "token", "code": "EXPIRED"}]
    assert (await api.client.get(f"/insights/surveys/{token}")).status_code == 410
    assert (await api.client.post(f"/insights/surveys/{token}", json={"score": 3})).status_code == 410


async def test_sending_needs_an_address_and_consent_and_waits_between_surveys(api, enishi_sent_mail):
    nps, csat = await survey(api, "NPS"), await survey(api, "CSAT")
    no_email = (await create_contact(api, familyName="無宛先"))["id"]
    assert (await send(api, no_email, nps))["userErrors"] == [{"field": "contactId", "code": "NO_EMAIL"}]
    unconsented = await person(api, "suzuki", consent=False)
    assert (await send(api, unconsented, nps))["userErrors"] == [{"field": "contactId", "code": "NO_CONSENT"}]
    contact_id = await person(api, "tanaka")
    assert (await send(api, contact_id, nps))["userErrors"] == []
    api.clock.advance(days=29)
    assert (await send(api, contact_id, csat))["userErrors"] == [{"field": "contactId", "code": "RATE_LIMITED"}]
    api.clock.advance(days=1)
    assert (await send(api, contact_id, csat))["userErrors"] == []
    duplicate = {"name": "NPS survey", "kind": "NPS", "questionJa": " ", "questionEn": "?"}
    refused = await api.mutate("createSurvey", duplicate, "survey { id }", role="marketing")
    assert {(e["field"], e["code"]) for e in refused["userErrors"]} == {("name", "DUPLICATE"), ("questionJa", "REQUIRED")}
    variables = {"i": {"contactId": contact_id, "surveyId": nps}}
    forbidden = await api.post("mutation($i: SendSurveyInput!) { sendSurvey(input: $i) { sent } }", variables, role="sales")
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_sending_without_a_consent_ledger_proceeds(enishi_api, enishi_sent_mail):
    api = await enishi_api(disabled_plugins=frozenset({"privacy"}))
    nps = await survey(api, "NPS")
    contact_id = (await create_contact(api, familyName="kato", emails=[{"address": "kato@example.jp"}]))["id"]
    assert (await send(api, contact_id, nps))["userErrors"] == []


async def test_support_csat_reports_into_the_one_csat_figure_beside_csat_and_ces_surveys(api, enishi_sent_mail):
    api.clock.set(dt.datetime(2025, 6, 2, 10, tzinfo=JST))
    csat, ces = await survey(api, "CSAT"), await survey(api, "CES")
    for n, rating in enumerate([5, 4, 2]):
        await answered(api, enishi_sent_mail, csat, f"csat{n}", rating)
    for n, effort in enumerate([2, 3, 4]):
        await answered(api, enishi_sent_mail, ces, f"ces{n}", effort)
    requester = await person(api, "ticket")
    ticket = await api.mutate(
        "createTicket", {"subject": "?", "body": "?", "requesterId": requester}, "ticket { id }", role="support"
    )
    await api.mutate("updateTicket", {"ticketId": ticket["ticket"]["id"], "status": "solved"}, "ticket { id }", role="support")
    api.clock.advance(hours=24)
    await run_due_jobs(api.runtime)
    await deliver_pending(api.runtime)
    mail = next(m for m in enishi_sent_mail().values() if m["To"] == "ticket@example.jp")
    link = re.search(r"https://crm\.example\.test(/support/csat/\S+)", mail.get_content()).group(1)
    assert (await api.client.post(link, json={"rating": 1})).json() == {"accepted": True}
    result = await scores(api, "csatScore", "2025-06-01", "2025-06-30")
    assert (result["score"], result["responses"], result["satisfied"]) == (50.0, 4, 2)  # 5, 4 of 5, 4, 2, 1
    assert result["confidenceInterval"] == {"low": 1.0, "high": 99.0}  # 50 ± 1.96 · 100 · √(0.25 / 4)
    effort = await scores(api, "cesScore", "2025-06-01", "2025-06-30")
    assert (effort["score"], effort["responses"], effort["promoters"]) == (3.0, 3, None)
    assert effort["confidenceInterval"] == {"low": 1.9, "high": 4.1}  # 3 ± 1.96 · 1 / √3


async def test_support_csat_works_without_insights(enishi_api, enishi_sent_mail):
    api = await enishi_api(disabled_plugins=frozenset({"insights"}))
    requester = (await create_contact(api, familyName="顧客", emails=[{"address": "alone@example.jp"}]))["id"]
    ticket = await api.mutate(
        "createTicket", {"subject": "?", "body": "?", "requesterId": requester}, "ticket { id }", role="support"
    )
    await api.mutate("updateTicket", {"ticketId": ticket["ticket"]["id"], "status": "solved"}, "ticket { id }", role="support")
    api.clock.advance(hours=24)
    await run_due_jobs(api.runtime)
    await deliver_pending(api.runtime)
    mail = next(m for m in enishi_sent_mail().values() if m["To"] == "alone@example.jp")
    link = re.search(r"https://crm\.example\.test(/support/csat/\S+)", mail.get_content()).group(1)
    assert (await api.client.post(link, json={"rating": 4})).json() == {"accepted": True}


async def test_the_trend_is_monthly_in_tokyo_and_zero_filled_and_a_segment_filters(api, enishi_sent_mail):
    nps = await survey(api, "NPS")
    api.clock.set(dt.datetime(2025, 1, 31, 23, 30, tzinfo=JST))  # 14:30 UTC: January in Tokyo
    buyer = await answered(api, enishi_sent_mail, nps, "january", 10)
    await buy(api, buyer, 5000)
    api.clock.set(dt.datetime(2025, 3, 1, 0, 30, tzinfo=JST))  # still February in UTC
    await answered(api, enishi_sent_mail, nps, "march", 0)
    result = await scores(api, "npsScore", "2025-01-01", "2025-03-31")
    assert result["trend"] == [
        {"start": "2025-01-01", "score": 100.0, "responses": 1},
        {"start": "2025-02-01", "score": None, "responses": 0},
        {"start": "2025-03-01", "score": -100.0, "responses": 1},
    ]
    assert result["score"] == 0.0 and result["confidenceInterval"] == {"low": -100.0, "high": 100.0}
    only = await scores(api, "npsScore", "2025-01-01", "2025-03-31", {"rfmSegment": "Lost"})  # the buyer, alone: 111
    assert (only["score"], only["responses"]) == (100.0, 1)
    nobody = await scores(api, "npsScore", "2025-01-01", "2025-03-31", {"rfmSegment": "Champions"})
    assert (nobody["score"], nobody["responses"], nobody["confidenceInterval"], nobody["promoters"]) == (None, 0, None, 0)
    errors = await api.errors(SCORE % ("npsScore", "score"), {"from": "2025-03-01", "to": "2025-01-01", "segment": {}})
    assert errors[0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_answers_are_exported_move_with_a_merge_and_are_unlinked_on_erasure(api, enishi_sent_mail):
    api.clock.set(dt.datetime(2025, 7, 1, 12, tzinfo=JST))
    nps = await survey(api, "NPS")
    survivor = await answered(api, enishi_sent_mail, nps, "survivor", 3, "遅い")
    duplicate = await answered(api, enishi_sent_mail, nps, "duplicate", 9)
    merge = {"survivorId": survivor, "mergedIds": [duplicate]}
    merged = await api.mutate("mergeContacts", merge, "moves { plugin entity count }")
    assert {"plugin": "insights", "entity": "insights_survey_answer", "count": 1} in merged["moves"]
    api.clock.advance(days=31)
    assert (await send(api, survivor, nps))["userErrors"] == []  # a link still pending at the erasure
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": survivor}, role="compliance"
    )
    answers = exported["node"]["personalData"]["insights"]["surveys"]
    assert [(a["survey"], a["kind"], a["status"], a["score"], a["comment"]) for a in answers] == [
        ("NPS survey", "nps", "answered", 3, "遅い"),
        ("NPS survey", "nps", "answered", 9, None),
        ("NPS survey", "nps", "sent", None, None),
    ]
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(survivor))))
    assert reports["insights"].affected["insights_survey_answer:delete"] == 1
    assert reports["insights"].affected["insights_survey_answer:anonymise"] == 2
    async with api.runtime.read_session() as session:
        links = (await session.execute(text("SELECT contact_id, activity_id, token_hash FROM insights_survey_answer"))).all()
    assert links == [(None, None, None), (None, None, None)]
    kept = await scores(api, "npsScore", "2025-07-01", "2025-07-31")  # anonymous scores still count
    assert (kept["score"], kept["responses"]) == (0.0, 2)


async def _queued_behind(api, hold) -> None:
    """On PostgreSQL, until the second transaction waits on a lock the held first one took; then
    (or if it never waits, failing the test) the first goes on."""
    try:
        if not is_sqlite(api.runtime.settings.database_url):
            await _lock_waiters(api.runtime.settings.database_url)
    finally:
        hold.release.set()


class HoldAnswer:
    """Holds the first answer inside its transaction, after it marked the link answered."""

    def __init__(self):
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.is_(SURVEY_ANSWERED) and not self.entered.is_set():
            self.entered.set()
            await self.release.wait()


async def test_two_answers_at_once_through_one_link_count_once(enishi_api, enishi_sent_mail):
    hold = HoldAnswer()
    first = await enishi_api(plugins=[("hold", hold)])
    second = await enishi_api()
    nps = await survey(first, "NPS")
    contact_id = await person(first, "race")
    assert (await send(first, contact_id, nps))["sent"]
    token = await mailed_token(first, enishi_sent_mail, "race@example.jp")

    async def answer(api, score: int) -> dict:  # as the person would: no sign-in
        response = await api.client.post(
            "/graphql", json={"query": ANSWER, "variables": {"input": {"token": token, "score": score}}}
        )
        return response.json()["data"]

    answering_first = asyncio.create_task(answer(first, 10))
    await hold.entered.wait()
    answering_second = asyncio.create_task(answer(second, 0))
    await _queued_behind(first, hold)
    results = [r["answerSurvey"] for r in await asyncio.gather(answering_first, answering_second)]
    assert results == [
        {"accepted": True, "userErrors": []},
        {"accepted": False, "userErrors": [{"field": "token", "code": "ALREADY_ANSWERED"}]},
    ]
    assert await count_rows(first, "core_activity WHERE type = 'insights.survey_answer'") == 1
    today = first.clock.now().astimezone(JST).date().isoformat()
    assert (await scores(first, "npsScore", today, today))["score"] == 100.0


class HoldSend:
    """Holds the first send inside its transaction, after it wrote the link."""

    def __init__(self):
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.type == "insights.survey_requested" and not self.entered.is_set():
            self.entered.set()
            await self.release.wait()


async def test_two_sends_at_once_to_one_contact_send_one_survey(enishi_api):
    hold = HoldSend()
    first = await enishi_api(plugins=[("hold", hold)])
    second = await enishi_api()
    nps, csat = await survey(first, "NPS"), await survey(first, "CSAT")
    contact_id = await person(first, "twice")
    token = await first.token("support")  # one user, two servers
    sent = "sent userErrors { field code }"
    sending_first = asyncio.create_task(first.mutate("sendSurvey", {"contactId": contact_id, "surveyId": nps}, sent, token=token))
    await hold.entered.wait()
    sending_second = asyncio.create_task(
        second.mutate("sendSurvey", {"contactId": contact_id, "surveyId": csat}, sent, token=token)
    )
    await _queued_behind(first, hold)
    results = [(r["sent"], [e["code"] for e in r["userErrors"]]) for r in await asyncio.gather(sending_first, sending_second)]
    assert results == [(True, []), (False, ["RATE_LIMITED"])]
    assert await count_rows(first, "insights_survey_answer") == 1

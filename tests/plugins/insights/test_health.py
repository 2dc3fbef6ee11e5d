"""Customer health: issue example 4 (a customer drifting away, with support trouble and a bad
NPS), the signals' reasons, bands, the call list, recomputation on events, and the settings."""

import datetime as dt
import re

from sqlalchemy import event

from enishi.plugin import DataSubject
from enishi.plugins.insights.health import recompute_all
from enishi.worker import run_due_jobs
from tests.helpers import count_rows, create_contact, log_activity
from tests.plugins.insights.helpers import buy, customer
from tests.plugins.insights.test_people import _raw
from tests.plugins.insights.test_surveys import ANSWER, mailed_token, send, survey
from tests.plugins.support import target

JST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2025, 5, 20, 12, 0, tzinfo=JST)
HEALTH = "health { score band reasons { code params text textJa } }"


async def health_of(api, contact_id) -> dict | None:
    data = await api.graphql(f"query($id: ID!) {{ node(id: $id) {{ ... on Contact {{ {HEALTH} }} }} }}", {"id": contact_id})
    return data["node"]["health"]


async def _urgent_policy(api) -> None:
    payload = await api.mutate("createSlaPolicy", {"name": "24/7 urgent", "targets": [target("urgent", "first_reply", 60)]}, "id")
    assert payload["userErrors"] == [], payload


async def _unanswered_ticket(api, contact_id, at: dt.datetime) -> None:
    api.clock.set(at)
    payload = await api.mutate(
        "createTicket",
        {"subject": "届きません", "body": "注文が届きません", "priority": "urgent", "requesterId": contact_id},
        "ticket { id }",
        role="support",
    )
    assert payload["userErrors"] == [], payload


async def _nps(api, sent_mail, contact_id, score: int, at: dt.datetime) -> None:
    """An NPS survey mailed to the contact and answered through its link at `at`."""
    api.clock.set(at)
    updated = await api.mutate("updateContact", {"id": contact_id, "emails": [{"address": "drift@example.jp"}]}, "contact { id }")
    assert updated["userErrors"] == [], updated
    consent = await api.mutate(
        "recordConsent", {"contactId": contact_id, "purpose": "surveys", "state": "granted"}, "consent { purpose }"
    )
    assert consent["userErrors"] == [], consent
    sent = await send(api, contact_id, await survey(api, "NPS"))
    assert sent["sent"], sent
    token = await mailed_token(api, sent_mail, "drift@example.jp")
    answer = await api.graphql(ANSWER, {"input": {"token": token, "score": score}})
    assert answer["answerSurvey"] == {"accepted": True, "userErrors": []}


async def _drifting_customer(api, sent_mail) -> str:
    """Issue example 4: bought every 10 days until 45 days ago, two urgent tickets in the last 30
    days left without a reply past their one-hour SLA, and an NPS of 3 on 2 May."""
    api.clock.set(NOW)
    contact_id = await customer(api, "離反", [(45 + 10 * n, 5000) for n in range(6)])
    await _urgent_policy(api)
    await _nps(api, sent_mail, contact_id, 3, dt.datetime(2025, 5, 2, 10, 0, tzinfo=JST))
    await _unanswered_ticket(api, contact_id, dt.datetime(2025, 5, 5, 10, 0, tzinfo=JST))
    await _unanswered_ticket(api, contact_id, dt.datetime(2025, 5, 12, 10, 0, tzinfo=JST))
    api.clock.set(NOW)
    return contact_id


async def test_hook_enishi_customer_signals_and_example_four_is_high_risk_with_its_three_reasons(api, enishi_sent_mail):
    contact_id = await _drifting_customer(api, enishi_sent_mail)
    assert "insights.health" in await run_due_jobs(api.runtime)
    found = await health_of(api, contact_id)
    assert found["band"] == "HIGH"
    # purchase 40 × 1 + support 20 × 1 + NPS 15 × 4/7; the timeline (tickets, the answer) is recent.
    assert found["score"] == 69
    assert [(r["code"], r["text"]) for r in found["reasons"]] == [
        ("NO_PURCHASE", "no purchase for 45 days (usual 10)"),
        ("SLA_BREACHES", "2 SLA breaches in 30 days"),
        ("NPS", "NPS 3 on 2025-05-02"),
    ]
    assert [r["params"] for r in found["reasons"]] == [
        {"days": 45, "usual": 10},
        {"count": 2, "days": 30},
        {"score": 3, "date": "2025-05-02"},
    ]
    assert [r["textJa"] for r in found["reasons"]] == [
        "45日間購入なし（通常10日ごと）",
        "30日間にSLA違反2件",
        "2025-05-02のNPS 3",
    ]
    at_risk = await api.graphql("{ customersAtRisk(band: HIGH) { nodes { score contact { familyName } } } }")
    assert at_risk["customersAtRisk"]["nodes"] == [{"score": 69, "contact": {"familyName": "離反"}}]


async def test_the_call_list_is_riskiest_first_and_filters_by_band(api):
    api.clock.set(NOW)
    regular = await customer(api, "常連", [(2 + 10 * n, 3000) for n in range(5)])
    late = await customer(api, "遅れ", [(25 + 10 * n, 3000) for n in range(5)])
    gone = await customer(api, "離脱", [(60 + 10 * n, 3000) for n in range(5)])
    await run_due_jobs(api.runtime)
    listed = await api.graphql("{ customersAtRisk { nodes { score band contact { id } } } }")
    nodes = listed["customersAtRisk"]["nodes"]
    assert [n["contact"]["id"] for n in nodes] == [gone, late, regular]
    # 60 days for a 10-day rhythm: fully overdue (40); 25 days: (2.5 − 1.5) ÷ 2 = half (20).
    assert [(n["score"], n["band"]) for n in nodes] == [(40, "MEDIUM"), (20, "LOW"), (0, "LOW")]
    medium = await api.graphql("{ customersAtRisk(band: MEDIUM) { nodes { contact { id } } } }")
    assert medium["customersAtRisk"]["nodes"] == [{"contact": {"id": gone}}]
    assert (await health_of(api, late))["reasons"][0]["text"] == "no purchase for 25 days (usual 10)"
    assert (await health_of(api, regular))["reasons"] == []


async def test_a_purchase_rescores_its_customer_at_once(api):
    api.clock.set(NOW)
    contact_id = await customer(api, "復帰", [(60 + 10 * n, 3000) for n in range(5)])
    assert (await health_of(api, contact_id))["score"] == 40  # the last purchase's event scored it
    await buy(api, contact_id, 3000)
    assert (await health_of(api, contact_id)) == {"score": 0, "band": "LOW", "reasons": []}


async def test_an_account_is_scored_from_its_own_purchases(api):
    api.clock.set(NOW)
    payload = await api.mutate("createAccount", {"name": "株式会社離反"}, "account { id }")
    account_id = payload["account"]["id"]
    contact_id = (await create_contact(api, familyName="担当"))["id"]
    for n in range(4):
        await buy(api, contact_id, 3000, days_ago=90 + 30 * n, accountId=account_id)
    await run_due_jobs(api.runtime)
    data = await api.graphql(f'{{ node(id: "{account_id}") {{ ... on Account {{ {HEALTH} }} }} }}')
    assert data["node"]["health"]["reasons"][0]["text"] == "no purchase for 90 days (usual 30)"
    listed = await api.graphql("{ customersAtRisk(customer: ACCOUNT) { nodes { account { name } } } }")
    assert listed["customersAtRisk"]["nodes"] == [{"account": {"name": "株式会社離反"}}]


async def test_weights_and_bands_are_configurable(enishi_api):
    api = await enishi_api(
        extra={"insights_health_weights": {"purchase": 60, "activity": 0, "loyalty": 5}, "insights_health_bands": {"high": 50}}
    )
    api.clock.set(NOW)
    contact_id = await customer(api, "重視", [(60 + 10 * n, 3000) for n in range(5)])
    assert (await health_of(api, contact_id))["score"] == 60  # fully overdue on purchases, now worth 60
    assert (await health_of(api, contact_id))["band"] == "HIGH"  # from 50


async def test_weights_not_adding_up_to_100_are_refused_with_the_key(enishi_api):
    api = await enishi_api(extra={"insights_health_weights": {"purchase": 90}})
    contact_id = (await create_contact(api, familyName="設定"))["id"]
    errors = await api.errors(
        "mutation($id: ID!) { createPurchase(input: {contactId: $id, amount: 100}) { purchase { id } } }", {"id": contact_id}
    )
    assert [(e["extensions"]["code"], e["message"]) for e in errors] == [
        ("MISCONFIGURED", "[extra] insights_health_weights must be whole numbers, 0 or more, adding up to 100")
    ]


async def test_health_is_exported_with_the_person_erased_with_them_and_merged_records_scored_as_one(api):
    api.clock.set(NOW)
    person = await customer(api, "山田", [(60 + 10 * n, 3000) for n in range(5)])
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": person}, role="compliance"
    )
    assert exported["node"]["personalData"]["insights"]["health"] | {"computed_at": None} == {
        "score": 40,
        "band": "medium",
        "reasons": ["no purchase for 60 days (usual 10)"],
        "computed_at": None,
    }
    catalog = await api.graphql("{ personalDataCatalog { entity field provenance portable } }", role="compliance")
    fields = {
        (c["field"], c["provenance"], c["portable"]) for c in catalog["personalDataCatalog"] if c["entity"] == "insights_health"
    }
    assert ("reasons", "inferred", False) in fields and ("score", "inferred", False) in fields
    duplicate = await customer(api, "山田", [(1, 3000)])
    merged = await api.mutate("mergeContacts", {"survivorId": person, "mergedIds": [duplicate]}, "moves { plugin entity count }")
    assert {"plugin": "insights", "entity": "insights_health", "count": 1} in merged["moves"]
    assert await health_of(api, person) == {"score": 0, "band": "LOW", "reasons": []}  # the duplicate bought yesterday
    assert await count_rows(api, "insights_health") == 1
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(person))))
    assert reports["insights"].affected["insights_health:delete"] == 1
    assert await count_rows(api, "insights_health") == 0


async def test_the_usual_gap_is_the_median_of_the_gaps_to_the_microsecond_as_the_daily_job_reads_them(api):
    """The rhythms are reduced in SQL (rhythm.py): the middle gap of an odd number, the mean of
    the two middle ones of an even number, equal gaps and purchases at one instant, a single
    purchase, a refund, another currency, a customer with activities and no purchase. Every
    instant is off the whole second (microseconds included), and the first customer sits exactly
    on the reason threshold (risk ¼): a gap read a hair long would drop the reason."""
    at = NOW + dt.timedelta(microseconds=123_457)
    api.clock.set(at)
    odd = await customer(api, "奇数", [(32, 3000), (22, 3000), (16, 3000), (12, 3000)])  # gaps 10, 6, 4
    even = await customer(api, "偶数", [(33, 3000), (23, 3000), (17, 3000), (13, 3000), (12, 3000)])  # 10, 6, 4, 1
    same = await customer(api, "同時", [(30, 3000), (30, 3000), (30, 3000), (20, 3000)])  # 0, 0, 10
    once = await customer(api, "一回", [(90, 3000)])
    refunded = await customer(api, "返品", [(40, 3000), (30, 3000)])
    order = await buy(api, refunded, 3000, days_ago=20)
    payload = await api.mutate("createPurchaseRefund", {"purchaseId": order}, "userErrors { code }")
    assert payload["userErrors"] == [], payload
    dollars = await customer(api, "外貨", [(30, 3000), (20, 3000)])
    await buy(api, dollars, 20, days_ago=40, currency="USD")
    talks = (await create_contact(api, familyName="会話"))["id"]
    for days in (40, 30, 20):
        await log_activity(api, contactIds=[talks], occurredAt=(at - dt.timedelta(days=days)).isoformat())
    assert "insights.health" in await run_due_jobs(api.runtime)
    found = {
        name: await health_of(api, contact)
        for name, contact in [
            ("odd", odd),
            ("even", even),
            ("same", same),
            ("once", once),
            ("refunded", refunded),
            ("dollars", dollars),
            ("talks", talks),
        ]
    }
    assert {name: (h["score"], [r["text"] for r in h["reasons"]]) for name, h in found.items()} == {
        "odd": (10, ["no purchase for 12 days (usual 6)"]),  # (12 ÷ 6 − 1.5) ÷ 2 = ¼ of 40
        "even": (18, ["no purchase for 12 days (usual 5)"]),  # usual (4 + 6) ÷ 2: (2.4 − 1.5) ÷ 2 of 40
        "same": (40, ["no purchase for 20 days (usual 1)"]),  # median 0, a day at least
        "once": (0, []),
        "refunded": (40 * 3 // 4, ["no purchase for 30 days (usual 10)"]),  # the refunded one does not count
        "dollars": (10, ["no purchase for 20 days (usual 10)"]),  # a purchase in dollars is a visit
        "talks": (4, ["no activity for 20 days (usual 10)"]),  # 15 × ¼ = 3.75
    }


async def test_instants_late_in_their_second_are_read_to_the_microsecond(api):
    """SQLite's `strftime('%s')` rounds a fraction to the millisecond: read whole, an instant at
    .9997 s would gain a second. Here the middle of three gaps ends at such an instant, 300 µs
    short of 6 days: read right, the customer is a hair past the reason threshold (12 days since,
    usual just under 6) and has the reason; a second late, the usual gap is over 6 days and the
    reason is gone."""
    api.clock.set(NOW)
    late = await customer(api, "秒末", [(32, 3000), (22, 3000), (12, 3000)])
    api.clock.set(NOW - dt.timedelta(microseconds=300))  # this one at hh:mm:59.999700
    await buy(api, late, 3000, days_ago=16)  # gaps 10 days, 6 days − 300 µs, 4 days + 300 µs
    api.clock.set(NOW)
    assert "insights.health" in await run_due_jobs(api.runtime)
    found = await health_of(api, late)
    assert (found["score"], [r["text"] for r in found["reasons"]]) == (10, ["no purchase for 12 days (usual 6)"])


async def test_the_daily_job_reads_who_is_live_and_both_rhythms_in_one_statement_per_kind(api):
    """rhythm.customer_rhythms: per kind, one statement reads the live customers with their
    purchases and activities (the live ids, then each source, were three). A customer with no
    rhythm is scored all the same, a deleted one not at all."""
    api.clock.set(NOW)
    regular = await customer(api, "常連", [(40, 3000), (30, 3000), (25, 3000)])
    await log_activity(api, contactIds=[regular], occurredAt=(NOW - dt.timedelta(days=50)).isoformat())
    await log_activity(api, contactIds=[regular], occurredAt=(NOW - dt.timedelta(days=45)).isoformat())
    quiet = (await create_contact(api, familyName="未購入"))["id"]
    gone = await customer(api, "削除", [(40, 3000), (30, 3000)])
    deleted = await api.mutate("deleteContact", {"id": gone}, "contact { id }")
    assert deleted["userErrors"] == [], deleted
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await recompute_all(api.runtime) == 2
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)

    def reading(table: str) -> list[str]:
        return [s for s in statements if s.startswith("SELECT") and re.search(rf"(FROM|JOIN) {table}\b", s)]

    for customers in ("core_contact", "core_account"):
        [facts] = reading(customers)
        assert "core_purchase" in facts and "core_activity_target" in facts, facts
    assert len(reading("core_purchase")) == len(reading("core_activity_target")) == 2  # one per kind, no more
    found = await health_of(api, regular)  # purchases: gaps 10 and 5 days; activities: 5 days
    assert (found["score"], [r["text"] for r in found["reasons"]]) == (
        52,  # 40 × (25 ÷ 7.5 − 1.5) ÷ 2 + 15 × 1
        ["no purchase for 25 days (usual 8)", "no activity for 45 days (usual 5)"],
    )
    assert await health_of(api, quiet) == {"score": 0, "band": "LOW", "reasons": []}
    assert await count_rows(api, "insights_health") == 2

"""The issue's four examples, and the SLA mechanics around them (Asia/Tokyo)."""

import asyncio
import datetime as dt

from sqlalchemy import text

from enishi.plugins.support.escalation import sweep_escalations
from enishi.worker import run_due_jobs
from tests.helpers import create_contact
from tests.plugins.support import target

JST = dt.timezone(dt.timedelta(hours=9))
TICKET = (
    "ticket { id number status priority group { name } "
    "timers { kind dueAt fulfilledAt breachedAt elapsedBusinessMinutes paused } }"
)


async def _config(api, name, input):
    payload = await api.mutate(name, input, "id")
    assert payload["userErrors"] == [], payload
    return payload["id"]


async def _business_calendar(api):
    hours = [{"weekday": day, "opens": "09:00", "closes": "17:00"} for day in ("MON", "TUE", "WED", "THU", "FRI")]
    return await _config(api, "createSupportCalendar", {"name": "平日 9-17", "weeklyHours": hours, "holidayCountry": "JP"})


async def _ticket(api, priority, **extra):
    payload = await api.mutate(
        "createTicket", {"subject": "ログインできません", "priority": priority, **extra}, TICKET, role="support"
    )
    assert payload["userErrors"] == [], payload
    return payload["ticket"]


async def _view(api, ticket_id):
    return (
        await api.graphql(
            f"query($id: ID!) {{ node(id: $id) {{ ... on SupportTicket {{ {TICKET[len('ticket { ') : -2]} }} }} }}",
            {"id": ticket_id},
        )
    )["node"]


async def test_example_1_urgent_24_7_warning_breach_and_two_escalation_levels(api):
    api.clock.set(dt.datetime(2024, 6, 10, 9, 0, tzinfo=JST))
    tier2 = await _config(api, "createSupportGroup", {"name": "Tier 2"})
    policy = await _config(api, "createSlaPolicy", {"name": "24/7 urgent", "targets": [target("urgent", "first_reply", 240)]})
    for rule in (
        {"timer": "first_reply", "percent": 75},
        {"timer": "first_reply", "level": 1, "minutesAfterBreach": 0, "reassignGroupId": tier2},
        {"timer": "first_reply", "level": 2, "minutesAfterBreach": 60},
    ):
        await _config(api, "addEscalationRule", {"policyId": policy, **rule})
    ticket = await _ticket(api, "urgent")
    assert ticket["timers"][0]["dueAt"] == "2024-06-10T04:00:00+00:00"  # 13:00 in Tokyo

    async def fired():
        async with api.runtime.read_session() as session:
            rows = await session.execute(
                text("SELECT type FROM core_outbox WHERE type LIKE 'support.sla%' OR type = 'support.escalated' ORDER BY seq")
            )
            return [r[0] for r in rows]

    api.clock.set(dt.datetime(2024, 6, 10, 11, 59, tzinfo=JST))
    await run_due_jobs(api.runtime)
    assert await fired() == []
    api.clock.set(dt.datetime(2024, 6, 10, 12, 0, tzinfo=JST))
    await run_due_jobs(api.runtime)
    assert await fired() == ["support.sla_warning"]
    api.clock.set(dt.datetime(2024, 6, 10, 13, 0, tzinfo=JST))
    await run_due_jobs(api.runtime)
    assert await fired() == ["support.sla_warning", "support.sla_breached", "support.escalated"]
    view = await _view(api, ticket["id"])
    assert view["group"] == {"name": "Tier 2"} and view["timers"][0]["breachedAt"] == "2024-06-10T04:00:00+00:00"
    api.clock.set(dt.datetime(2024, 6, 10, 14, 0, tzinfo=JST))
    # Two sweeps at once, as two workers would run them: every rule still fires exactly once.
    await asyncio.gather(sweep_escalations(api.runtime), sweep_escalations(api.runtime))
    await run_due_jobs(api.runtime)
    assert await fired() == ["support.sla_warning", "support.sla_breached", "support.escalated", "support.escalated"]


async def test_example_2_four_business_hours_over_a_weekend(api):
    calendar = await _business_calendar(api)
    await _config(
        api, "createSlaPolicy", {"name": "business", "calendarId": calendar, "targets": [target("normal", "first_reply", 240)]}
    )
    api.clock.set(dt.datetime(2024, 6, 7, 16, 0, tzinfo=JST))  # Friday
    ticket = await _ticket(api, "normal")
    assert ticket["timers"][0]["dueAt"] == "2024-06-10T03:00:00+00:00"  # Monday 12:00 in Tokyo
    api.clock.set(dt.datetime(2024, 6, 10, 11, 30, tzinfo=JST))
    await api.mutate("replyToTicket", {"ticketId": ticket["id"], "body": "確認いたします。"}, "ticket { id }", role="support")
    timer = (await _view(api, ticket["id"]))["timers"][0]
    assert timer["fulfilledAt"] == "2024-06-10T02:30:00+00:00" and timer["breachedAt"] is None
    assert timer["elapsedBusinessMinutes"] == 210
    assert timer["dueAt"] == "2024-06-10T03:00:00+00:00"


async def test_example_3_an_internal_note_is_not_a_reply(api):
    await _config(api, "createSlaPolicy", {"name": "any", "targets": [target("normal", "first_reply", 480)]})
    ticket = await _ticket(api, "normal")  # Monday 09:00 in Tokyo
    api.clock.advance(minutes=30)
    await api.mutate("addInternalNote", {"ticketId": ticket["id"], "body": "調査中"}, "ticket { id }", role="support")
    assert (await _view(api, ticket["id"]))["timers"][0]["fulfilledAt"] is None
    api.clock.advance(minutes=45)
    await api.mutate("replyToTicket", {"ticketId": ticket["id"], "body": "回答します"}, "ticket { id }", role="support")
    timer = (await _view(api, ticket["id"]))["timers"][0]
    assert timer["fulfilledAt"] == "2024-06-10T01:15:00+00:00" and timer["elapsedBusinessMinutes"] == 75


async def test_pausing_statuses_stop_the_clock(api):
    await _config(api, "createSlaPolicy", {"name": "any", "targets": [target("normal", "resolution", 600)]})
    ticket = await _ticket(api, "normal")
    api.clock.advance(minutes=60)
    await api.mutate("updateTicket", {"ticketId": ticket["id"], "status": "pending"}, "ticket { id }", role="support")
    api.clock.advance(hours=5)
    paused = (await _view(api, ticket["id"]))["timers"][0]
    assert paused["elapsedBusinessMinutes"] == 60 and paused["paused"] is True and paused["dueAt"] is None
    await api.mutate("updateTicket", {"ticketId": ticket["id"], "status": "open"}, "ticket { id }", role="support")
    running = (await _view(api, ticket["id"]))["timers"][0]
    assert running["dueAt"] == "2024-06-10T15:00:00+00:00"  # 6 h running + 9 h left after 5 h pause


async def test_japanese_public_holidays_close_the_business_calendar(api):
    calendar = await _business_calendar(api)
    await _config(
        api, "createSlaPolicy", {"name": "business", "calendarId": calendar, "targets": [target("normal", "first_reply", 60)]}
    )
    api.clock.set(dt.datetime(2024, 7, 12, 16, 30, tzinfo=JST))  # Friday; Monday the 15th is Marine Day
    ticket = await _ticket(api, "normal")
    assert ticket["timers"][0]["dueAt"] == "2024-07-16T00:30:00+00:00"  # Tuesday 09:30 in Tokyo


async def test_policies_apply_in_order_first_match_wins(api):
    await _config(
        api, "createSlaPolicy", {"name": "VIP", "conditions": {"tags": ["vip"]}, "targets": [target("normal", "first_reply", 60)]}
    )
    await _config(api, "createSlaPolicy", {"name": "default", "targets": [target("normal", "first_reply", 480)]})
    vip = await _ticket(api, "normal", tags=["vip"])
    plain = await _ticket(api, "normal")
    assert vip["timers"][0]["dueAt"] == "2024-06-10T01:00:00+00:00"
    assert plain["timers"][0]["dueAt"] == "2024-06-10T08:00:00+00:00"
    invalid = await api.mutate("createSlaPolicy", {"name": "x", "targets": [target("urgent", "first_reply", -5)]}, "id")
    assert invalid["userErrors"] == [
        {"field": "targets.0.minutes", "message": "must be between 1 and 525600", "code": "OUT_OF_RANGE"}
    ]


async def test_next_reply_starts_when_the_customer_writes_again(api):
    await _config(api, "createSlaPolicy", {"name": "any", "targets": [target("normal", "next_reply", 120)]})
    contact = await create_contact(api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}])
    ticket = await _ticket(api, "normal", requesterId=contact["id"], body="困っています")
    api.clock.advance(minutes=5)
    await api.mutate("replyToTicket", {"ticketId": ticket["id"], "body": "詳細を教えてください"}, "ticket { id }", role="support")
    assert (await _view(api, ticket["id"]))["timers"] == []
    api.clock.advance(minutes=30)
    await api.mutate(
        "replyToTicket",
        {"ticketId": ticket["id"], "body": "エラー画面です", "fromCustomer": True},
        "ticket { id }",
        role="support",
    )
    timer = (await _view(api, ticket["id"]))["timers"][0]
    assert timer["kind"] == "next_reply" and timer["dueAt"] == "2024-06-10T02:35:00+00:00"


async def _fired(api):
    async with api.runtime.read_session() as session:
        rows = await session.execute(
            text(
                "SELECT type, entity_id FROM core_outbox WHERE type LIKE 'support.sla%' "
                "OR type IN ('support.escalated', 'support.first_replied') ORDER BY seq"
            )
        )
        return [(kind, str(entity)) for kind, entity in rows]


async def _merge(api, survivor, source):
    merged = await api.mutate(
        "mergeTickets", {"targetId": survivor["id"], "sourceIds": [source["id"]]}, "ticket { id }", role="support"
    )
    assert merged["userErrors"] == []


async def _metrics(api):
    return (
        await api.graphql("""{ supportMetrics(from: "2024-06-01T00:00:00Z", groupBy: PRIORITY) {
        key tickets firstReplyMedianMinutes slaAttainmentPercent } }""")
    )["supportMetrics"]


async def test_a_merge_does_not_undo_a_breach_the_target_already_suffered(api):
    api.clock.set(dt.datetime(2024, 6, 10, 9, 0, tzinfo=JST))
    policy = await _config(api, "createSlaPolicy", {"name": "24/7 urgent", "targets": [target("urgent", "first_reply", 240)]})
    await _config(api, "addEscalationRule", {"policyId": policy, "timer": "first_reply", "level": 1, "minutesAfterBreach": 0})
    survivor = await _ticket(api, "urgent", body="ログインできません")
    api.clock.set(dt.datetime(2024, 6, 10, 9, 30, tzinfo=JST))
    source = await _ticket(api, "urgent", body="同じ件です")
    api.clock.set(dt.datetime(2024, 6, 10, 10, 0, tzinfo=JST))
    await api.mutate("replyToTicket", {"ticketId": source["id"], "body": "確認します"}, "ticket { id }", role="support")
    api.clock.set(dt.datetime(2024, 6, 10, 13, 0, tzinfo=JST))
    await run_due_jobs(api.runtime)
    before = await _fired(api)
    assert [kind for kind, _ in before] == ["support.first_replied", "support.sla_breached", "support.escalated"]

    api.clock.set(dt.datetime(2024, 6, 10, 13, 30, tzinfo=JST))
    await _merge(api, survivor, source)
    timer = (await _view(api, survivor["id"]))["timers"][0]
    assert timer["breachedAt"] == "2024-06-10T04:00:00+00:00" and timer["fulfilledAt"] is None
    conversation = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on SupportTicket { articles { authorType body createdAt } } } }",
        {"id": survivor["id"]},
    )
    assert conversation["node"]["articles"] == [  # the merged messages keep their history on the survivor
        {"authorType": "customer", "body": "ログインできません", "createdAt": "2024-06-10T00:00:00+00:00"},
        {"authorType": "customer", "body": "同じ件です", "createdAt": "2024-06-10T00:30:00+00:00"},
        {"authorType": "agent", "body": "確認します", "createdAt": "2024-06-10T01:00:00+00:00"},
    ]
    api.clock.set(dt.datetime(2024, 6, 10, 14, 0, tzinfo=JST))
    await run_due_jobs(api.runtime)
    assert await _fired(api) == before  # nothing fired again, nothing taken back

    await api.mutate("replyToTicket", {"ticketId": survivor["id"], "body": "お待たせしました"}, "ticket { id }", role="support")
    timer = (await _view(api, survivor["id"]))["timers"][0]
    assert timer["fulfilledAt"] == "2024-06-10T05:00:00+00:00" and timer["breachedAt"] == "2024-06-10T04:00:00+00:00"
    assert (await _fired(api))[-1][0] == "support.first_replied"  # the survivor's own first reply
    assert await _metrics(api) == [{"key": "urgent", "tickets": 1, "firstReplyMedianMinutes": 300.0, "slaAttainmentPercent": 0.0}]


async def test_replies_merged_in_do_not_fulfil_the_targets_reply_timers(api):
    api.clock.set(dt.datetime(2024, 6, 10, 9, 0, tzinfo=JST))
    await _config(
        api,
        "createSlaPolicy",
        {"name": "24/7", "targets": [target("normal", "first_reply", 240), target("normal", "next_reply", 120)]},
    )
    source = await _ticket(api, "normal", body="請求書が届きません")
    api.clock.set(dt.datetime(2024, 6, 10, 9, 30, tzinfo=JST))
    await api.mutate("replyToTicket", {"ticketId": source["id"], "body": "再送しました"}, "ticket { id }", role="support")
    api.clock.set(dt.datetime(2024, 6, 10, 9, 45, tzinfo=JST))
    await api.mutate(
        "replyToTicket", {"ticketId": source["id"], "body": "まだです", "fromCustomer": True}, "ticket { id }", role="support"
    )
    api.clock.set(dt.datetime(2024, 6, 10, 10, 0, tzinfo=JST))
    survivor = await _ticket(api, "normal", body="請求書の件")
    api.clock.set(dt.datetime(2024, 6, 10, 10, 30, tzinfo=JST))
    await _merge(api, survivor, source)
    assert (await _view(api, survivor["id"]))["timers"] == [  # first reply still running; no next reply: nobody answered here yet
        {
            "kind": "first_reply",
            "dueAt": "2024-06-10T05:00:00+00:00",
            "fulfilledAt": None,
            "breachedAt": None,
            "elapsedBusinessMinutes": 30.0,
            "paused": False,
        }
    ]
    assert await _metrics(api) == [{"key": "normal", "tickets": 1, "firstReplyMedianMinutes": None, "slaAttainmentPercent": None}]

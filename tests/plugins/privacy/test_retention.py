"""Retention over GraphQL: rules per entity (the core's contacts, support's tickets, loyalty's
ledger entries) set by compliance, the dry run that writes nothing, the sweep to the exact
cutoff — anonymising (a person's erasure) or deleting, skipping legal holds and people with an open
request, counting per rule and run —, its idempotence, the scheduled job, and two sweeps at once
handling each record once."""

import asyncio
import datetime as dt

from sqlalchemy import delete, select, text

from enishi import hookimpl
from enishi.db import is_sqlite
from enishi.plugin import RetainableEntity, Task
from enishi.worker import run_due_jobs
from tests.helpers import count_rows, create_contact, log_activity
from tests.plugins.loyalty.helpers import earn, ledger_ok, member, program
from tests.plugins.privacy.helpers import intake, raw_id
from tests.plugins.sales.test_contracts import _lock_waiters

JST = dt.timezone(dt.timedelta(hours=9))
RULE = "rule { id entity action periodMonths basis active }"
RUN = "id actor { displayName } startedAt finishedAt rules { entity action periodMonths cutoff applied held openRequest failed }"
PREVIEW = "{ retentionPreview { rule { entity action } cutoff apply held openRequest } }"
SWEEP = f"mutation {{ runRetentionSweep {{ run {{ {RUN} }} userErrors {{ code }} }} }}"
TICKET = "query($id: ID!) { node(id: $id) { ... on SupportTicket { subject requester { id } articles { body } } } }"


async def _rule(api, entity, action, months, basis="社内規程", role="compliance"):
    payload = await api.mutate(
        "createRetentionRule", {"entity": entity, "action": action, "periodMonths": months, "basis": basis}, RULE, role=role
    )
    assert payload["userErrors"] == [], payload
    return payload["rule"]


async def _sweep(api, role="compliance") -> dict:
    payload = (await api.graphql(SWEEP, role=role))["runRetentionSweep"]
    assert payload["userErrors"] == []
    return payload["run"]


async def _closed_ticket(api, requester_id, subject="返品の相談"):
    created = await api.mutate(
        "createTicket",
        {"subject": subject, "body": "注文番号 1234 の件", "requesterId": requester_id},
        "ticket { id }",
        role="support",
    )
    ticket_id = created["ticket"]["id"]
    closed = await api.mutate("updateTicket", {"ticketId": ticket_id, "status": "closed"}, "ticket { status }", role="support")
    assert closed["ticket"] == {"status": "closed"}, closed
    return ticket_id


async def test_rules_are_set_by_compliance_per_declared_entity_and_bad_input_changes_nothing(api):
    entities = (await api.graphql("{ retentionEntities { name actions person since } }", role="compliance"))["retentionEntities"]
    assert [(e["name"], e["actions"], e["person"]) for e in entities] == [
        ("contact", ["ANONYMISE"], True),
        ("loyalty_entry", ["ANONYMISE"], False),
        ("support_ticket", ["ANONYMISE", "DELETE"], False),
    ]
    rule = await _rule(api, "support_ticket", "ANONYMISE", 60, "社内規程: 問合せ記録は完了後5年")
    assert rule | {"id": None} == {
        "id": None,
        "entity": "support_ticket",
        "action": "ANONYMISE",
        "periodMonths": 60,
        "basis": "社内規程: 問合せ記録は完了後5年",
        "active": True,
    }
    bad = [
        ({"entity": "invoice", "action": "DELETE", "periodMonths": 12, "basis": "x"}, ("entity", "UNKNOWN_ENTITY")),
        ({"entity": "loyalty_entry", "action": "DELETE", "periodMonths": 84, "basis": "x"}, ("action", "INVALID_ACTION")),
        ({"entity": "contact", "action": "ANONYMISE", "periodMonths": 0, "basis": "x"}, ("periodMonths", "OUT_OF_RANGE")),
        ({"entity": "contact", "action": "ANONYMISE", "periodMonths": 36, "basis": ""}, ("basis", "REQUIRED")),
        ({"entity": "support_ticket", "action": "DELETE", "periodMonths": 12, "basis": "x"}, ("entity", "DUPLICATE")),
    ]
    for input, (field, code) in bad:
        payload = await api.mutate("createRetentionRule", input, RULE, role="compliance")
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)], (input, payload)
    create = (
        'mutation { createRetentionRule(input: {entity: "contact", action: ANONYMISE, periodMonths: 36, basis: "x"}) '
        "{ rule { id } } }"
    )
    forbidden = await api.post(create, role="sales")
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    updated = await api.mutate(
        "updateRetentionRule", {"id": rule["id"], "action": "DELETE", "periodMonths": 61}, RULE, role="compliance"
    )
    assert (updated["rule"]["action"], updated["rule"]["periodMonths"], updated["rule"]["basis"]) == ("DELETE", 61, rule["basis"])
    refused = await api.mutate("updateRetentionRule", {"id": rule["id"], "periodMonths": 1201}, RULE, role="compliance")
    assert refused["userErrors"][0]["code"] == "OUT_OF_RANGE"
    assert await api.mutate("deleteRetentionRule", {"id": rule["id"]}, "rule { id }", role="compliance") == {
        "rule": {"id": rule["id"]},
        "userErrors": [],
    }
    assert (await api.graphql("{ retentionRules { id } }", role="compliance"))["retentionRules"] == []
    assert await count_rows(api, "privacy_retention_rule") == 0


async def test_tickets_are_anonymised_from_the_exact_cutoff_skipping_holds_and_open_requests_then_deleted(api):
    api.clock.set(dt.datetime(2019, 6, 10, 9, 0, tzinfo=JST))
    people = [(await create_contact(api, familyName=name, givenName="花子"))["id"] for name in ("佐藤", "鈴木", "高橋")]
    due = await _closed_ticket(api, people[0])
    held = await _closed_ticket(api, people[1])
    asking = await _closed_ticket(api, people[2])
    api.clock.advance(days=1)
    later = await _closed_ticket(api, people[0], "配送の遅れ")
    hold = await api.mutate(
        "placeLegalHold",
        {"contactId": people[1], "recordId": held, "basis": "係争中 / pending claim"},
        "hold { id }",
        role="compliance",
    )
    assert hold["userErrors"] == []
    await intake(api, people[2], "access")  # open: the person's records are left alone meanwhile
    await _rule(api, "support_ticket", "ANONYMISE", 60, "社内規程: 問合せ記録は完了後5年")

    api.clock.set(dt.datetime(2024, 6, 10, 8, 59, tzinfo=JST))  # five years less a minute
    plans = (await api.graphql(PREVIEW, role="compliance"))["retentionPreview"]
    assert [(p["apply"], p["held"], p["openRequest"]) for p in plans] == [([], [], [])]
    api.clock.set(dt.datetime(2024, 6, 10, 9, 0, tzinfo=JST))
    plans = (await api.graphql(PREVIEW, role="compliance"))["retentionPreview"]
    assert plans == [
        {
            "rule": {"entity": "support_ticket", "action": "ANONYMISE"},
            "cutoff": "2019-06-10T00:00:00+00:00",
            "apply": [due],
            "held": [held],
            "openRequest": [asking],
        }
    ]
    assert await count_rows(api, "privacy_retention_run") == 0  # the dry run wrote nothing
    assert (await api.graphql(TICKET, {"id": due}))["node"]["subject"] == "返品の相談"

    run = await _sweep(api)
    assert (run["actor"], run["finishedAt"]) == ({"displayName": "test compliance"}, "2024-06-10T00:00:00+00:00")
    assert run["rules"] == [
        {
            "entity": "support_ticket",
            "action": "ANONYMISE",
            "periodMonths": 60,
            "cutoff": "2019-06-10T00:00:00+00:00",
            "applied": 1,
            "held": 1,
            "openRequest": 1,
            "failed": 0,
        }
    ]
    assert (await api.graphql(TICKET, {"id": due}))["node"] == {"subject": None, "requester": None, "articles": [{"body": None}]}
    for kept in (held, asking, later):
        assert (await api.graphql(TICKET, {"id": kept}))["node"]["subject"] is not None
    again = await _sweep(api)  # idempotent: nothing left to do
    assert [(r["applied"], r["held"], r["openRequest"]) for r in again["rules"]] == [(0, 1, 1)]

    rule_id = (await api.graphql("{ retentionRules { id } }", role="compliance"))["retentionRules"][0]["id"]
    await api.mutate("updateRetentionRule", {"id": rule_id, "action": "DELETE"}, RULE, role="compliance")
    api.clock.advance(days=1)  # now the later ticket's five years have run too; the scheduled job sweeps
    assert "privacy.retention_sweep" in await run_due_jobs(api.runtime)
    runs = (await api.graphql(f"{{ retentionRuns {{ totalCount edges {{ node {{ {RUN} }} }} }} }}", role="compliance"))[
        "retentionRuns"
    ]
    assert runs["totalCount"] == 3
    scheduled = runs["edges"][0]["node"]  # the most recent first
    assert scheduled["actor"] is None
    assert [(r["action"], r["applied"], r["held"], r["openRequest"]) for r in scheduled["rules"]] == [("DELETE", 2, 1, 1)]
    assert (await api.graphql(TICKET, {"id": due}))["node"] is None
    assert (await api.graphql(TICKET, {"id": later}))["node"] is None
    assert await count_rows(api, "privacy_retention_item") == 3  # one anonymised, then two deleted


async def test_inactive_contacts_are_erased_by_the_crypto_shredding_path_unless_held_or_asking(api):
    api.clock.set(dt.datetime(2021, 1, 10, 9, 0, tzinfo=JST))
    quiet, active, asking, held = [
        (await create_contact(api, familyName=name, givenName="一郎", emails=[{"address": f"{tag}@example.jp"}]))["id"]
        for name, tag in (("田中", "tanaka"), ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"))
    ]
    call = await log_activity(api, summary="折り返し電話", contactIds=[held])
    await api.mutate(
        "placeLegalHold", {"contactId": held, "recordId": call["id"], "basis": "税務調査"}, "hold { id }", role="compliance"
    )
    # A call long after, back-dated when logged: the period counts from when it happened.
    api.clock.set(dt.datetime(2023, 9, 1, 9, 0, tzinfo=JST))
    await log_activity(api, summary="展示会で再会", contactIds=[active], occurredAt="2023-06-01T10:00:00+09:00")
    await intake(api, asking, "access")
    await _rule(api, "contact", "ANONYMISE", 36, "最終接触から3年")

    api.clock.set(dt.datetime(2024, 1, 10, 9, 0, tzinfo=JST))
    plans = (await api.graphql(PREVIEW, role="compliance"))["retentionPreview"]
    assert [(p["apply"], p["held"], p["openRequest"]) for p in plans] == [([quiet], [held], [asking])]
    run = await _sweep(api)
    assert [(r["applied"], r["held"], r["openRequest"], r["failed"]) for r in run["rules"]] == [(1, 1, 1, 0)]
    contact = "query($id: ID!) { node(id: $id) { ... on Contact { familyName } } }"
    assert (await api.graphql(contact, {"id": quiet}))["node"] == {"familyName": None}
    for kept, name in ((active, "伊藤"), (asking, "渡辺"), (held, "山本")):
        assert (await api.graphql(contact, {"id": kept}))["node"] == {"familyName": name}
    erasures = (
        await api.graphql(
            '{ dataSubjectRequests(filter: {type: ["erasure"]}) { edges { node { channel status } } } }', role="compliance"
        )
    )["dataSubjectRequests"]["edges"]
    assert erasures == [{"node": {"channel": "retention", "status": "completed"}}]
    async with api.runtime.read_session() as session:
        key = (
            await session.execute(
                text("SELECT wrapped_key FROM core_subject_key WHERE contact_id = :id"), {"id": str(raw_id(quiet))}
            )
        ).all()
    assert key in ([], [(None,)])  # the subject's key is gone: every ciphertext of theirs unreadable for good


async def test_ledger_entries_lose_their_reason_after_seven_years_and_the_ledger_stays_balanced(api):
    api.clock.set(dt.datetime(2017, 4, 1, 9, 0, tzinfo=JST))
    program_id = await program(api, expiryMode="never", expiryDays=None)
    member_id = await member(api, program_id)
    old = (await earn(api, member_id, 500, reason="お詫び：山田様の配送遅延"))["entry"]
    api.clock.set(dt.datetime(2023, 4, 1, 9, 0, tzinfo=JST))
    recent = (await earn(api, member_id, 200, reason="誕生日ポイント"))["entry"]
    await _rule(api, "loyalty_entry", "ANONYMISE", 84, "会計帳簿の保存期間 (7年)")
    api.clock.set(dt.datetime(2024, 4, 1, 9, 0, tzinfo=JST))
    run = await _sweep(api)
    assert [(r["entity"], r["applied"]) for r in run["rules"]] == [("loyalty_entry", 1)]
    entries = (
        "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance "
        "ledger { edges { node { id amount balanceAfter reason } } } } } }"
    )
    listed = (await api.graphql(entries, {"id": member_id}))["node"]
    assert listed["balance"] == 700
    by_id = {e["node"]["id"]: e["node"] for e in listed["ledger"]["edges"]}
    assert (by_id[old["id"]]["amount"], by_id[old["id"]]["balanceAfter"], by_id[old["id"]]["reason"]) == (500, 500, None)
    assert by_id[recent["id"]]["reason"] == "誕生日ポイント"
    assert await ledger_ok(api)


class SweepBarrier:
    """Holds the first sweep inside the transaction that changes a batch, its rows locked, until released."""

    def __init__(self):
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.type == "privacy.retention_applied" and not self.entered.is_set():
            self.entered.set()
            await self.release.wait()


async def test_two_sweeps_at_once_handle_each_record_once(enishi_api):
    barrier = SweepBarrier()
    first = await enishi_api(plugins=[("barrier", barrier)])
    second = await enishi_api()
    api = first
    api.clock.set(dt.datetime(2019, 6, 10, 9, 0, tzinfo=JST))
    person = (await create_contact(api, familyName="中村", givenName="次郎"))["id"]
    tickets = [await _closed_ticket(api, person, f"問合せ {n}") for n in range(3)]
    await _rule(api, "support_ticket", "ANONYMISE", 60)
    api.clock.set(dt.datetime(2024, 7, 1, 9, 0, tzinfo=JST))
    second.tokens, second.user_ids = first.tokens, first.user_ids  # one staff, two app processes
    # The first sweep changes the batch and stops before committing; the second has planned the
    # same three tickets (nothing committed yet) and then waits for their locks.
    running_first = asyncio.create_task(_sweep(first))
    await barrier.entered.wait()
    running_second = asyncio.create_task(_sweep(second))
    url = first.runtime.settings.database_url
    if not is_sqlite(url):  # PostgreSQL: the second sweep waits on the first's row locks
        await _lock_waiters(url)
    barrier.release.set()
    runs = await asyncio.gather(running_first, running_second)
    assert sorted(run["rules"][0]["applied"] for run in runs) == [0, 3]
    assert await count_rows(api, "privacy_retention_item") == 3
    for ticket in tickets:
        assert (await api.graphql(TICKET, {"id": ticket}))["node"]["subject"] is None


class DoneTaskRetention:
    """An outsider's retainable entity: done tasks, deleted a number of months after completion."""

    @hookimpl
    def enishi_retainable_entities(self):
        async def due(session, cutoff, action, record_ids=None):
            statement = select(Task.id, Task.contact_id).where(Task.status == "done", Task.completed_at <= cutoff)
            if record_ids is not None:
                statement = statement.where(Task.id.in_(list(record_ids))).with_for_update()
            return [tuple(row) for row in (await session.execute(statement.order_by(Task.completed_at, Task.id))).all()]

        async def apply(uow, action, record_ids):
            return (await uow.session.execute(delete(Task).where(Task.id.in_(list(record_ids))))).rowcount

        return [RetainableEntity("done_task", "core_task", "completed", ("delete",), due, apply)]


async def test_hook_enishi_retainable_entities(enishi_api):
    api = await enishi_api(plugins=[("taskretention", DoneTaskRetention())])
    entities = (await api.graphql("{ retentionEntities { name since actions } }", role="compliance"))["retentionEntities"]
    assert {"name": "done_task", "since": "completed", "actions": ["DELETE"]} in entities
    api.clock.set(dt.datetime(2023, 3, 31, 9, 0, tzinfo=JST))
    tasks = [
        (await api.mutate("createTask", {"title": title}, "task { id }"))["task"]["id"] for title in ("請求書送付", "折り返し")
    ]
    assert (await api.mutate("updateTask", {"id": tasks[0], "status": "done"}, "task { status }"))["task"] == {"status": "done"}
    await _rule(api, "done_task", "DELETE", 12, "完了後1年")
    api.clock.set(dt.datetime(2024, 3, 31, 9, 0, tzinfo=JST))
    assert [r["applied"] for r in (await _sweep(api))["rules"]] == [1]
    found = "query($id: ID!) { node(id: $id) { id } }"
    assert [(await api.graphql(found, {"id": task}))["node"] for task in tasks] == [None, {"id": tasks[1]}]

"""The access log over GraphQL: append-only and hash-chained, every read of a person's sealed data
logged once a day (names, emails, phones, a ticket's text, activity text, messages, ledger
reasons), what a page's first read costs, and that a read whose log entry did not commit is
logged by the next one."""

import asyncio
import json

import pytest
from sqlalchemy import event, text

from enishi import hookimpl
from tests.helpers import create_contact, log_activity
from tests.plugins.loyalty.helpers import program

PAGE = "{ contacts(first: 50) { nodes { displayName } } }"


async def _log_statements(api, query: str, role: str) -> list[str]:
    """The statements naming the access log that running `query` as `role` sent."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if "privacy_access_log" in statement:
            statements.append(" ".join(statement.split()[:3]).upper())

    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        await api.graphql(query, role=role)
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    return statements


async def _entries(api) -> int:
    verified = (await api.graphql("{ verifyAccessLog { valid entries } }", role="compliance"))["verifyAccessLog"]
    assert verified["valid"]
    return verified["entries"]


async def test_a_first_read_of_many_people_is_logged_in_one_insert_and_a_repeat_writes_nothing(api):
    for i in range(30):
        await create_contact(api, familyName=f"頁{i}")
    before = await _entries(api)
    first = await _log_statements(api, PAGE, "sales")
    assert first.count("INSERT INTO PRIVACY_ACCESS_LOG") == 1, first  # one executemany, not one INSERT a person
    assert await _entries(api) == before + 30  # every person read, chained
    assert await _log_statements(api, PAGE, "sales") == []  # committed, so remembered: no lookup either


class FailsOnce:
    """A plugin that fails the access log's transaction once, after the privacy plugin wrote to it."""

    def __init__(self):
        self.failures_left = 1

    @hookimpl(trylast=True)
    def enishi_personal_data_read(self, uow, contact_ids):
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("the log's transaction fails")


async def test_a_read_whose_log_entry_was_rolled_back_is_logged_by_the_next_read(enishi_api):
    failing = FailsOnce()
    api = await enishi_api(plugins=[("fails_once", failing)])
    person = await create_contact(api, familyName="巻戻")
    query = "query($id: ID!) { node(id: $id) { ... on Contact { displayName } } }"

    async def reads_by_sales():
        log = await api.graphql(
            "query($id: ID!) { accessLog(contactId: $id) { action roles } }", {"id": person["id"]}, role="compliance"
        )
        return [e for e in log["accessLog"] if e == {"action": "read", "roles": ["sales"]}]

    with pytest.raises(RuntimeError, match="fails"):  # raising fails the request: nothing was shown unlogged
        await api.post(query, {"id": person["id"]}, role="sales")
    assert await reads_by_sales() == []
    assert (await api.graphql(query, {"id": person["id"]}, role="sales"))["node"]["displayName"]
    assert len(await reads_by_sales()) == 1


class HoldsTheFirstLog:
    """Holds the first access-log transaction open, its entries written, until released; tells
    when a second request, its reads done, has come to log them."""

    def __init__(self):
        self.logs = 0
        self.first_holding, self.second_logging, self.release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @hookimpl(tryfirst=True)
    def enishi_request_finished(self, runtime, actor_id, personal_reads):
        if self.first_holding.is_set():
            self.second_logging.set()

    @hookimpl(trylast=True)
    async def enishi_personal_data_read(self, uow, contact_ids):
        self.logs += 1
        if self.logs == 1:
            self.first_holding.set()
            await self.release.wait()


async def _waiting_for_the_chain(api, second: asyncio.Task) -> None:
    """Until the second request waits for the chain's lock (or, were there none, has finished):
    on PostgreSQL the advisory lock is seen waiting; on SQLite the unit of work's write gate admits
    it only after the first commits, whenever it arrives, so having come to log is enough."""
    if api.runtime.engine.dialect.name != "postgresql":
        return
    waiting = text(  # pg_locks spans the cluster: only this database's waiters, not other test processes'
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
    )
    while not second.done():
        async with api.runtime.read_session() as session:
            if (await session.execute(waiting)).scalar_one():
                return
        await asyncio.sleep(0.01)


async def test_two_first_reads_at_once_each_log_every_person_on_one_valid_chain(enishi_api):
    holder = HoldsTheFirstLog()
    api = await enishi_api(plugins=[("holds_the_first_log", holder)])
    people = [await create_contact(api, familyName=f"同時{i}") for i in range(20)]
    page = "{ contacts(first: 50) { nodes { displayName } } }"
    for role in ("sales", "support"):  # their users and tokens made now: that is a write, which would wait
        await api.graphql("{ viewer { id } }", role=role)
    first = asyncio.create_task(api.graphql(page, role="sales"))
    await holder.first_holding.wait()  # the sales reads are written, not committed, the chain's lock held
    second = asyncio.create_task(api.graphql(page, role="support"))
    await holder.second_logging.wait()  # the support reads are done and come to be logged
    await _waiting_for_the_chain(api, second)
    holder.release.set()
    await asyncio.gather(first, second)
    for person in people:
        log = await api.graphql(
            "query($id: ID!) { accessLog(contactId: $id) { action roles } }", {"id": person["id"]}, role="compliance"
        )
        reads = sorted(e["roles"][0] for e in log["accessLog"] if e["action"] == "read")
        assert reads == ["sales", "support"], (person, log)
    assert await _entries(api) >= 40  # every entry of both, on one chain that verifies


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


async def test_activity_text_read_on_a_contacts_timeline_is_a_read_of_every_person_it_concerns(api):
    """The timeline's entries are lean records (not ORM objects): their reads still name the
    activity, whose targets are the people read."""
    kato, ito = [await create_contact(api, familyName=name) for name in ("加藤", "伊藤")]
    await log_activity(api, type="meeting", summary="加藤様・伊藤様と面談", contactIds=[kato["id"], ito["id"]])
    timeline = "query($id: ID!) { node(id: $id) { ... on Contact { timeline(first: 3) { nodes { type %s } } } } }"
    await api.graphql(timeline % "", {"id": kato["id"]}, role="support")

    async def read_by_support(person) -> bool:
        log = await api.graphql(
            "query($id: ID!) { accessLog(contactId: $id) { action roles } }", {"id": person["id"]}, role="compliance"
        )
        return {"action": "read", "roles": ["support"]} in log["accessLog"]

    assert [await read_by_support(p) for p in (kato, ito)] == [False, False]  # no text opened
    page = await api.graphql(timeline % "summary", {"id": kato["id"]}, role="support")
    assert page["node"]["timeline"]["nodes"] == [{"type": "meeting", "summary": "加藤様・伊藤様と面談"}]
    assert [await read_by_support(p) for p in (kato, ito)] == [True, True]
    assert await _entries(api)  # and the chain verifies

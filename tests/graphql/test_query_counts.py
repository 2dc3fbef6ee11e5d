"""No N+1: a page costs the same number of SQL statements whatever its size."""

import re

from sqlalchemy import event

from tests.helpers import create_account, create_contact, log_activity

PAGE = """query($n: Int) { contacts(first: $n) { totalCount edges { node {
    displayName emails { address } phones { e164 } owner { displayName }
    accounts { isPrimary account { name owner { displayName } nextActionAt parent { name } } }
    timeline(first: 3) { totalCount edges { node { summary actor { displayName } contacts { familyName } } } }
    tasks { title } } } } }"""


async def _statements(api, query, variables):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        await api.graphql(query, variables)
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    return [s for s in statements if s.strip().upper().startswith("SELECT")]


async def test_a_page_of_contacts_costs_a_constant_number_of_queries(api):
    parent = await create_account(api, name="Holdings")
    accounts = [await create_account(api, name=f"Account {i}", parentId=parent["id"]) for i in range(5)]
    owner_token_user = await api.graphql("{ viewer { id } }")
    for i in range(100):
        contact = await create_contact(
            api,
            familyName=f"Contact {i}",
            emails=[{"address": f"c{i}@example.jp"}],
            phones=[{"number": f"03-1234-{i:04d}"}],
            ownerId=owner_token_user["viewer"]["id"],
            accounts=[{"accountId": accounts[i % 5]["id"]}],
        )
        for day in range(1, 5):
            await log_activity(api, contactIds=[contact["id"]], occurredAt=f"2024-05-0{day}T00:00:00Z")
        await api.mutate(
            "createTask", {"title": f"task {i}", "contactId": contact["id"], "dueAt": "2024-07-01T00:00:00Z"}, "task { id }"
        )
    small = await _statements(api, PAGE, {"n": 10})
    large = await _statements(api, PAGE, {"n": 100})
    assert len(small) == len(large), (len(small), len(large))
    # 16 for the page; the access log's share: the people behind the activity text read, the day's
    # entries, the chain's last hash, the reader (and two advisory locks on PostgreSQL).
    assert len(large) <= 22


def _reading(table: str, statements: list[str]) -> list[str]:
    """The statements that read `table` itself (not a table whose name starts with it)."""
    return [s for s in statements if re.search(rf"\b{table}\b(?!_)", s)]


async def _contacts_with_activities(api, prefix: str, contacts: int, activities: int) -> None:
    for i in range(contacts):
        contact = await create_contact(api, familyName=f"{prefix} {i}")
        for day in range(1, activities + 1):
            text = {"summary": f"{prefix}要約{i}-{day}", "body": f"{prefix}本文{i}-{day}"}
            await log_activity(api, contactIds=[contact["id"]], occurredAt=f"2024-05-0{day}T00:00:00Z", **text)


async def test_a_nested_connection_asked_only_for_its_count_loads_none_of_its_items(api):
    await _contacts_with_activities(api, "Count", 3, 2)
    count_only = "{ contacts { nodes { timeline(first: 3) { totalCount } } } }"
    with_items = "{ contacts { nodes { timeline(first: 3) { totalCount nodes { id } } } } }"
    assert {n["timeline"]["totalCount"] for n in (await api.graphql(count_only))["contacts"]["nodes"]} >= {2}
    # The count reads the activities' targets only; the items' page would read the activities.
    assert _reading("core_activity", await _statements(api, count_only, {})) == []
    assert len(_reading("core_activity", await _statements(api, with_items, {}))) == 1


async def test_a_timeline_page_reads_its_entries_without_their_bodies_and_a_body_asked_for_costs_one_statement(api):
    await _contacts_with_activities(api, "Body", 3, 2)
    summaries = "{ contacts(orderBy: [{field: FAMILY_NAME}]) { nodes { timeline(first: 1) { nodes { summary } } } } }"
    bodies = "{ contacts(orderBy: [{field: FAMILY_NAME}]) { nodes { timeline(first: 1) { nodes { summary body } } } } }"
    nodes = (await api.graphql(bodies))["contacts"]["nodes"]  # read once: what follows are repeats, the access log done
    entries = [entry for n in nodes for entry in n["timeline"]["nodes"]]
    assert all({"summary": f"Body要約{i}-2", "body": f"Body本文{i}-2"} in entries for i in range(3)), entries
    without_body = await _statements(api, summaries, {})
    assert [s for s in _reading("core_activity", without_body) if "sealed_body" in s] == []
    with_body = await _statements(api, bodies, {})
    assert len(with_body) == len(without_body) + 1  # the bodies of the level's entries, by id, at once

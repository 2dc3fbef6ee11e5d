"""No N+1: a page costs the same number of SQL statements whatever its size."""

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

"""The access log of reads over GraphQL: what a page's first read costs, and that a read whose log
entry did not commit is logged by the next one."""

import pytest
from sqlalchemy import event

from enishi import hookimpl
from tests.helpers import create_contact

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

"""Batch fields (`batch_field`, the kit's batch-resolver protocol): one call per level of the
response for every object of that level, through a plugin that counts the calls."""

from __future__ import annotations

import asyncio

import pytest
from strawberry.types import Info

from enishi.plugin import batch_field, hookimpl
from tests.helpers import create_account, create_contact


class BatchCountingPlugin:
    """Contributes `Contact.batchTestEcho`, a batch field recording how many contacts each call got."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.callers: set[str] = set()  # the coroutine of the task each call ran in

    def echo(self, contacts: list, info: Info, suffix: str = "!") -> list:
        self.calls.append(len(contacts))
        self.callers.add(asyncio.current_task().get_coro().__qualname__)  # type: ignore[union-attr]
        return [
            ValueError("no echo for this one") if contact._row.family_name == "ERR" else contact._row.family_name + suffix
            for contact in contacts
        ]

    @hookimpl
    def enishi_graphql_type_fields(self):
        return [("Contact", batch_field(self.echo, name="batchTestEcho", graphql_type=str | None))]


NESTED = """{ contacts(first: 10) { edges { node { familyName batchTestEcho
    primaryAccount { contacts(first: 10) { edges { node { batchTestEcho(suffix: "?") } } } } } } } }"""


async def _people(api, names) -> None:
    account = await create_account(api, name="Batch Holdings")
    for name in names:
        await create_contact(api, familyName=name, accounts=[{"accountId": account["id"], "primary": True}])


@pytest.fixture
async def counted(enishi_api):
    plugin = BatchCountingPlugin()
    api = await enishi_api(plugins=[("batchtest", plugin)])
    await _people(api, [f"人{i}" for i in range(6)])
    plugin.calls.clear()  # the mutations' payloads do not select the field, but start from nothing
    return plugin, api


async def test_a_batch_field_is_resolved_with_one_call_per_level(counted):
    plugin, api = counted
    data = await api.graphql(NESTED)
    nodes = [edge["node"] for edge in data["contacts"]["edges"]]
    assert sorted(node["batchTestEcho"] for node in nodes) == [f"人{i}!" for i in range(6)]
    inner = [e["node"]["batchTestEcho"] for node in nodes for e in node["primaryAccount"]["contacts"]["edges"]]
    assert sorted(inner) == sorted(f"人{i}?" for i in range(6) for _ in range(6))
    # The 6 contacts in one call; the 36 contacts of their accounts' lists (6 each) in a second,
    # made by the executor itself: no DataLoader gathered them (its batches run in a task of their own).
    assert plugin.calls == [6, 36]
    assert not any("dispatch_batch" in caller for caller in plugin.callers), plugin.callers


async def test_an_error_in_a_batch_fields_answer_is_that_objects_alone(counted):
    plugin, api = counted
    await create_contact(api, familyName="ERR")
    plugin.calls.clear()
    response = await api.post("{ contacts(first: 10) { edges { node { familyName batchTestEcho } } } }")
    body = response.json()
    nodes = [edge["node"] for edge in body["data"]["contacts"]["edges"]]
    assert {n["familyName"]: n["batchTestEcho"] for n in nodes} == {"ERR": None, **{f"人{i}": f"人{i}!" for i in range(6)}}
    (error,) = body["errors"]
    failed = next(i for i, n in enumerate(nodes) if n["familyName"] == "ERR")
    assert error["path"] == ["contacts", "edges", failed, "node", "batchTestEcho"]
    assert plugin.calls == [7]


async def test_outside_the_breadth_first_executor_a_batch_field_is_batched_by_a_loader(enishi_api):
    plugin = BatchCountingPlugin()
    api = await enishi_api(plugins=[("batchtest", plugin)], breadth_first_execution=False)
    await _people(api, [f"人{i}" for i in range(6)])
    plugin.calls.clear()
    data = await api.graphql('{ contacts(first: 10) { edges { node { batchTestEcho(suffix: "?") } } } }')
    assert sorted(edge["node"]["batchTestEcho"] for edge in data["contacts"]["edges"]) == [f"人{i}?" for i in range(6)]
    assert plugin.calls == [6]
    assert plugin.callers == {"dispatch_batch"}

"""Typed events: each type declared once (`enishi_event_types`), emitted by its declaration,
checked when emitted (its name always, its payload while `validate_events` is on, as in tests),
and listed in the hook reference."""

import re
from pathlib import Path

import pytest
import strawberry
from sqlalchemy import text
from strawberry.types import Info

from enishi import EventType, PayloadField, hookdoc, hookimpl
from enishi.events import CONTACT_CREATED, EventError
from enishi.plugin import run_mutation

ROOT = Path(__file__).resolve().parents[2]
PINGED = EventType(
    "hooktest.pinged",
    "hooktest_note",
    "A ping from the test plugin.",
    (
        PayloadField("word", str, "what was said"),
        PayloadField("count", int, "how often"),
        PayloadField("tags", list[str], "labels", required=False),
    ),
)
UNDECLARED = EventType("hooktest.undeclared", "hooktest_note", "Returned by no plugin.")


@strawberry.type
class PingMutation:
    @strawberry.mutation
    async def hook_test_emit(self, info: Info, word: str) -> bool:
        async def work(uow):
            await uow.emit(PINGED, None, {"word": word, "count": len(word)})
            return True

        done, _ = await run_mutation(info, "crm.write", work)
        return bool(done)


class Pinger:
    def __init__(self):
        self.heard = []

    @hookimpl
    def enishi_event_types(self):
        return [PINGED]

    @hookimpl
    def enishi_graphql_mutation(self):
        return [PingMutation]

    @hookimpl
    def enishi_on_event(self, event):
        if event.is_(PINGED):
            self.heard.append((event.type, event.entity, event.payload))


async def _outbox_types(api) -> list[str]:
    async with api.runtime.read_session() as session:
        return list((await session.execute(text("SELECT type FROM core_outbox ORDER BY seq"))).scalars())


async def test_hook_enishi_event_types(enishi_api):
    pinger = Pinger()
    api = await enishi_api(plugins=[("hooktest", pinger)])
    assert (await api.graphql('mutation { hookTestEmit(word: "縁") }'))["hookTestEmit"] is True
    # The listener hears the declared type, the entity coming from the declaration; the outbox has it too.
    assert pinger.heard == [("hooktest.pinged", "hooktest_note", {"word": "縁", "count": 1})]
    assert await _outbox_types(api) == ["hooktest.pinged"]
    assert api.runtime.events.declared_by["hooktest.pinged"] == "hooktest"


async def test_an_undeclared_event_is_refused_and_nothing_is_written(enishi_api):
    api = await enishi_api(plugins=[("hooktest", Pinger())], validate_events=False)
    with pytest.raises(EventError, match=r"event type 'hooktest.undeclared' is not declared"):  # noqa: PT012  (the declared event's write must roll back with the refused one)
        async with api.runtime.unit_of_work() as uow:
            await uow.emit(PINGED, None, {"word": "a", "count": 1})
            await uow.emit(UNDECLARED, None)
    assert await _outbox_types(api) == []


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"word": "a"}, "missing field 'count'"),
        ({"word": "a", "count": 1, "email": "a@example.jp"}, "unknown field 'email'"),
        ({"word": "a", "count": "1"}, "field 'count' is str, not int"),
        ({"word": "a", "count": True}, "field 'count' is bool, not int"),
        ({"word": "a", "count": 1, "tags": ["x", 2]}, "field 'tags' is list, not list[str]"),
    ],
)
async def test_a_payload_unlike_its_declaration_is_refused_in_tests(enishi_api, payload, error):
    api = await enishi_api(plugins=[("hooktest", Pinger())])
    with pytest.raises(EventError, match=re.escape(f"hooktest.pinged payload: {error}")):
        async with api.runtime.unit_of_work() as uow:
            await uow.emit(PINGED, None, payload)
    assert await _outbox_types(api) == []
    async with api.runtime.unit_of_work() as uow:  # optional fields may be left out or given
        await uow.emit(PINGED, None, {"word": "a", "count": 1})
        await uow.emit(PINGED, None, {"word": "a", "count": 1, "tags": ["x"]})
    assert await _outbox_types(api) == ["hooktest.pinged", "hooktest.pinged"]


async def test_payloads_go_unchecked_when_validation_is_off(enishi_api):
    api = await enishi_api(plugins=[("hooktest", Pinger())], validate_events=False)
    async with api.runtime.unit_of_work() as uow:
        await uow.emit(PINGED, None, {"word": "a"})
    assert await _outbox_types(api) == ["hooktest.pinged"]


@pytest.mark.parametrize("rival", [PINGED, CONTACT_CREATED])
async def test_an_event_type_declared_twice_stops_start_up(enishi_api, rival):
    class Rival:
        @hookimpl
        def enishi_event_types(self):
            return [EventType(rival.name, "rival", "The same name, declared again.")]

    first = "core" if rival is CONTACT_CREATED else "hooktest"  # named in order, whichever registered first
    with pytest.raises(EventError, match=rf"event type '{re.escape(rival.name)}' is declared twice: by '{first}' and by 'rival'"):
        await enishi_api(plugins=[("hooktest", Pinger()), ("rival", Rival())])


async def test_a_declaration_that_is_not_an_event_type_stops_start_up(enishi_api):
    class Stringly:
        @hookimpl
        def enishi_event_types(self):
            return ["stringly.happened"]

    with pytest.raises(
        EventError, match=r"plugin 'stringly' declared 'stringly.happened' in enishi_event_types, which is not an EventType"
    ):
        await enishi_api(plugins=[("stringly", Stringly())])


def test_the_hook_reference_lists_every_event_of_the_core_and_bundled_plugins():
    registry = hookdoc.bundled_events()
    declaring = {"core", "abm", "automation", "insights", "loyalty", "privacy", "sales", "support"}
    assert declaring == set(registry.declared_by.values())
    reference = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    listed = re.findall(r"^### `([^`]+)`$", reference, re.M)
    assert listed and sorted(listed) == sorted(registry.types)
    assert "| `fields` | `list[str]` | yes | names of the fields that changed |" in reference


async def test_emit_many_raises_each_event_in_order_and_checks_all_before_any(enishi_api):
    pinger = Pinger()
    api = await enishi_api(plugins=[("hooktest", pinger)])
    async with api.runtime.unit_of_work() as uow:
        emitted = await uow.emit_many(PINGED, [(None, {"word": w, "count": len(w)}) for w in ("縁", "ご縁", "良縁です")])
    assert [e.payload["word"] for e in emitted] == ["縁", "ご縁", "良縁です"]
    assert [payload["count"] for _, _, payload in pinger.heard] == [1, 2, 4]
    assert await _outbox_types(api) == ["hooktest.pinged"] * 3
    pinger.heard.clear()
    with pytest.raises(EventError, match=re.escape("hooktest.pinged payload: missing field 'count'")):
        async with api.runtime.unit_of_work() as uow:
            await uow.emit_many(PINGED, [(None, {"word": "a", "count": 1}), (None, {"word": "b"})])
    assert pinger.heard == []  # the bad second event stopped the first's hooks too
    assert await _outbox_types(api) == ["hooktest.pinged"] * 3

"""Each hook, proven through the surface a plugin author relies on. The guard tests at the end
keep this file, docs/hooks.md and core/hookspecs.py in step."""

import inspect
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pluggy
import pytest
import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi import (
    ActivityType,
    DataSubject,
    ErasureReport,
    MergeMove,
    Permission,
    PersonalDataField,
    ScheduledJob,
    hookdoc,
    hookimpl,
    hooks,
    hookspecs,
    models,
)
from enishi.errors import InputError, UserError
from enishi.events import CONTACT_CREATED
from enishi.graphql.relay import to_global_id
from enishi.plugin_host import PluginError, PluginHost
from enishi.settings import Settings
from enishi.worker import run_due_jobs
from tests.helpers import count_rows, create_contact

ROOT = Path(__file__).resolve().parents[2]


@strawberry.type
class HookTestNote:
    text: str


def _shout_loader(ctx):
    async def load(ids):
        rows = await ctx.scalars(select(models.Contact).where(models.Contact.id.in_(ids)))
        by_id = {r.id: r for r in rows}
        return [(by_id[i].family_name or "").upper() + "!" for i in ids]

    return load


async def _shout(root, info: Info) -> str:
    return await info.context.loader("hooktest.shout", _shout_loader).load(root._row.id)


@strawberry.type
class HookTestQuery:
    @strawberry.field
    def hook_test_notes(self, info: Info) -> list[HookTestNote]:
        info.context.require("hooktest.read")
        return [HookTestNote(text="hello")]


@strawberry.type
class HookTestMutation:
    @strawberry.mutation
    def hook_test_ping(self, info: Info, message: str) -> str:
        info.context.require("hooktest.read")
        return f"pong: {message}"


class RecordingPlugin:
    """A plugin implementing every hook, recording what it was called with."""

    def __init__(self):
        self.events = []
        self.merges = []
        self.erased = []
        self.job_runs = 0
        self.held = {}  # contact id → a note, the plugin's own "personal data"
        self.reads = []  # (reader, people read) per request
        self.finished = []  # (reader, what it decrypted) per GraphQL request

    @hookimpl
    def enishi_graphql_types(self):
        return [HookTestNote]

    @hookimpl
    def enishi_graphql_query(self):
        return [HookTestQuery]

    @hookimpl
    def enishi_graphql_mutation(self):
        return [HookTestMutation]

    @hookimpl
    def enishi_graphql_type_fields(self):
        return [("Contact", strawberry.field(resolver=_shout, name="hookTestShout"))]

    @hookimpl
    def enishi_activity_types(self):
        return [ActivityType("hooktest.visit", "Site visit", "訪問")]

    @hookimpl
    def enishi_permissions(self):
        return [Permission("hooktest.read", "Read hook test data", ("sales",))]

    @hookimpl
    def enishi_scheduled_jobs(self):
        import datetime as dt

        def run(runtime):
            self.job_runs += 1

        return [ScheduledJob("hooktest.tick", dt.timedelta(hours=1), run)]

    @hookimpl
    def enishi_personal_data(self):
        return [PersonalDataField("hooktest_note", "text", "user.content", provenance="observed")]

    @hookimpl
    async def enishi_on_event(self, event, uow):
        # Runs inside the transaction: the new row is visible, and a veto rolls everything back.
        if event.is_(CONTACT_CREATED):
            contact = await uow.session.get(models.Contact, event.entity_id)
            if contact.family_name == "VETO":
                raise InputError(UserError("familyName", "vetoed by the hook test plugin", "VETOED"))
            if contact.family_name == "CRASH":
                raise RuntimeError("the plugin failed")
        self.events.append(event.type)

    @hookimpl
    def enishi_merge(self, uow, entity, survivor_id, merged_ids, dry_run):
        moving = [m for m in merged_ids if m in self.held]
        if not dry_run:
            for merged in moving:
                self.held[survivor_id] = self.held.pop(merged)
            self.merges.append((entity, survivor_id, tuple(merged_ids)))
        return [MergeMove("hooktest", "hooktest_note", len(moving))]

    @hookimpl
    def enishi_subject_collect(self, uow, subject):
        note = self.held.get(subject.contact_id)
        return {"note": note} if note else None

    @hookimpl
    def enishi_personal_data_read(self, uow, contact_ids):
        self.reads.append((uow.actor_id, set(contact_ids)))

    @hookimpl
    def enishi_request_finished(self, runtime, actor_id, personal_reads):
        self.finished.append((runtime, actor_id, set(personal_reads)))

    @hookimpl
    def enishi_holdable_types(self):
        return ["core_task", "hooktest_note"]  # a table, not a GraphQL type: tasks' Node type is found from it

    @hookimpl
    def enishi_subject_erase(self, uow, subject):
        report = ErasureReport("hooktest")
        if self.held.pop(subject.contact_id, None) is not None:
            report.add("hooktest_note", "delete", 1)
        self.erased.append(subject.contact_id)
        return report


@pytest.fixture
async def plugged(enishi_api):
    plugin = RecordingPlugin()
    return plugin, await enishi_api(plugins=[("hooktest", plugin)])


async def test_hook_enishi_graphql_types(plugged):
    _, api = plugged
    data = await api.graphql('{ __type(name: "HookTestNote") { fields { name } } }')
    assert data["__type"]["fields"] == [{"name": "text"}]


async def test_hook_enishi_graphql_query(plugged):
    _, api = plugged
    assert (await api.graphql("{ hookTestNotes { text } }", role="sales"))["hookTestNotes"] == [{"text": "hello"}]


async def test_hook_enishi_graphql_mutation(plugged):
    _, api = plugged
    assert (await api.graphql('mutation { hookTestPing(message: "縁") }'))["hookTestPing"] == "pong: 縁"


async def test_hook_enishi_graphql_type_fields(plugged):
    _, api = plugged
    for name in ("yamada", "tanaka", "suzuki"):
        await create_contact(api, familyName=name)
    data = await api.graphql("{ contacts { edges { node { familyName hookTestShout } } } }")
    assert sorted(e["node"]["hookTestShout"] for e in data["contacts"]["edges"]) == ["SUZUKI!", "TANAKA!", "YAMADA!"]


async def test_plugin_fields_disappear_when_the_plugin_is_disabled(enishi_api):
    api = await enishi_api(plugins=[("hooktest", RecordingPlugin())], disabled_plugins=frozenset({"hooktest"}))
    errors = await api.errors("{ contacts { edges { node { hookTestShout } } } }")
    assert "hookTestShout" in errors[0]["message"]


async def test_hook_enishi_activity_types(plugged):
    _, api = plugged
    contact = await create_contact(api, familyName="田中")
    payload = await api.mutate(
        "logActivity", {"type": "hooktest.visit", "summary": "訪問", "contactIds": [contact["id"]]}, "activity { type }"
    )
    assert payload == {"activity": {"type": "hooktest.visit"}, "userErrors": []}
    types = (await api.graphql("{ activityTypes { key labelJa plugin } }"))["activityTypes"]
    assert {"key": "hooktest.visit", "labelJa": "訪問", "plugin": "hooktest"} in types


async def test_hook_enishi_permissions(plugged):
    _, api = plugged
    assert (await api.graphql("{ hookTestNotes { text } }", role="sales"))["hookTestNotes"]
    errors = await api.errors("{ hookTestNotes { text } }", role="support")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    # Declared without a scope, `hooktest.read` is granted by `hooktest:read`, named after it.
    assert api.runtime.permissions.scopes["hooktest:read"] == {"hooktest.read"}
    scoped = await api.scoped_token("sales", ["hooktest:read"])
    assert (await api.graphql("{ hookTestNotes { text } }", token=scoped))["hookTestNotes"]
    narrowed = await api.post("{ hookTestNotes { text } }", token=await api.scoped_token("sales", ["contacts:read"]))
    assert narrowed.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_hook_enishi_scheduled_jobs(plugged):
    plugin, api = plugged
    assert "hooktest.tick" in await run_due_jobs(api.runtime)
    assert "hooktest.tick" not in await run_due_jobs(api.runtime)  # not due again within the hour
    api.clock.advance(hours=1)
    assert "hooktest.tick" in await run_due_jobs(api.runtime)
    assert plugin.job_runs == 2


async def test_hook_enishi_personal_data(plugged):
    _, api = plugged
    catalog = await api.graphql("{ personalDataCatalog { plugin entity field category provenance } }", role="compliance")
    rows = catalog["personalDataCatalog"]
    assert {
        "plugin": "hooktest",
        "entity": "hooktest_note",
        "field": "text",
        "category": "user.content",
        "provenance": "observed",
    } in rows
    assert {
        "plugin": "core",
        "entity": "core_contact_email",
        "field": "sealed_address",
        "category": "user.contact.email",
        "provenance": "provided",
    } in rows


async def test_hook_enishi_on_event(plugged):
    plugin, api = plugged
    contact = await create_contact(api, familyName="田中")
    await api.mutate("updateContact", {"id": contact["id"], "jobTitle": "部長"}, "contact { id }")
    await api.mutate("deleteContact", {"id": contact["id"]}, "contact { id }")
    assert plugin.events == ["contact.created", "contact.updated", "contact.deleted"]
    assert await count_rows(api, "core_outbox") == 3


async def test_an_event_hook_can_veto_and_everything_rolls_back(plugged):
    _plugin, api = plugged
    vetoed = await api.mutate("createContact", {"familyName": "VETO", "emails": [{"address": "v@example.jp"}]}, "contact { id }")
    assert vetoed == {
        "contact": None,
        "userErrors": [{"field": "familyName", "message": "vetoed by the hook test plugin", "code": "VETOED"}],
    }
    crashed = await api.post('mutation { createContact(input: {familyName: "CRASH"}) { contact { id } } }')
    assert crashed.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    for table in ("core_contact", "core_contact_email", "core_outbox"):
        assert await count_rows(api, table) == 0, table


async def test_hook_enishi_merge(plugged):
    plugin, api = plugged
    survivor = await create_contact(api, familyName="山田")
    duplicate = await create_contact(api, familyName="山田")
    plugin.held[uuid.UUID(_raw_id(duplicate["id"]))] = "likes green tea"
    dry = await api.mutate(
        "mergeContacts",
        {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]], "dryRun": True},
        "moves { plugin entity count }",
    )
    assert {"plugin": "hooktest", "entity": "hooktest_note", "count": 1} in dry["moves"]
    assert plugin.merges == []
    await api.mutate("mergeContacts", {"survivorId": survivor["id"], "mergedIds": [duplicate["id"]]}, "contact { id }")
    assert plugin.held == {uuid.UUID(_raw_id(survivor["id"])): "likes green tea"}


async def test_hook_enishi_subject_collect(plugged):
    plugin, api = plugged
    contact = await create_contact(api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}])
    plugin.held[uuid.UUID(_raw_id(contact["id"]))] = "prefers email"
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": contact["id"]}, role="compliance"
    )
    assert data["node"]["personalData"]["hooktest"] == {"note": "prefers email"}
    assert data["node"]["personalData"]["core"]["contact"]["family_name"] == "山田"


async def test_hook_enishi_subject_erase(enishi_api):
    plugin = RecordingPlugin()
    # Disabled, yet still asked: a disabled plugin's personal data must not survive an erasure.
    api = await enishi_api(plugins=[("hooktest", plugin)], disabled_plugins=frozenset({"hooktest"}))
    subject = await create_contact(
        api, familyName="山田", givenName="太郎", emails=[{"address": "taro@abc.co.jp"}], phones=[{"number": "03-1234-5678"}]
    )
    other = await create_contact(api, familyName="鈴木")
    subject_id = uuid.UUID(_raw_id(subject["id"]))
    plugin.held[subject_id] = "a note"
    await api.mutate(
        "logActivity", {"type": "call", "summary": "only the subject", "contactIds": [subject["id"]]}, "activity { id }"
    )
    await api.mutate(
        "logActivity", {"type": "meeting", "summary": "both", "contactIds": [subject["id"], other["id"]]}, "activity { id }"
    )
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(subject_id)))
    assert reports["core"].affected.pop("core_contact_search_token:delete") > 0
    assert reports["core"].affected == {
        "core_activity:shred": 1,
        "core_activity_target:delete": 2,
        "core_contact_email:delete": 1,
        "core_contact_phone:delete": 1,
        "core_contact_custom_date_index:delete": 0,
        "core_contact_account:delete": 0,
        "core_task:delete": 0,
        "core_import_row:delete": 0,
        "core_purchase:anonymise": 0,
        "core_contact:anonymise": 1,
        "mail:delete": 0,
    }
    assert reports["hooktest"].affected == {"hooktest_note:delete": 1}
    search = await api.graphql('{ contacts(includeDeleted: true, filter: {search: "山田"}) { totalCount } }')
    assert search["contacts"]["totalCount"] == 0
    other_view = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { familyName timeline { totalCount } } } }", {"id": other["id"]}
    )
    assert other_view["node"] == {"familyName": "鈴木", "timeline": {"totalCount": 1}}
    async with api.runtime.unit_of_work() as uow:  # idempotent: a second run finds nothing left
        again = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(subject_id)))
    assert sum(again["core"].affected.values()) == 0 and again["hooktest"].affected == {}


async def test_hook_enishi_personal_data_read(plugged):
    plugin, api = plugged
    person = await create_contact(api, familyName="読者", phones=[{"number": "03-1234-5678"}])
    plugin.reads.clear()
    await api.graphql("query($id: ID!) { node(id: $id) { id ... on Contact { createdAt } } }", {"id": person["id"]}, role="sales")
    assert plugin.reads == []  # nothing encrypted was read
    await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { phones { e164 } } } }", {"id": person["id"]}, role="sales"
    )
    assert plugin.reads == [(api.user_ids["sales"], {uuid.UUID(_raw_id(person["id"]))})]


async def test_hook_enishi_holdable_types(plugged):
    _, with_plugin = plugged
    person = await create_contact(with_plugin, familyName="保留")
    task_id = to_global_id("Task", uuid.uuid4())
    types = await with_plugin.graphql("{ legalHoldTypes }", role="compliance")
    # `hooktest_note` backs no Node type: no id could name one of its rows, so it is not offered.
    assert types["legalHoldTypes"] == ["Activity", "SupportTicket", "Task"]
    held = await with_plugin.mutate(
        "placeLegalHold",
        {"contactId": person["id"], "recordId": task_id, "basis": "pending claim"},
        "hold { nodeType recordId }",
        role="compliance",
    )
    assert held["hold"] == {"nodeType": "Task", "recordId": task_id} and held["userErrors"] == []
    # A type no plugin declared would be a hold nobody honours: refused, not silently accepted.
    refused = await with_plugin.mutate(
        "placeLegalHold",
        {"contactId": person["id"], "recordId": to_global_id("Account", uuid.uuid4()), "basis": "pending claim"},
        "hold { id }",
        role="compliance",
    )
    assert refused["hold"] is None and refused["userErrors"][0]["code"] == "WRONG_ID_TYPE"


async def test_hook_enishi_request_finished(plugged):
    """Every GraphQL request signals its end, with what it decrypted; the view writes nothing."""
    plugin, api = plugged
    person = await create_contact(api, familyName="信号", phones=[{"number": "03-1234-5678"}])
    plugin.finished.clear()
    await api.graphql("query($id: ID!) { node(id: $id) { id ... on Contact { createdAt } } }", {"id": person["id"]}, role="sales")
    assert plugin.finished == [(api.runtime, api.user_ids["sales"], set())]
    await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { phones { e164 } } } }", {"id": person["id"]}, role="sales"
    )
    assert plugin.finished[1] == (api.runtime, api.user_ids["sales"], {uuid.UUID(_raw_id(person["id"]))})


def test_hook_enishi_migrations():
    """The core's own migrations arrive through this hook; the example plugin's too (tests/e2e)."""
    host = PluginHost(Settings(plugin_autoload=False), core=hooks)
    locations = [Path(p) for _, p in host.contributions("enishi_migrations")]
    assert (locations[0] / "0001_core_tables.py").exists()


def test_unknown_hook_names_stop_start_up():
    class Misspelled:
        @hookimpl
        def enishi_on_evnt(self, event):
            pass

    with pytest.raises(PluginError, match="enishi_on_evnt"):
        PluginHost(Settings(plugin_autoload=False), [("typo", Misspelled())])


_test_spec = pluggy.HookspecMarker("enishi")


class OrderingSpecs:
    @_test_spec
    def hooktest_everyone(self, calls):
        """Every implementation answers; it records its name in `calls` first."""

    @_test_spec(firstresult=True)
    def hooktest_first(self, calls):
        """The first answer that is not None wins."""


class Answering:
    """A plugin answering both test hooks with a fixed answer, recording each call."""

    def __init__(self, name, answer, **order):
        self.name = name
        self.hooktest_everyone = self.hooktest_first = self._implementation(name, answer, **order)

    @staticmethod
    def _implementation(name, answer, **order):
        @hookimpl(**order)
        def answer_and_record(calls):
            calls.append(name)
            return answer

        return answer_and_record


def _ordering_host(*plugins):
    class Declaring:
        ENISHI_HOOKSPECS = OrderingSpecs

    return PluginHost(Settings(plugin_autoload=False), [("declaring", Declaring()), *((p.name, p) for p in plugins)])


async def test_tryfirst_and_trylast_order_the_calls_as_pluggy_does():
    # Registered in this order; pluggy calls tryfirst first, then the latest registered, trylast last.
    host = _ordering_host(
        Answering("last", 1, trylast=True), Answering("early", 2), Answering("late", 3), Answering("first", 4, tryfirst=True)
    )
    calls = []
    assert await host.call("hooktest_everyone", calls=calls) == [("first", 4), ("late", 3), ("early", 2), ("last", 1)]
    assert calls == ["first", "late", "early", "last"]
    assert calls == [impl.plugin_name for impl in host.pm.hook.hooktest_everyone.get_hookimpls()[::-1]]


async def test_a_firstresult_hook_stops_at_the_first_answer():
    host = _ordering_host(
        Answering("trailing", "too late", trylast=True), Answering("answering", "yes"), Answering("silent", None, tryfirst=True)
    )
    calls = []
    assert await host.call("hooktest_first", calls=calls) == [("answering", "yes")]
    assert calls == ["silent", "answering"]  # the plugin after the answer was never called
    assert host.pm.hook.hooktest_first(calls=[]) == "yes"  # what pluggy itself answers
    assert await _ordering_host(Answering("silent", None)).call("hooktest_first", calls=[]) == []


@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_a_wrapper_implementation_is_refused_at_start_up(style):
    class Wrapping:
        @hookimpl(**{style: True})
        def enishi_on_event(self, event, uow):
            yield

    with pytest.raises(PluginError, match=r"plugin 'wrapping' implements enishi_on_event as a wrapper"):
        PluginHost(Settings(plugin_autoload=False), [("wrapping", Wrapping())])


def _raw_id(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().split(":", 1)[1]


@pytest.mark.no_database
def test_every_hook_has_a_test():
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    missing = [name for name in hookdoc.hook_names() if not re.search(rf"def test_hook_{name}(\(|_and_)", tests)]
    assert missing == []


@pytest.mark.no_database
def test_every_hook_is_documented_and_the_reference_is_current():
    for name in hookdoc.hook_names():
        assert inspect.getdoc(getattr(hookspecs, name)), name
    assert (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8") == hookdoc.render(), "docs/hooks.md is stale: run `make docs`"


@pytest.mark.no_database
def test_cli_hooks_doc_prints_the_reference():
    out = subprocess.run([sys.executable, "-m", "enishi.cli", "hooks-doc"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^## `enishi_on_event\(event, uow\)`", out, re.M)


async def test_hook_enishi_http_routes(enishi_api):
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    class Routes:
        @hookimpl
        def enishi_http_routes(self):
            return [Route("/hooktest/ping/{word}", lambda request: PlainTextResponse(f"pong {request.path_params['word']}"))]

    api = await enishi_api(plugins=[("routes", Routes())])
    response = await api.client.get("/hooktest/ping/縁")
    assert response.status_code == 200 and response.text == "pong 縁"  # no token: the plugin's own route
    assert (await api.client.post("/graphql", json={"query": "{ viewer { id } }"})).status_code == 401


def test_start_up_fails_naming_a_personal_looking_column_missing_from_the_catalog():
    from sqlalchemy import Column, ForeignKey, Table, Text, Uuid

    from enishi.db import Base
    from enishi.runtime import Runtime

    table = Table(
        "hooktest_diary",
        Base.metadata,
        Column("id", Uuid, primary_key=True),
        Column("contact_id", Uuid, ForeignKey("core_contact.id")),
        Column("entry", Text),
        Column("mood", Text, info={"personal": False}),
    )
    try:

        class Silent:
            @hookimpl
            def enishi_activity_types(self):
                return []

        with pytest.raises(PluginError, match=r": hooktest_diary\.entry$"):
            Runtime(Settings(database_url="sqlite+aiosqlite://", plugin_autoload=False), extra_plugins=[("hooktest", Silent())])

        class Declares:
            @hookimpl
            def enishi_personal_data(self):
                return [PersonalDataField("hooktest_diary", "entry", "user.content")]

        Runtime(Settings(database_url="sqlite+aiosqlite://", plugin_autoload=False), extra_plugins=[("hooktest", Declares())])
    finally:
        Base.metadata.remove(table)


async def test_records_of_processing_are_generated_from_the_catalog(api):
    records = (await api.graphql("{ recordsOfProcessing { purpose categories plugins locations } }", role="compliance"))[
        "recordsOfProcessing"
    ]
    by_purpose = {r["purpose"]: r for r in records}
    assert {"crm", "loyalty", "support", "account_based_marketing"} <= set(by_purpose)
    assert "core_contact_email.sealed_address" in by_purpose["crm"]["locations"]
    assert by_purpose["loyalty"]["plugins"] == ["loyalty"]

"""Test clocks (docs/test-clocks.md): outside production mode an admin freezes and advances the
server's time, and SLA timers, point expiry, ABM engagement and data-subject deadlines follow; production refuses."""

import pytest
from sqlalchemy import event

from enishi.testing import TEST_START
from enishi.worker import run_due_jobs
from tests.helpers import create_contact
from tests.plugins.loyalty.helpers import earn, member, program
from tests.plugins.privacy.helpers import intake
from tests.plugins.support import target
from tests.plugins.support.test_sla import _config, _ticket, _view

CLOCK = "testClock { id name frozenTime status }"
ADVANCE = "testClock { id frozenTime status } jobsRun jobsFailed"


@pytest.fixture
async def dev(enishi_api):
    """The app outside production mode, where test clocks exist (the fixtures' default is production)."""
    return await enishi_api(environment="development")


async def _create(api, frozen_time=TEST_START.isoformat(), **extra) -> dict:  # noqa: B008 - an immutable str
    payload = await api.mutate("createTestClock", {"frozenTime": frozen_time, **extra}, CLOCK)
    assert payload["userErrors"] == [], payload
    return payload["testClock"]


async def _beside(enishi_api, api, **settings):
    """Another runtime on the same database (another process, as far as the clock knows), same users."""
    other = await enishi_api(**settings)
    other.tokens, other.user_ids = api.tokens, api.user_ids
    return other


async def _now_seen(api) -> str:
    """The server's "now", as a record it creates shows it."""
    return (await api.mutate("createAccount", {"name": "時刻"}, "account { createdAt }"))["account"]["createdAt"]


async def _advance(api, clock_id, to) -> dict:
    payload = await api.mutate("advanceTestClock", {"id": clock_id, "to": to}, ADVANCE)
    assert payload["userErrors"] == [], payload
    return payload


async def test_a_created_clock_is_the_servers_now_until_deleted(dev):
    assert (await dev.graphql("{ testClock { id } }"))["testClock"] is None
    clock = await _create(dev, "2025-01-01T09:00:00+09:00", name="年始のシナリオ")
    assert clock == {"id": clock["id"], "name": "年始のシナリオ", "frozenTime": "2025-01-01T00:00:00+00:00", "status": "READY"}
    assert (await dev.graphql("{ testClock { id frozenTime } }", role="sales"))["testClock"]["id"] == clock["id"]
    node = await dev.graphql("query($id: ID!) { node(id: $id) { ... on TestClock { frozenTime } } }", {"id": clock["id"]})
    assert node["node"] == {"frozenTime": "2025-01-01T00:00:00+00:00"}
    assert await _now_seen(dev) == "2025-01-01T00:00:00+00:00"  # "now" is the frozen time

    second = await dev.mutate("createTestClock", {"frozenTime": "2025-02-01T00:00:00+00:00"}, CLOCK)
    assert second["testClock"] is None and second["userErrors"][0]["code"] == "TEST_CLOCK_EXISTS"

    deleted = await dev.mutate("deleteTestClock", {"id": clock["id"]}, "deletedId")
    assert deleted == {"deletedId": clock["id"], "userErrors": []}
    assert (await dev.graphql("{ testClock { id } }"))["testClock"] is None
    assert await _now_seen(dev) == TEST_START.isoformat()  # back to the (test's) real time


async def test_a_clock_cannot_start_in_the_past_or_take_a_naive_time(dev):
    past = await dev.mutate("createTestClock", {"frozenTime": "2024-06-09T23:59:59+00:00"}, CLOCK)
    assert past["userErrors"] == [
        {"field": "frozenTime", "message": "must not be before the current time", "code": "IN_THE_PAST"}
    ]
    naive = await dev.mutate("createTestClock", {"frozenTime": "2024-07-01T00:00:00"}, CLOCK)
    assert naive["userErrors"][0]["code"] == "NAIVE_DATETIME"
    assert (await dev.graphql("{ testClock { id } }"))["testClock"] is None


async def test_advancing_past_a_first_reply_target_breaches_the_ticket_and_runs_the_escalation_sweep(dev):
    tier2 = await _config(dev, "createSupportGroup", {"name": "Tier 2"})
    policy = await _config(dev, "createSlaPolicy", {"name": "24/7 urgent", "targets": [target("urgent", "first_reply", 240)]})
    await _config(
        dev,
        "addEscalationRule",
        {"policyId": policy, "timer": "first_reply", "level": 1, "minutesAfterBreach": 0, "reassignGroupId": tier2},
    )
    ticket = await _ticket(dev, "urgent")  # at 2024-06-10T00:00Z: first reply due at 04:00Z
    clock = await _create(dev)
    advanced = await _advance(dev, clock["id"], "2024-06-10T03:59:00+00:00")
    assert (await _view(dev, ticket["id"]))["timers"][0]["breachedAt"] is None
    assert "support.escalations" in advanced["jobsRun"]

    advanced = await _advance(dev, clock["id"], "2024-06-10T04:01:00+00:00")
    assert advanced["testClock"] == {"id": clock["id"], "frozenTime": "2024-06-10T04:01:00+00:00", "status": "READY"}
    assert "support.escalations" in advanced["jobsRun"] and advanced["jobsFailed"] == []
    assert "loyalty.expire" not in advanced["jobsRun"]  # hourly: not due again two minutes later
    view = await _view(dev, ticket["id"])
    assert view["timers"][0]["breachedAt"] == "2024-06-10T04:00:00+00:00"
    assert view["group"] == {"name": "Tier 2"}  # the sweep ran at the new time before the advance answered


async def test_loyalty_points_expire_when_the_clock_passes_their_expiry(dev):
    member_id = await member(dev, await program(dev))  # points last 365 days
    assert (await earn(dev, member_id, 100))["member"]["balance"] == 100
    clock = await _create(dev)
    advanced = await _advance(dev, clock["id"], "2025-06-11T00:00:00+00:00")
    assert "loyalty.expire" in advanced["jobsRun"]
    query = "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance ledger { edges { node { kind amount } } } } } }"
    data = (await dev.graphql(query, {"id": member_id}))["node"]
    assert data["balance"] == 0
    assert [(e["node"]["kind"], e["node"]["amount"]) for e in data["ledger"]["edges"]] == [("expire", -100), ("earn", 100)]


async def test_a_data_subject_request_becomes_overdue_when_the_clock_passes_its_deadline(dev):
    person = await create_contact(dev, familyName="期限")
    request = await intake(dev, person["id"], "access")  # GDPR: one calendar month, due 2024-07-10
    assert (request["dueDate"], request["overdue"]) == ("2024-07-10", False)
    clock = await _create(dev)
    await _advance(dev, clock["id"], "2024-07-11T00:00:00+00:00")
    overdue = await dev.graphql(
        "{ dataSubjectRequests(filter: {overdue: true}) { edges { node { id overdue daysLeft } } } }", role="compliance"
    )
    assert [e["node"] for e in overdue["dataSubjectRequests"]["edges"]] == [
        {"id": request["id"], "overdue": True, "daysLeft": -1}
    ]


async def test_a_clock_only_moves_forward(dev):
    clock = await _create(dev, "2024-07-01T00:00:00+00:00")
    for to in ("2024-06-30T23:59:59+00:00", "2024-07-01T00:00:00+00:00"):
        refused = await dev.mutate("advanceTestClock", {"id": clock["id"], "to": to}, ADVANCE)
        assert refused["testClock"] is None
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("to", "NOT_FORWARD")]
    assert (await dev.graphql("{ testClock { frozenTime } }"))["testClock"]["frozenTime"] == "2024-07-01T00:00:00+00:00"
    gone = await dev.mutate(
        "advanceTestClock",
        {"id": "VGVzdENsb2NrOjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMA==", "to": "2024-08-01T00:00:00+00:00"},
        ADVANCE,
    )
    assert [(e["field"], e["code"]) for e in gone["userErrors"]] == [("id", "NOT_FOUND")]


async def test_only_an_admin_manages_the_clock(dev):
    clock = await _create(dev)
    for role in ("manager", "integration", "compliance"):
        for name, input in (
            ("createTestClock", {"frozenTime": "2024-07-01T00:00:00+00:00"}),
            ("advanceTestClock", {"id": clock["id"], "to": "2024-07-01T00:00:00+00:00"}),
            ("deleteTestClock", {"id": clock["id"]}),
        ):
            query = f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) {{ userErrors {{ code }} }} }}"
            errors = await dev.errors(query, {"input": input}, role=role)
            assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"], (role, name)
    assert (await dev.graphql("{ testClock { frozenTime } }"))["testClock"]["frozenTime"] == TEST_START.isoformat()


async def test_production_mode_refuses_test_clocks_and_keeps_the_given_clock(enishi_api, enishi_clock, dev):
    await dev.token()
    production = await _beside(enishi_api, dev)  # ENISHI_ENVIRONMENT=production
    assert production.runtime.clock is enishi_clock  # no test-clock layer at all
    refused = await production.mutate("createTestClock", {"frozenTime": "2024-07-01T00:00:00+00:00"}, CLOCK)
    assert refused["testClock"] is None
    assert refused["userErrors"] == [
        {
            "field": None,
            "code": "PRODUCTION_MODE",
            "message": "test clocks are refused in production mode (ENISHI_ENVIRONMENT=production)",
        }
    ]
    # A clock left in the database by a development server changes nothing for a production one.
    clock = await _create(dev, "2024-07-01T00:00:00+00:00")
    assert (await production.graphql("{ testClock { id } }"))["testClock"] is None
    by_id = await production.graphql("query($id: ID!) { node(id: $id) { id } }", {"id": clock["id"]})
    assert by_id["node"] is None  # nor is it reachable as a node
    assert await _now_seen(production) == TEST_START.isoformat()
    for name, input in (
        ("advanceTestClock", {"id": clock["id"], "to": "2024-08-01T00:00:00+00:00"}),
        ("deleteTestClock", {"id": clock["id"]}),
    ):
        assert (await production.mutate(name, input))["userErrors"][0]["code"] == "PRODUCTION_MODE"


async def test_another_process_follows_the_clock_from_the_database(enishi_api, dev):
    """The server and `enishi worker` are separate processes: a second runtime stands in for the worker."""
    await dev.token()
    worker = await _beside(enishi_api, dev, environment="development")
    clock = await _create(dev)
    await _advance(dev, clock["id"], "2024-09-01T00:00:00+00:00")
    assert worker.runtime.clock.now() == TEST_START  # not yet read
    await run_due_jobs(worker.runtime)  # a worker tick reads it first
    assert worker.runtime.clock.now().isoformat() == "2024-09-01T00:00:00+00:00"
    await dev.mutate("deleteTestClock", {"id": clock["id"]}, "deletedId")
    assert await _now_seen(worker) == TEST_START.isoformat()  # each HTTP request reads it too


async def test_deleting_the_clock_releases_the_job_claims_taken_in_simulated_time(dev):
    clock = await _create(dev)
    advanced = await _advance(dev, clock["id"], "2024-12-01T00:00:00+00:00")
    assert "loyalty.expire" in advanced["jobsRun"]
    await dev.mutate("deleteTestClock", {"id": clock["id"]}, "deletedId")
    # Claimed at December's simulated time, the hourly job would otherwise wait until real December.
    assert "loyalty.expire" in await run_due_jobs(dev.runtime)


async def test_only_development_requests_read_the_clock_and_production_ones_pay_nothing(enishi_api, dev):
    await dev.token()
    production = await _beside(enishi_api, dev)
    for api, reads in ((production, 0), (dev, 1)):
        statements = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)  # noqa: B023 - the listener is removed within the iteration

        event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
        try:
            await api.graphql("{ viewer { id } }")
        finally:
            event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)
        assert sum("core_test_clock" in statement for statement in statements) == reads, statements


async def test_abm_engagement_fades_when_the_clock_passes_its_window(dev):
    from tests.plugins.abm.test_abm import _abm, _meeting, _role, _target

    account = (await dev.mutate("createAccount", {"name": "Acme Holdings"}, "account { id }"))["account"]["id"]
    await _target(dev, account)
    contact = await create_contact(dev, familyName="Tanaka", accounts=[{"accountId": account}])
    await _role(dev, account, contact["id"], "decision_maker")
    await _meeting(dev, contact["id"], "06-05")
    engaged = (await _abm(dev, account))["engagement"]["score"]
    assert engaged > 0
    clock = await _create(dev)
    advanced = await _advance(dev, clock["id"], "2025-06-10T00:00:00+00:00")  # a year on: far past any window
    assert "abm.recompute" in advanced["jobsRun"] and advanced["jobsFailed"] == []
    assert (await _abm(dev, account))["engagement"]["score"] == 0

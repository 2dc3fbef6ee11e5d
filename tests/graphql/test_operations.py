"""The operations endpoints over HTTP: /healthz answers without the database, /readyz says why the
server cannot serve (database unreachable, migrations missing, by branch), and /metrics counts
requests by GraphQL operation and outcome with bounded labels, reports the database's backlogs
and failures, and answers only this machine or a bearer of the metrics token."""

import asyncio
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from enishi.db.migrate import upgrade
from enishi.graphql.app import create_app
from enishi.graphql.metrics import OTHER, OperationLabels
from enishi.plugin import GaugeReading, hookimpl
from enishi.runtime import Runtime
from enishi.worker import run_every_job
from tests.graphql.test_limits import ExplodingPlugin
from tests.helpers import create_account, create_contact
from tests.plugins.automation.helpers import LOOPBACK, Receiver, create_webhook

PLUGINS = ["abm", "automation", "insights", "loyalty", "privacy", "sales", "support"]


async def scrape(api, **client) -> dict[tuple[str, tuple], float]:
    """GET /metrics: every sample, by name and sorted labels."""
    response = await api.client.get("/metrics", **client)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_of(samples, operation: str, outcome: str) -> float:
    return samples.get(("enishi_graphql_requests_total", (("operation", operation), ("outcome", outcome))), 0.0)


async def test_healthz_answers_without_the_database_readyz_says_it_is_unreachable_metrics_say_it_is_down(enishi_api, tmp_path):
    # Development mode: every other request reads the test clock from the database first.
    api = await enishi_api(environment="development", database_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/enishi.db")
    alive = await api.client.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reasons": ["the database cannot be reached"], "plugins": ["core", *PLUGINS]}
    production = await enishi_api(database_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/enishi.db")
    samples = await scrape(production)  # the process's own figures, and a database that did not answer
    assert samples[("enishi_database_up", ())] == 0 and ("enishi_outbox_backlog", ()) not in samples


async def test_readyz_is_ready_at_head_and_names_each_branch_a_database_lacks(api, enishi_fresh_database_url, enishi_api):
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "plugins": ["core", *PLUGINS]}

    empty = await enishi_api(database_url=enishi_fresh_database_url)
    never = await empty.client.get("/readyz")
    assert never.status_code == 503
    assert never.json()["reasons"] == [
        f"migrations not applied for: {', '.join(['abm', 'automation', 'core', *PLUGINS[2:]])} (run `enishi db upgrade`)"
    ]

    migrating = Runtime(replace(api.runtime.settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(upgrade, migrating, "core@head")  # alembic runs its own event loop
    await migrating.close()
    core_only = await empty.client.get("/readyz")
    assert core_only.status_code == 503
    assert core_only.json()["reasons"] == [f"migrations not applied for: {', '.join(PLUGINS)} (run `enishi db upgrade`)"]


async def test_requests_are_counted_by_operation_and_outcome(enishi_api):
    api = await enishi_api(plugins=[("exploding", ExplodingPlugin())])
    headers = {"Authorization": f"Bearer {await api.token()}"}
    await create_contact(api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}])

    async def send(body: dict, **extra) -> httpx.Response:
        return await api.client.post("/graphql", json=body, headers={**headers, **extra})

    await send({"query": "query Find { contacts { totalCount } }"})
    await send({"query": "query Find { contacts { totalCount } }", "operationName": "Find"})
    await send({"query": 'mutation Rename { createAccount(input: {name: ""}) { userErrors { code } } }'})  # userErrors
    await send({"query": "query Broken { contacts { nope } }"})  # fails validation
    await send({"query": "query Boom { contacts { edges { node { explode } } } }"})  # INTERNAL
    await api.client.post("/graphql", json={"query": "query Find { contacts { totalCount } }"})  # no token
    samples = await scrape(api)
    assert requests_of(samples, "Find", "ok") == 2
    assert requests_of(samples, "Find", "user_error") == 1
    assert requests_of(samples, "Rename", "user_error") == 1
    assert requests_of(samples, "Broken", "user_error") == 1
    assert requests_of(samples, "Boom", "error") == 1
    assert requests_of(samples, "_anonymous", "ok") == 1  # create_contact's mutation names no operation
    assert samples[("enishi_graphql_request_duration_seconds_count", (("operation", "Find"),))] == 3
    route = (("method", "POST"), ("route", "/graphql"), ("status", "200"))
    assert samples[("enishi_http_requests_total", route)] >= 5


async def test_hostile_operation_names_go_to_one_label_and_personal_data_never_reaches_the_metrics(api):
    headers = {"Authorization": f"Bearer {await api.token()}"}
    long_name = "Q" * 65
    hostile = [
        {"query": f"query {long_name} {{ __typename }}"},  # too long a name
        {"query": "query A { __typename }", "operationName": "NotInTheDocument"},
        {"query": "query A { __typename }", "operationName": "山田太郎 taro@abc.co.jp"},
        {"query": "{ __typename }", "operationName": 'x"} 1\nenishi_fake 1'},  # exposition-format injection
    ]
    for body in hostile:
        await api.client.post("/graphql", json=body, headers=headers)
    response = await api.client.get("/metrics")
    assert "山田" not in response.text and "taro" not in response.text and "enishi_fake" not in response.text
    assert long_name not in response.text and "NotInTheDocument" not in response.text
    samples = await scrape(api)
    assert requests_of(samples, OTHER, "ok") + requests_of(samples, OTHER, "user_error") == len(hostile)


def test_a_process_labels_at_most_its_limit_of_distinct_operation_names():
    labels = OperationLabels(limit=2)
    assert [labels.label(name) for name in ("A", "B", "C", "A", None, "B", "D")] == [
        "A",
        "B",
        OTHER,
        "A",
        "_anonymous",
        "B",
        OTHER,
    ]


async def test_backlogs_lag_and_webhook_failures_are_read_from_the_database(enishi_api):
    api = await enishi_api(environment="development", extra=LOOPBACK)
    failing = Receiver(script=[(500, {}, b"down")])
    try:
        await create_webhook(api, failing.url, ["account.*"])
        await create_account(api, name="最初")
        waiting = await scrape(api)
        assert waiting[("enishi_outbox_backlog", ())] >= 1
        assert waiting[("enishi_outbox_given_up", ())] == 0
        assert waiting[("enishi_database_up", ())] == 1
        await run_every_job(api.runtime)  # the outbox queues the delivery; its first attempt fails
        api.clock.advance(minutes=1)
        after = await scrape(api)
    finally:
        failing.close()
    assert after[("enishi_outbox_backlog", ())] == 0 and after[("enishi_outbox_oldest_waiting_seconds", ())] == 0
    assert after[("enishi_automation_webhook_deliveries", (("state", "retrying"),))] == 1
    assert after[("enishi_automation_webhook_deliveries", (("state", "failed"),))] == 0
    # core.outbox runs every 5 s: its next run fell due 55 s before the scrape.
    assert after[("enishi_job_lag_seconds", (("job", "core.outbox"),))] == 55
    assert after[("enishi_job_failures", (("job", "core.outbox"),))] == 0


async def test_connections_in_use_are_counted_as_they_are_checked_out(api):
    async with api.runtime.read_session() as session:
        await session.connection()  # holds one connection until the block ends
        held = await scrape(api)
    released = await scrape(api)
    assert held[("enishi_db_pool_connections_in_use", ())] == 1
    assert released[("enishi_db_pool_connections_in_use", ())] == 0


def from_another_machine(api) -> httpx.AsyncClient:
    """A client of the same runtime whose requests come from 10.0.0.5."""
    transport = httpx.ASGITransport(app=create_app(api.runtime), client=("10.0.0.5", 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://enishi.test")


async def test_metrics_answer_this_machine_or_a_bearer_of_the_token(enishi_api):
    api = await enishi_api()
    elsewhere = from_another_machine(api)
    try:
        assert (await elsewhere.get("/metrics")).status_code == 403
        # A proxy on this machine forwards anyone's requests: not local.
        assert (await api.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 403
        await scrape(api)
    finally:
        await elsewhere.aclose()

    protected = await enishi_api(metrics_token="s3cret-metrics-token")
    remote = from_another_machine(protected)
    try:
        assert (await remote.get("/metrics")).status_code == 401
        assert (await remote.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await protected.client.get("/metrics")).status_code == 401  # the token is required from here too
        answered = await remote.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
        assert answered.status_code == 200 and "enishi_graphql_requests" in answered.text
    finally:
        await remote.aclose()


class QueuePlugin:
    """A plugin reporting a gauge of its own, read with the scrape's session and clock."""

    def __init__(self) -> None:
        self.asked_at: list = []

    @hookimpl
    async def enishi_metrics(self, session, now):
        self.asked_at.append(now)
        one = (await session.execute(text("SELECT 1"))).scalar_one()
        return [
            GaugeReading("enishi_queue_waiting", "Items waiting in the queue", 7 * one, {"queue": name}) for name in ("a", "b")
        ]


async def test_hook_enishi_metrics(enishi_api):
    """An enabled plugin's gauges are read with the scrape's session and clock; a disabled one is not asked."""
    plugin = QueuePlugin()
    api = await enishi_api(plugins=[("queue", plugin)])
    samples = await scrape(api)
    assert samples[("enishi_queue_waiting", (("queue", "a"),))] == 7 and samples[("enishi_queue_waiting", (("queue", "b"),))] == 7
    assert plugin.asked_at == [api.clock.now()]
    disabled = QueuePlugin()
    off = await enishi_api(plugins=[("queue", disabled)], disabled_plugins=frozenset({"queue"}))
    assert ("enishi_queue_waiting", (("queue", "a"),)) not in await scrape(off) and disabled.asked_at == []
    with pytest.raises(ValueError, match="metric name 'queue_waiting' must match"):
        GaugeReading("queue_waiting", "not prefixed", 1)
    with pytest.raises(ValueError, match="label names of enishi_queue_waiting must match"):
        GaugeReading("enishi_queue_waiting", "a label with a dash", 1, {"the-queue": "a"})

"""Calls the workflow tests share: defining a workflow, reading its runs, the issue's example 2
(a sent quote of a deal with an owner), and driving the worker's work in this process."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import subprocess
import sys
import uuid

from enishi.db import is_sqlite
from enishi.plugin import parse_global_id
from enishi.plugins.automation.workflow_engine import run_due
from enishi.services.test_clocks import advance_test_clock
from enishi.testing import TEST_START
from enishi.worker import deliver_waiting_events
from tests.helpers import create_contact, enishi, log_activity
from tests.plugins.sales.helpers import deal, pipeline, user_id

# Every workflow root field and the permission it needs (joins the automation plugin's decisions).
WORKFLOW_FIELDS = {
    f"{kind}.{name}": "automation.workflow.manage"
    for kind, names in (
        ("Query", ("workflows", "workflowRuns", "workflowDefinitionSchema", "frequencyCaps")),
        (
            "Mutation",
            ("createWorkflow", "updateWorkflow", "retryWorkflowRun", "cancelWorkflowRun", "dryRunWorkflow", "setFrequencyCap"),
        ),
    )
    for name in names
}
WORKFLOW = "workflow { id name description enabled version definition versions { version eventType definition } }"
RUN = """id status eventType entity recordId payload depth stepId dueAt attempts error version
         steps { stepId type attempt status input output error startedAt finishedAt durationMs }"""

QUOTE_FOLLOW_UP = {
    "trigger": {
        "type": "event",
        "event": "quote.status_changed",
        "conditions": [{"source": "payload", "field": "to", "op": "eq", "value": "sent"}],
    },
    "steps": [
        {"id": "three_days", "type": "wait", "duration": {"days": 3}},
        {
            "id": "follow_up",
            "type": "create_task",
            "title": "見積のフォローアップ",
            "assignee": {"field": "deal.owner_id"},
            "account": {"field": "account_id"},
            "due_in": {"days": 1},
        },
    ],
}


async def create_workflow(api, definition: dict, name: str = "フォローアップ", **extra) -> dict:
    payload = await api.mutate("createWorkflow", {"name": name, "definition": definition, **extra}, WORKFLOW)
    assert payload["userErrors"] == [], payload
    return payload["workflow"]


async def runs(api, workflow_id: str | None = None) -> list[dict]:
    data = await api.graphql(
        f"query($id: ID) {{ workflowRuns(workflowId: $id) {{ edges {{ node {{ {RUN} }} }} }} }}", {"id": workflow_id}
    )
    return [edge["node"] for edge in data["workflowRuns"]["edges"]]


async def work(api) -> int:
    """What a worker does in one round, here: deliver the outbox (starting runs), take due steps."""
    await deliver_waiting_events(api.runtime)
    taken = await run_due(api.runtime)
    await deliver_waiting_events(api.runtime)
    return taken


async def sent_quote_of_owned_deal(api, pipeline_name: str = "新規") -> dict:
    """A deal owned by the sales user (in a new pipeline), a quote on it, sent: {"deal", "quote", "owner"}."""
    owner = await user_id(api, "sales")
    stages = await pipeline(api, pipeline_name)
    made = await deal(api, stages["id"], ownerId=owner)
    quote = await api.mutate(
        "createQuote",
        {
            "title": "御見積書",
            "accountId": made["account"]["id"],
            "dealId": made["id"],
            "sellerRegistrationNumber": "T7000012050002",
            "lines": [{"description": "導入支援", "unitPrice": 500_000}],
        },
        "quote { id }",
    )
    assert quote["userErrors"] == [], quote
    sent = await api.mutate("sendQuote", {"id": quote["quote"]["id"]}, "quote { status }")
    assert sent["userErrors"] == [] and sent["quote"]["status"] == "sent", sent
    return {"deal": made, "quote": quote["quote"], "owner": owner}


async def tasks(api) -> list[dict]:
    data = await api.graphql("{ tasks { edges { node { id title dueAt assignee { id } account { id } } } } }")
    return [edge["node"] for edge in data["tasks"]["edges"]]


DORMANT_DAYS = 30


async def dormant_segment(api) -> str:
    """A saved segment of contacts without activity for DORMANT_DAYS days: its global id."""
    made = await api.mutate(
        "createSegment",
        {"name": "休眠顧客", "customer": "CONTACT", "filter": {"inactiveDays": DORMANT_DAYS}},
        "segment { id }",
        role="marketing",
    )
    assert made["userErrors"] == [], made
    return made["segment"]["id"]


async def active_contact(api, name: str, when: dt.datetime) -> dict:
    person = await create_contact(api, familyName=name)
    await log_activity(api, contactIds=[person["id"]], occurredAt=when.isoformat())
    return person


def worker_env(database_url: str, settings) -> dict:
    """The environment of an `enishi worker` process on the test's database, in development mode
    (so it follows the test clock), mailing into the test's mail folder (`enishi_sent_mail`)."""
    return {
        "ENISHI_DATABASE_URL": database_url,
        "ENISHI_KEK": settings.key_encryption_key,
        "ENISHI_ENVIRONMENT": "development",
        "ENISHI_MAIL_URL": settings.mail_url,
    }


async def workers_at_once(env: dict) -> None:
    """Two `enishi worker --once` at the same time; one on SQLite, which refuses a second worker."""
    count = 1 if is_sqlite(env["ENISHI_DATABASE_URL"]) else 2
    ran = await asyncio.gather(*(asyncio.to_thread(enishi, "worker", "--once", env=env) for _ in range(count)))
    assert all(r.returncode == 0 for r in ran)


def start_worker(env: dict) -> subprocess.Popen:
    """`enishi worker --once` in a process of its own, not waited for."""
    command = [sys.executable, "-m", "enishi.cli", "worker", "--once"]
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def start_test_clock(api) -> str:
    """A test clock frozen at TEST_START, which worker processes follow (development mode)."""
    created = await api.mutate("createTestClock", {"frozenTime": TEST_START.isoformat()}, "testClock { id }")
    assert created["userErrors"] == []
    return created["testClock"]["id"]


def raw_id(global_id: str) -> str:
    """The uuid in a global id, as a definition names records (`segment_id`, `webhook_id`)."""
    return str(uuid.UUID(base64.b64decode(global_id).decode().partition(":")[2]))


async def move_test_clock(api, clock_id: str, to: dt.datetime) -> None:
    """Move the test clock without running the due jobs here: the worker processes are to run them."""
    async with api.runtime.unit_of_work() as uow:
        await advance_test_clock(uow, parse_global_id(clock_id, "TestClock", "id"), to)

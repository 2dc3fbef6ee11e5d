"""Workflow runs, driven in this process as a worker would (the outbox, then due steps) on the
test clock: triggers with payload and record conditions, every built-in step, retries with
backoff and by hand, cancelling, versions kept by runs, the loop cut, the dry run."""

import copy
import datetime as dt

from sqlalchemy import update

from enishi.models import OutboxEvent
from enishi.plugin import split_global_id
from enishi.plugins.automation.workflow_engine import MAX_DEPTH
from enishi.testing import TEST_START
from tests.helpers import create_account
from tests.plugins.automation.helpers import LOOPBACK, create_webhook, deliveries
from tests.plugins.automation.workflow_helpers import (
    QUOTE_FOLLOW_UP,
    WORKFLOW,
    create_workflow,
    runs,
    sent_quote_of_owned_deal,
    tasks,
    work,
)


def on_account(event: str, *steps: dict, conditions: list | None = None) -> dict:
    return {"trigger": {"type": "event", "event": event, "conditions": conditions or []}, "steps": list(steps)}


async def test_a_trigger_whose_conditions_hold_starts_one_run_per_occurrence(api):
    follow_up = copy.deepcopy(QUOTE_FOLLOW_UP)
    follow_up["trigger"]["conditions"] += [
        {"source": "record", "field": "status", "op": "eq", "value": "sent"},
        {"source": "record", "field": "deal.amount", "op": "gte", "value": 1_000_000},  # the sales plugin's deal
    ]
    big_deals_only = copy.deepcopy(follow_up)
    big_deals_only["trigger"]["conditions"][-1]["value"] = 10**9
    workflow = await create_workflow(api, follow_up)
    other = await create_workflow(api, big_deals_only, name="大型案件のみ")
    made = await sent_quote_of_owned_deal(api)
    await work(api)

    [run] = await runs(api, workflow["id"])
    assert await runs(api, other["id"]) == []
    assert run["status"] == "PENDING" and run["stepId"] == "follow_up" and run["version"] == 1
    assert run["eventType"] == "quote.status_changed" and run["payload"]["to"] == "sent"
    assert dt.datetime.fromisoformat(run["dueAt"]) == TEST_START + dt.timedelta(days=3)
    assert [(s["stepId"], s["status"], s["output"]) for s in run["steps"]] == [
        ("three_days", "SUCCEEDED", {"until": (TEST_START + dt.timedelta(days=3)).isoformat()})
    ]

    # The outbox hands every event over again (at least once): no second run starts.
    async with api.runtime.unit_of_work() as uow:
        await uow.session.execute(update(OutboxEvent).values(delivered_at=None))
    await work(api)
    assert len(await runs(api, workflow["id"])) == 1

    api.clock.advance(days=3)
    assert await work(api) == 1
    [run] = await runs(api, workflow["id"])
    assert run["status"] == "SUCCEEDED" and run["stepId"] is None
    [task] = await tasks(api)
    assert task["title"] == "見積のフォローアップ" and task["assignee"]["id"] == made["owner"]
    assert task["account"]["id"] == made["deal"]["account"]["id"]
    assert dt.datetime.fromisoformat(task["dueAt"]) == TEST_START + dt.timedelta(days=4)
    step = run["steps"][-1]
    assert step["stepId"] == "follow_up" and step["output"] == {"task_id": step["output"]["task_id"]}
    assert step["input"]["title"] == "見積のフォローアップ" and step["finishedAt"] >= step["startedAt"]


async def test_branches_tags_field_updates_activities_and_stop(api):
    definition = on_account(
        "account.created",
        {"id": "tag_new", "type": "add_tag", "tag": "new"},
        {
            "id": "is_new",
            "type": "if",
            "conditions": [{"source": "record", "field": "tags", "op": "contains", "value": "new"}],
            "then": [
                {"id": "segment", "type": "update_field", "field": "custom_fields.segment", "value": {"value": "smb"}},
                {"id": "note", "type": "create_activity", "activity_type": "note", "summary": "自動で分類しました"},
            ],
            "else": [{"id": "give_up", "type": "stop"}],
        },
        {"id": "untag", "type": "remove_tag", "tag": "new"},
        {"id": "done", "type": "stop"},
        {"id": "never", "type": "create_task", "title": "ここには来ない"},
    )
    await create_workflow(api, definition)
    account = await create_account(api, name="株式会社サクラ")
    await work(api)

    [run] = await runs(api)
    assert run["status"] == "STOPPED" and run["stepId"] is None
    assert [(s["stepId"], s["output"]) for s in run["steps"]] == [
        ("tag_new", {"added": True}),
        ("is_new", {"branch": "then"}),
        ("segment", {"account_id": run["recordId"], "before": None, "changed": True}),
        ("note", {"activity_id": run["steps"][3]["output"]["activity_id"]}),
        ("untag", {"removed": True}),
        ("done", {}),
    ]
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Account { customFields timeline { edges { node { summary type } } } } } }",
        {"id": account["id"]},
    )
    assert data["node"]["customFields"] == {"segment": "smb"}
    assert [e["node"] for e in data["node"]["timeline"]["edges"]] == [{"summary": "自動で分類しました", "type": "note"}]
    assert await tasks(api) == []


async def test_a_failing_step_backs_off_then_fails_and_a_retry_by_hand_finishes_it(api):
    definition = on_account(
        "account.created",
        {"id": "pause", "type": "wait", "duration": {"minutes": 1}},
        {"id": "note", "type": "create_activity", "activity_type": "note", "summary": "ようこそ"},
    )
    await create_workflow(api, definition)
    account = await create_account(api, name="株式会社ツバキ")
    await work(api)
    deleted = await api.mutate("deleteAccount", {"id": account["id"]}, "account { id }")
    assert deleted["userErrors"] == []

    api.clock.advance(minutes=1)
    for backoff in (dt.timedelta(seconds=30), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2)):
        await work(api)
        [run] = await runs(api)
        assert run["status"] == "PENDING" and run["stepId"] == "note" and run["error"]
        assert dt.datetime.fromisoformat(run["dueAt"]) == api.clock.now() + backoff
        api.clock.advance(seconds=backoff.total_seconds() - 1)
        assert await run_nothing(api)  # not due before its backoff
        api.clock.advance(seconds=1)
    await work(api)
    [run] = await runs(api)
    assert run["status"] == "FAILED" and run["attempts"] == 5
    assert [s["status"] for s in run["steps"]] == ["SUCCEEDED"] + ["FAILED"] * 5
    assert [s["attempt"] for s in run["steps"][1:]] == [1, 2, 3, 4, 5]

    restored = await api.mutate("restoreAccount", {"id": account["id"]}, "account { id }")
    assert restored["userErrors"] == []
    retried = await api.mutate("retryWorkflowRun", {"id": run["id"]}, "run { status attempts }")
    assert retried == {"run": {"status": "PENDING", "attempts": 0}, "userErrors": []}
    await work(api)
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED" and run["steps"][-1]["status"] == "SUCCEEDED" and run["steps"][-1]["error"] is None
    again = await api.mutate("retryWorkflowRun", {"id": run["id"]}, "run { status }")
    assert again["run"] is None and again["userErrors"][0]["code"] == "NOT_FAILED"


async def run_nothing(api) -> bool:
    return await work(api) == 0


async def test_a_cancelled_run_takes_no_further_step(api):
    await create_workflow(api, QUOTE_FOLLOW_UP)
    await sent_quote_of_owned_deal(api)
    await work(api)
    [run] = await runs(api)
    cancelled = await api.mutate("cancelWorkflowRun", {"id": run["id"]}, "run { status dueAt }")
    assert cancelled == {"run": {"status": "CANCELLED", "dueAt": None}, "userErrors": []}
    api.clock.advance(days=4)
    assert await work(api) == 0 and await tasks(api) == []
    again = await api.mutate("cancelWorkflowRun", {"id": run["id"]}, "run { status }")
    assert again["userErrors"][0]["code"] == "ALREADY_FINISHED"


async def test_a_run_keeps_the_version_it_started_with(api):
    workflow = await create_workflow(api, QUOTE_FOLLOW_UP)
    await sent_quote_of_owned_deal(api)
    await work(api)
    changed = copy.deepcopy(QUOTE_FOLLOW_UP)
    changed["steps"][1]["title"] = "第2版のタスク"
    updated = await api.mutate("updateWorkflow", {"id": workflow["id"], "definition": changed}, WORKFLOW)
    assert updated["workflow"]["version"] == 2
    api.clock.advance(days=3)
    await work(api)
    assert [t["title"] for t in await tasks(api)] == ["見積のフォローアップ"]
    await sent_quote_of_owned_deal(api, "第2パイプライン")
    await work(api)
    assert sorted(run["version"] for run in await runs(api)) == [1, 2]


async def test_a_workflows_own_updates_retrigger_it_only_to_the_depth_limit(api):
    flip = on_account(
        "account.updated",
        {
            "id": "which",
            "type": "if",
            "conditions": [{"source": "record", "field": "industry", "op": "eq", "value": "alpha"}],
            "then": [{"id": "to_beta", "type": "update_field", "field": "industry", "value": {"value": "beta"}}],
            "else": [{"id": "to_alpha", "type": "update_field", "field": "industry", "value": {"value": "alpha"}}],
        },
    )
    await create_workflow(api, flip)
    account = await create_account(api, name="株式会社ループ")
    changed = await api.mutate("updateAccount", {"id": account["id"], "industry": "manufacturing"}, "account { id }")
    assert changed["userErrors"] == []
    for _ in range(MAX_DEPTH + 3):
        await work(api)
    assert sorted(run["depth"] for run in await runs(api)) == list(range(MAX_DEPTH + 1))


async def test_a_send_webhook_step_queues_one_delivery_on_the_subscription(enishi_api):
    api = await enishi_api(environment="development", extra=LOOPBACK)
    webhook, _ = await create_webhook(api, "http://127.0.0.1:9/hooks", ["account.deleted"])
    webhook_uuid = str(split_global_id(webhook["id"], "AutomationWebhook", "id")[1])
    notify = {"id": "notify", "type": "send_webhook", "webhook_id": webhook_uuid, "data": {"kind": "新規"}}
    workflow = await create_workflow(api, on_account("account.created", notify))
    await create_account(api, name="株式会社フック")
    await work(api)
    await work(api)
    [run] = await runs(api)
    [delivery] = await deliveries(api, webhook["id"])  # queued once, sent by the webhook job like any other
    assert delivery["eventType"] == "automation.workflow" and delivery["status"] == "PENDING"
    assert delivery["payload"] == {
        "kind": "新規",
        "entity": "account",
        "record_id": run["recordId"],
        "workflow_id": str(split_global_id(workflow["id"], "AutomationWorkflow", "id")[1]),
        "run_id": str(split_global_id(run["id"], "AutomationWorkflowRun", "id")[1]),
        "step_id": "notify",
    }
    assert run["steps"][0]["output"] == {
        "delivery_id": str(split_global_id(delivery["id"], "AutomationWebhookDelivery", "id")[1])
    }

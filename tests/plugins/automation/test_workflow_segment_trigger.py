"""The saved-segment trigger: a run for each time a customer enters the segment (the insights
plugin's `insights.segment_entered`, emitted when the segment is evaluated), about that customer,
once per (workflow version, entry) — under a real worker, through the daily re-evaluation. A
customer who leaves and comes back entered again: a new occurrence, a new run. Without the
insights plugin such a definition is refused."""

import asyncio
import datetime as dt

from sqlalchemy import update

from enishi.models import OutboxEvent
from enishi.plugins.automation.workflow_engine import flag_missing_segments
from enishi.testing import TEST_START
from tests.helpers import create_account, enishi, log_activity
from tests.plugins.automation.workflow_helpers import (
    DORMANT_DAYS,
    WORKFLOW,
    active_contact,
    create_workflow,
    dormant_segment,
    move_test_clock,
    raw_id,
    runs,
    start_test_clock,
    tasks,
    work,
    worker_env,
)

NO_SEGMENT = "6b0c8f4e-1d2a-4c3b-9e5f-7a8b9c0d1e2f"


def on_entering(segment_id: str, *steps: dict, conditions: list | None = None) -> dict:
    return {"trigger": {"type": "segment", "segment_id": segment_id, "conditions": conditions or []}, "steps": list(steps)}


CALL = {"id": "call", "type": "create_task", "title": "休眠顧客に連絡", "contact": {"field": "id"}}


async def test_a_contact_entering_a_segment_starts_one_run_under_a_real_worker_and_again_after_leaving(
    enishi_api, enishi_fresh_migrated, enishi_base_settings
):
    api = await enishi_api(database_url=enishi_fresh_migrated, environment="development")
    env = worker_env(enishi_fresh_migrated, enishi_base_settings)
    clock_id = await start_test_clock(api)

    async def worker_at(day: int) -> None:
        """At TEST_START + day, one `enishi worker --once`: its jobs evaluate the segments, then
        the outbox starts the runs, then their steps are taken."""
        await move_test_clock(api, clock_id, TEST_START + dt.timedelta(days=day))
        await asyncio.to_thread(enishi, "worker", "--once", env=env)

    person = await active_contact(api, "休眠", TEST_START)
    segment_id = raw_id(await dormant_segment(api))  # evaluated now: active today, not in it
    workflow = await create_workflow(api, on_entering(segment_id, CALL))
    await worker_at(DORMANT_DAYS - 1)
    assert await runs(api) == []

    await worker_at(DORMANT_DAYS + 1)  # dormant: the daily evaluation lets them in
    [run] = await runs(api, workflow["id"])
    assert run["status"] == "SUCCEEDED" and run["eventType"] == f"segment:{segment_id}"
    assert (run["entity"], run["recordId"]) == ("contact", raw_id(person["id"]))
    assert [t["title"] for t in await tasks(api)] == ["休眠顧客に連絡"]
    await worker_at(DORMANT_DAYS + 2)  # still in it: no entry, no run
    assert len(await runs(api)) == 1

    await log_activity(api, contactIds=[person["id"]], occurredAt=(TEST_START + dt.timedelta(days=40)).isoformat())
    await worker_at(40)  # active again: out of the segment
    await worker_at(40 + DORMANT_DAYS + 1)  # dormant again: a second entry
    assert [r["status"] for r in await runs(api)] == ["SUCCEEDED", "SUCCEEDED"]
    assert len(await tasks(api)) == 2


async def test_conditions_on_the_customer_and_one_run_per_entry_however_often_the_outbox_hands_it_over(api):
    kept = await active_contact(api, "対象", api.clock.now())
    await active_contact(api, "対象外", api.clock.now())
    segment = await dormant_segment(api)
    only_kept = [{"source": "record", "field": "id", "op": "eq", "value": raw_id(kept["id"])}]
    await create_workflow(api, on_entering(raw_id(segment), CALL, conditions=only_kept))
    api.clock.advance(days=DORMANT_DAYS + 1)
    evaluated = await api.mutate("evaluateSegment", {"id": segment}, "entered", role="marketing")
    assert evaluated["userErrors"] == [] and evaluated["entered"] == 2
    await work(api)
    async with api.runtime.unit_of_work() as uow:  # the outbox hands every event over again (at least once)
        await uow.session.execute(update(OutboxEvent).values(delivered_at=None))
    await work(api)
    [run] = await runs(api)
    assert run["recordId"] == raw_id(kept["id"]) and run["status"] == "SUCCEEDED"


async def test_an_account_entering_an_account_segment_starts_a_run_about_the_account(api):
    account = await create_account(api, name="株式会社スギ")
    await log_activity(api, accountIds=[account["id"]], occurredAt=api.clock.now().isoformat())
    made = await api.mutate(
        "createSegment",
        {"name": "休眠法人", "customer": "ACCOUNT", "filter": {"inactiveDays": DORMANT_DAYS}},
        "segment { id }",
        role="marketing",
    )
    note = {"id": "note", "type": "create_activity", "activity_type": "note", "summary": "休眠法人になりました"}
    await create_workflow(api, on_entering(raw_id(made["segment"]["id"]), note))
    api.clock.advance(days=DORMANT_DAYS + 1)
    assert (await api.mutate("evaluateSegment", {"id": made["segment"]["id"]}, "entered", role="marketing"))["entered"] == 1
    await work(api)
    [run] = await runs(api)
    assert (run["status"], run["entity"], run["recordId"]) == ("SUCCEEDED", "account", raw_id(account["id"]))
    assert run["payload"]["account_id"] == raw_id(account["id"]) and run["payload"]["contact_id"] is None


async def test_a_segment_trigger_is_refused_without_the_insights_plugin(enishi_api):
    api = await enishi_api(disabled_plugins=frozenset({"insights"}))
    refused = await api.mutate("createWorkflow", {"name": "x", "definition": on_entering(NO_SEGMENT, CALL)}, WORKFLOW)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("definition.trigger.segmentId", "SEGMENTS_UNAVAILABLE")]


async def test_a_segment_trigger_names_a_saved_segment_and_dry_runs_on_its_kind_of_customer(api):
    unknown = await api.mutate("createWorkflow", {"name": "x", "definition": on_entering(NO_SEGMENT, CALL)}, WORKFLOW)
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [("definition.trigger.segmentId", "NOT_FOUND")]
    not_a_uuid = await api.mutate("createWorkflow", {"name": "x", "definition": on_entering("休眠", CALL)}, WORKFLOW)
    assert [(e["field"], e["code"]) for e in not_a_uuid["userErrors"]] == [("definition.trigger.segmentId", "INVALID_DEFINITION")]

    person = await active_contact(api, "試行", api.clock.now())
    workflow = await create_workflow(api, on_entering(raw_id(await dormant_segment(api)), CALL))
    tried = await api.mutate(
        "dryRunWorkflow", {"id": workflow["id"], "recordId": person["id"]}, "triggerMatches steps { stepId input }"
    )
    assert tried["userErrors"] == [] and tried["triggerMatches"] is True
    assert tried["steps"][0]["input"]["contact_id"] == raw_id(person["id"])


async def test_a_workflow_whose_segment_is_deleted_is_flagged_once_in_its_run_history(api):
    segment = await dormant_segment(api)
    workflow = await create_workflow(api, on_entering(raw_id(segment), CALL))
    assert await flag_missing_segments(api.runtime) == 0  # the segment is there
    deleted = await api.mutate("deleteSegment", {"id": segment}, "deletedId", role="marketing")
    assert deleted["userErrors"] == [], deleted
    assert await flag_missing_segments(api.runtime) == 1
    assert await flag_missing_segments(api.runtime) == 0  # once per version
    [run] = await runs(api, workflow["id"])
    assert (run["status"], run["error"], run["steps"]) == ("FAILED", "definition.trigger.segmentId: SEGMENT_NOT_FOUND", [])
    retried = await api.mutate("retryWorkflowRun", {"id": run["id"]}, "run { id }")
    assert [e["code"] for e in retried["userErrors"]] == ["NOTHING_TO_RETRY"]

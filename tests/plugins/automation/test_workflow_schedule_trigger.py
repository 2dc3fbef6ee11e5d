"""A schedule trigger: a cron expression read in the configured time zone (Asia/Tokyo) starts one
run per named time, however often the worker scans."""

import datetime as dt

from enishi.plugin import split_global_id
from enishi.plugins.automation.workflow_engine import start_scheduled_runs
from tests.plugins.automation.workflow_helpers import WORKFLOW, create_workflow, runs, tasks, work
from tests.plugins.sales.helpers import user_id

TOKYO = dt.timezone(dt.timedelta(hours=9))


async def test_mondays_at_nine_in_tokyo_one_run_each_time(api):
    reviewer = await user_id(api, "sales")
    weekly = {
        "trigger": {"type": "schedule", "cron": "0 9 * * 1"},
        "steps": [
            {
                "id": "review",
                "type": "create_task",
                "title": "週次パイプラインレビュー",
                "assignee": {"value": str(split_global_id(reviewer, "User", "id")[1])},
            }
        ],
    }
    await create_workflow(api, weekly)  # at the test clock's Monday 10 June 2024, 09:00 in Tokyo
    assert await start_scheduled_runs(api.runtime) == 0  # the next Monday is to come

    api.clock.set(dt.datetime(2024, 6, 17, 8, 59, tzinfo=TOKYO))
    assert await start_scheduled_runs(api.runtime) == 0
    api.clock.set(dt.datetime(2024, 6, 17, 9, 0, tzinfo=TOKYO))  # 00:00 UTC: the Tokyo zone, not UTC, decides
    assert await start_scheduled_runs(api.runtime) == 1
    assert await start_scheduled_runs(api.runtime) == 0  # scanned again: the same time
    await work(api)
    [task] = await tasks(api)
    assert task["title"] == "週次パイプラインレビュー" and task["assignee"]["id"] == reviewer
    [run] = await runs(api)
    assert run["eventType"] == "schedule:0 9 * * 1" and run["payload"] == {"scheduled_at": "2024-06-17T09:00:00+09:00"}
    assert run["recordId"] is None and run["status"] == "SUCCEEDED"


async def test_a_schedule_needs_a_five_field_cron_expression(api):
    for cron in ("0 9 * *", "61 9 * * 1", "@weekly 1"):
        refused = await api.mutate(
            "createWorkflow",
            {"name": "x", "definition": {"trigger": {"type": "schedule", "cron": cron}, "steps": [{"id": "s", "type": "stop"}]}},
            WORKFLOW,
        )
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("definition.trigger.cron", "INVALID_CRON")], cron

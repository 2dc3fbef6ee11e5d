"""A date-relative trigger: N days before a record's date field (a contract's end), reckoned in
the configured time zone (Asia/Tokyo), starts one run per record and date however often the
worker scans."""

import datetime as dt

from enishi.plugins.automation.workflow_engine import start_dated_runs
from tests.helpers import create_account
from tests.plugins.automation.workflow_helpers import WORKFLOW, create_workflow, runs, tasks, work
from tests.plugins.sales.helpers import user_id

BEFORE_THE_END = {
    "trigger": {"type": "date", "entity": "sales_contract", "field": "end_date", "days_before": 30},
    "steps": [{"id": "renewal", "type": "create_task", "title": "契約更新の確認", "assignee": {"field": "owner_id"}}],
}


async def test_thirty_days_before_a_contracts_end_one_task_for_its_owner(api):
    await create_workflow(api, BEFORE_THE_END)
    owner = await user_id(api, "sales")
    account = await create_account(api, name="株式会社更新")
    contract = await api.mutate(
        "createContract",
        # The test clock stands at 2024-06-10 09:00 in Tokyo: the end is 40 days away.
        {
            "name": "保守契約",
            "accountId": account["id"],
            "startDate": "2023-07-21",
            "endDate": "2024-07-20",
            "value": 100_000,
            "billingCycle": "annual",
            "ownerId": owner,
        },
        "contract { id }",
    )
    assert contract["userErrors"] == [], contract
    assert await start_dated_runs(api.runtime) == 0

    api.clock.set(dt.datetime(2024, 6, 20, 14, 59, tzinfo=dt.UTC))  # 23:59 on the 20th in Tokyo: 30 days before
    assert await start_dated_runs(api.runtime) == 1
    assert await start_dated_runs(api.runtime) == 0  # scanned again: the same occurrence
    await work(api)
    [task] = await tasks(api)
    assert task["title"] == "契約更新の確認" and task["assignee"]["id"] == owner
    [run] = await runs(api)
    assert run["eventType"] == "date:sales_contract.end_date" and run["payload"] == {"date": "2024-07-20", "field": "end_date"}

    api.clock.advance(days=3)  # still within the look-back: no second run
    assert await start_dated_runs(api.runtime) == 0


async def test_a_date_trigger_must_name_a_date_column(api):
    for trigger, field, code in (
        ({**BEFORE_THE_END["trigger"], "entity": "no_such_table"}, "definition.trigger.entity", "UNKNOWN_ENTITY"),
        ({**BEFORE_THE_END["trigger"], "field": "name"}, "definition.trigger.field", "NOT_A_DATE_FIELD"),
        (
            {**BEFORE_THE_END["trigger"], "days_before": 1000},
            "definition.trigger.daysBefore",
            "INVALID_DEFINITION",
        ),  # fields camelCased, as everywhere
    ):
        refused = await api.mutate(
            "createWorkflow", {"name": "x", "definition": {**BEFORE_THE_END, "trigger": trigger}}, WORKFLOW
        )
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(field, code)]

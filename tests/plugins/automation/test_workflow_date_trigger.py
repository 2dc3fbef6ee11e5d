"""A date-relative trigger: N days before a record's date field (a contract's end), reckoned in
the configured time zone (Asia/Tokyo), starts one run per record and date however often the
worker scans."""

import datetime as dt

from enishi.plugins.automation.workflow_dates import start_dated_runs
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


async def test_a_datetime_column_counts_by_its_date_in_tokyo(api):
    # Three days after an account was created, by the Tokyo calendar.
    await create_workflow(
        api,
        {
            "trigger": {"type": "date", "entity": "account", "field": "created_at", "days_before": -3},
            "steps": [{"id": "call", "type": "create_task", "title": "導入後の電話", "account": {"field": "id"}}],
        },
    )
    api.clock.set(dt.datetime(2024, 6, 10, 23, 30, tzinfo=dt.UTC))  # 08:30 on the 11th in Tokyo
    await create_account(api, name="株式会社深夜")
    api.clock.set(dt.datetime(2024, 6, 13, 14, 59, tzinfo=dt.UTC))  # 23:59 on the 13th in Tokyo: three days by UTC only
    assert await start_dated_runs(api.runtime) == 0
    api.clock.set(dt.datetime(2024, 6, 13, 15, 0, tzinfo=dt.UTC))  # the 14th in Tokyo
    assert await start_dated_runs(api.runtime) == 1
    [run] = await runs(api)
    assert run["payload"] == {"date": "2024-06-11", "field": "created_at"}
    refused = await api.mutate(
        "createWorkflow",
        {
            "name": "x",
            "definition": {
                "trigger": {"type": "date", "entity": "account", "field": "created_at", "days_before": 0, "yearly": True},
                "steps": [{"id": "s", "type": "stop"}],
            },
        },
        WORKFLOW,
    )
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("definition.trigger.yearly", "YEARLY_NOT_SUPPORTED")]


async def test_an_accounts_date_custom_field_once_or_yearly(api):
    for key in ("renewal_date", "founded"):
        made = await api.mutate(
            "createCustomFieldDefinition",
            {"entity": "ACCOUNT", "key": key, "type": "DATE", "labelJa": key},
            "definition { id } userErrors { code }",
        )
        assert made["userErrors"] == [], made
    step = [{"id": "call", "type": "create_task", "title": "連絡", "account": {"field": "id"}}]
    renewal = {"type": "date", "entity": "account", "field": "custom_fields.renewal_date", "days_before": 7}
    anniversary = {"type": "date", "entity": "account", "field": "custom_fields.founded", "days_before": 0, "yearly": True}
    await create_workflow(api, {"trigger": renewal, "steps": step}, name="更新")
    await create_workflow(api, {"trigger": anniversary, "steps": step}, name="創業記念")
    await create_account(api, name="株式会社更新", customFields={"renewal_date": "2024/6/20", "founded": "1950-06-18"})
    await create_account(api, name="株式会社老舗", customFields={"renewal_date": "2025-06-20", "founded": "1904-02-29"})
    assert await start_dated_runs(api.runtime) == 0  # 2024-06-10

    api.clock.set(dt.datetime(2024, 6, 13, 0, 0, tzinfo=dt.UTC))  # a week before the 20th
    assert await start_dated_runs(api.runtime) == 1
    api.clock.set(dt.datetime(2024, 6, 18, 0, 0, tzinfo=dt.UTC))
    assert await start_dated_runs(api.runtime) == 1  # the founding's anniversary
    api.clock.set(dt.datetime(2025, 2, 28, 0, 0, tzinfo=dt.UTC))
    assert await start_dated_runs(api.runtime) == 1  # founded on a 29 February
    payloads = sorted((run["eventType"], run["payload"]["date"]) for run in await runs(api))
    assert payloads == [
        ("date:account.custom_fields.founded", "2024-06-18"),
        ("date:account.custom_fields.founded", "2025-02-28"),
        ("date:account.custom_fields.renewal_date", "2024-06-20"),
    ]

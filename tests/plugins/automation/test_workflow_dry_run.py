"""A dry run evaluates a workflow against a chosen record: whether its trigger's conditions hold,
which steps would run (branches decided on the record now) with what, and writes nothing."""

import copy
import uuid

from enishi.plugin import split_global_id, to_global_id
from tests.helpers import count_rows
from tests.plugins.automation.workflow_helpers import QUOTE_FOLLOW_UP, create_workflow, runs, sent_quote_of_owned_deal, tasks

STEPS = "triggerMatches steps { stepId type input note } userErrors { field code }"


def branching(threshold: int) -> dict:
    definition = copy.deepcopy(QUOTE_FOLLOW_UP)
    wait, follow_up = definition["steps"]
    definition["steps"] = [
        wait,
        {
            "id": "big_deal",
            "type": "if",
            "conditions": [{"source": "record", "field": "deal.amount", "op": "gte", "value": threshold}],
            "then": [follow_up],
            "else": [{"id": "small", "type": "stop"}],
        },
        {"id": "mark", "type": "add_tag", "tag": "followed"},
    ]
    return definition


async def test_a_dry_run_shows_the_steps_a_record_would_take_and_writes_nothing(api):
    made = await sent_quote_of_owned_deal(api)
    quote_id = made["quote"]["id"]
    workflow = await create_workflow(api, branching(500_000))
    small = await create_workflow(api, branching(10**9), name="大型のみ")

    answer = await api.mutate("dryRunWorkflow", {"id": workflow["id"], "recordId": quote_id, "payload": {"to": "sent"}}, STEPS)
    owner = str(split_global_id(made["owner"], "User", "id")[1])
    account = str(split_global_id(made["deal"]["account"]["id"], "Account", "id")[1])
    quote_uuid = str(split_global_id(quote_id, "SalesQuote", "id")[1])
    assert answer == {
        "triggerMatches": True,
        "steps": [
            {"stepId": "three_days", "type": "wait", "input": {}, "note": "waits 3 days, 0:00:00"},
            {"stepId": "big_deal", "type": "if", "input": {}, "note": "then"},
            {
                "stepId": "follow_up",
                "type": "create_task",
                "input": {
                    "title": "見積のフォローアップ",
                    "assignee_id": owner,
                    "account_id": account,
                    "contact_id": None,
                    "due_in_seconds": 86400,
                },
                "note": None,
            },
            {
                "stepId": "mark",
                "type": "add_tag",
                "input": {"entity": "sales_quote", "record_id": quote_uuid, "tag": "followed"},
                "note": None,
            },
        ],
        "userErrors": [],
    }
    declined = await api.mutate("dryRunWorkflow", {"id": small["id"], "recordId": quote_id, "payload": {"to": "declined"}}, STEPS)
    assert declined["triggerMatches"] is False
    assert [(s["stepId"], s["note"]) for s in declined["steps"]] == [
        ("three_days", "waits 3 days, 0:00:00"),
        ("big_deal", "else"),
        ("small", None),
    ]

    assert await runs(api) == [] and await tasks(api) == []
    assert await count_rows(api, "automation_record_tag") == 0


async def test_a_dry_run_refuses_a_record_its_trigger_is_not_about(api):
    made = await sent_quote_of_owned_deal(api)
    workflow = await create_workflow(api, QUOTE_FOLLOW_UP)
    wrong = await api.mutate("dryRunWorkflow", {"id": workflow["id"], "recordId": made["deal"]["account"]["id"]}, STEPS)
    assert wrong["triggerMatches"] is None and wrong["steps"] is None
    assert [(e["field"], e["code"]) for e in wrong["userErrors"]] == [("recordId", "WRONG_RECORD_TYPE")]
    garbage = await api.mutate("dryRunWorkflow", {"id": workflow["id"], "recordId": "nonsense"}, STEPS)
    assert [(e["field"], e["code"]) for e in garbage["userErrors"]] == [("recordId", "INVALID_ID")]


async def test_a_dry_run_of_a_missing_workflow_or_record_says_which_was_not_found(api):
    made = await sent_quote_of_owned_deal(api)
    workflow = await create_workflow(api, QUOTE_FOLLOW_UP)
    missing = to_global_id("AutomationWorkflow", uuid.uuid4())
    no_workflow = await api.mutate("dryRunWorkflow", {"id": missing, "recordId": made["quote"]["id"]}, "triggerMatches")
    assert no_workflow["userErrors"] == [{"field": "id", "message": "no such workflow", "code": "NOT_FOUND"}]
    no_quote = await api.mutate(
        "dryRunWorkflow", {"id": workflow["id"], "recordId": to_global_id("SalesQuote", uuid.uuid4())}, "triggerMatches"
    )
    assert no_quote["userErrors"] == [{"field": "recordId", "message": "no such quote", "code": "NOT_FOUND"}]

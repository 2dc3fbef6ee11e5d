"""Workflow definitions: JSON documents checked against the published JSON Schema (every problem
a userError naming its JSON path, nothing saved), versioned on every change, admin only."""

import copy
import json
from pathlib import Path

from tests.plugins.automation.workflow_helpers import QUOTE_FOLLOW_UP, WORKFLOW, create_workflow

DOCS_SCHEMA = Path(__file__).parents[3] / "docs" / "workflow-definition.schema.json"


async def test_a_definition_is_saved_as_version_1_and_each_change_is_the_next_version(api):
    workflow = await create_workflow(api, QUOTE_FOLLOW_UP, description="3日後に営業担当へタスク")
    assert workflow["version"] == 1 and workflow["enabled"] is True
    assert workflow["definition"] == QUOTE_FOLLOW_UP
    assert workflow["versions"] == [{"version": 1, "eventType": "quote.status_changed", "definition": QUOTE_FOLLOW_UP}]

    renamed = await api.mutate(
        "updateWorkflow", {"id": workflow["id"], "name": "見積フォロー", "definition": QUOTE_FOLLOW_UP}, WORKFLOW
    )
    assert renamed["userErrors"] == [] and renamed["workflow"]["version"] == 1  # the same document: no new version

    changed = copy.deepcopy(QUOTE_FOLLOW_UP)
    changed["steps"][0]["duration"] = {"days": 5}
    updated = await api.mutate("updateWorkflow", {"id": workflow["id"], "definition": changed, "enabled": False}, WORKFLOW)
    assert updated["userErrors"] == []
    assert updated["workflow"]["version"] == 2 and updated["workflow"]["enabled"] is False
    assert updated["workflow"]["name"] == "見積フォロー"
    assert [v["definition"]["steps"][0]["duration"] for v in updated["workflow"]["versions"]] == [{"days": 3}, {"days": 5}]


async def test_every_problem_is_a_user_error_at_its_json_path_and_nothing_is_saved(api):
    bad = copy.deepcopy(QUOTE_FOLLOW_UP)
    bad["trigger"]["conditions"][0]["op"] = "like"
    bad["steps"][0] = {"id": "three_days", "type": "wait", "duration": {"days": -1}}
    bad["steps"][1]["colour"] = "red"
    payload = await api.mutate("createWorkflow", {"name": "x", "definition": bad}, WORKFLOW)
    assert payload["workflow"] is None
    assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {
        ("definition.trigger.conditions.0", "INVALID_DEFINITION"),
        ("definition.steps.0.duration.days", "INVALID_DEFINITION"),
        ("definition.steps.1", "INVALID_DEFINITION"),
    }, payload["userErrors"]

    semantic = copy.deepcopy(QUOTE_FOLLOW_UP)
    semantic["trigger"]["event"] = "quote.teleported"
    semantic["steps"].append({"id": "follow_up", "type": "stop"})
    semantic["steps"].append({"id": "later", "type": "wait", "until": "2024-06-10T09:00:00"})  # no offset
    semantic["steps"].append(
        {
            "id": "branch",
            "type": "if",
            "conditions": [],
            "then": [{"id": "note", "type": "create_activity", "activity_type": "telepathy", "summary": "x"}],
            "else": [{"id": "ping", "type": "send_webhook", "webhook_id": "00000000-0000-4000-8000-000000000000"}],
        }
    )
    payload = await api.mutate("createWorkflow", {"name": "x", "definition": semantic}, WORKFLOW)
    # Each at the JSON path of what is wrong, branches included, camelCased as every userError's field.
    assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {
        ("definition.trigger.event", "UNKNOWN_EVENT_TYPE"),
        ("definition.steps.2.id", "DUPLICATE_STEP_ID"),
        ("definition.steps.3.until", "INVALID_DATE"),
        ("definition.steps.4.then.0.activityType", "UNKNOWN_ACTIVITY_TYPE"),
        ("definition.steps.4.else.0.webhookId", "NOT_FOUND"),
    }
    not_an_object = await api.mutate("createWorkflow", {"name": "x", "definition": [1, 2]}, WORKFLOW)
    assert [(e["field"], e["code"]) for e in not_an_object["userErrors"]] == [("definition", "INVALID_DEFINITION")]
    assert (await api.graphql("{ workflows { totalCount } }"))["workflows"]["totalCount"] == 0


async def test_keys_a_user_chose_stay_as_written_in_an_error_path(api):
    definition = copy.deepcopy(QUOTE_FOLLOW_UP)
    definition["steps"] = [
        {
            "id": "ping",
            "type": "send_webhook",
            "webhook_id": "00000000-0000-4000-8000-000000000000",
            # The schema's keys are camelCased; `data`'s keys are the admin's own.
            "data": {"my_key": "x" * 501, "due_in": {"days": 1}},
        }
    ]
    payload = await api.mutate("createWorkflow", {"name": "x", "definition": definition}, WORKFLOW)
    assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {
        ("definition.steps.0.data.my_key", "INVALID_DEFINITION"),
        ("definition.steps.0.data.due_in", "INVALID_DEFINITION"),
    }


async def test_the_published_schema_is_the_one_definitions_are_checked_against(api):
    served = (await api.graphql("{ workflowDefinitionSchema }"))["workflowDefinitionSchema"]
    assert served == json.loads(DOCS_SCHEMA.read_text(encoding="utf-8"))
    assert served["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(served["$defs"]) >= {
        "create_task",
        "update_field",
        "add_tag",
        "remove_tag",
        "create_activity",
        "wait",
        "if",
        "stop",
    }


async def test_only_an_admin_manages_workflows(api):
    for role in ("manager", "integration", "sales"):
        assert (await api.errors("{ workflows { totalCount } }", role=role))[0]["extensions"]["code"] == "FORBIDDEN"
        refused = await api.errors(
            'mutation($d: JSON!) { createWorkflow(input: {name: "x", definition: $d}) { workflow { id } } }',
            {"d": QUOTE_FOLLOW_UP},
            role=role,
        )
        assert refused[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.graphql("{ workflows { totalCount } }"))["workflows"]["totalCount"] == 0

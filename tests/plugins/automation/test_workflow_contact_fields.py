"""`update_field` on a contact: through the same service as `updateContact` — its checks, the
typed custom-field definitions (a value they refuse is a definition error when given as is, a
step error when read from the record, never INTERNAL), the privacy plugin's guard on sensitive
fields, `contact.updated` — and the run's history keeps which field of whom, never the value."""

import uuid

from sqlalchemy import select

from enishi.models import OutboxEvent
from enishi.plugin import split_global_id
from enishi.plugins.automation.workflow_engine import MAX_DEPTH
from tests.helpers import create_account, create_contact
from tests.plugins.automation.workflow_helpers import WORKFLOW, create_workflow, runs, work
from tests.plugins.sales.helpers import user_id

CONTACT = "... on Contact { jobTitle customFields owner { id } }"


def on(event: str, *steps: dict) -> dict:
    return {"trigger": {"type": "event", "event": event}, "steps": list(steps)}


def set_contact(step_id: str, field: str, value: dict) -> dict:
    return {"id": step_id, "type": "update_field", "entity": "contact", "field": field, "value": value}


async def define(api, key: str, kind: str, options: list[str] | None = None) -> None:
    made = await api.mutate(
        "createCustomFieldDefinition",
        {"entity": "CONTACT", "key": key, "type": kind, "labelJa": key, "options": options},
        "definition { id }",
    )
    assert made["userErrors"] == [], made


async def contact(api, contact_id: str) -> dict:
    return (await api.graphql(f'{{ node(id: "{contact_id}") {{ {CONTACT} }} }}'))["node"]


def raw(global_id: str) -> str:
    return str(split_global_id(global_id, "User", "id")[1])


def codes(payload) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def test_a_workflow_sets_a_contacts_core_and_typed_custom_fields_and_keeps_no_value_in_its_history(api):
    await define(api, "ランク", "CHOICE", ["ゴールド", "シルバー"])
    await define(api, "来店回数", "INTEGER")
    owner = await user_id(api, "sales")
    await create_workflow(
        api,
        on(
            "contact.created",
            set_contact("rank", "custom_fields.ランク", {"value": "ゴールド"}),
            set_contact("visits", "custom_fields.来店回数", {"value": "１２"}),  # full-width: coerced as any write
            set_contact("title", "job_title", {"value": "購買担当"}),
            set_contact("owner", "owner_id", {"value": raw(owner)}),
        ),
    )
    person = await create_contact(api, familyName="佐藤", customFields={"会員番号": "M-1"})
    await work(api)

    assert await contact(api, person["id"]) == {
        "jobTitle": "購買担当",
        "customFields": {"会員番号": "M-1", "ランク": "ゴールド", "来店回数": 12},
        "owner": {"id": owner},
    }
    [run] = await runs(api)
    contact_id = str(split_global_id(person["id"], "Contact", "id")[1])
    assert run["status"] == "SUCCEEDED"
    assert [(s["input"], s["output"]) for s in run["steps"]] == [
        ({"contact_id": contact_id, "field": field}, {"contact_id": contact_id, "field": field, "changed": True})
        for field in ("custom_fields.ランク", "custom_fields.来店回数", "job_title", "owner_id")
    ]
    async with api.runtime.read_session() as session:  # contact.updated, as updateContact emits it
        fields = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.type == "contact.updated", OutboxEvent.entity_id == uuid.UUID(contact_id))
            .order_by(OutboxEvent.seq)
        )
        assert [payload["fields"] for payload in fields] == [["custom_fields"], ["custom_fields"], ["job_title"], ["owner_id"]]


async def test_a_value_a_custom_field_definition_refuses_is_a_definition_error_or_a_step_error(api):
    await define(api, "来店回数", "INTEGER")
    refused = await api.mutate(
        "createWorkflow",
        {"name": "x", "definition": on("contact.created", set_contact("visits", "custom_fields.来店回数", {"value": "沢山"}))},
        WORKFLOW,
    )
    assert codes(refused) == [("definition.steps.0.value", "INVALID_NUMBER")]
    not_a_contact_field = await api.mutate(
        "createWorkflow",
        {"name": "x", "definition": on("contact.created", set_contact("industry", "industry", {"value": "製造"}))},
        WORKFLOW,
    )
    assert codes(not_a_contact_field) == [("definition.steps.0.field", "INVALID_DEFINITION")]

    # Read from the record when the step runs: refused then, a step error with the field and code.
    await create_workflow(api, on("contact.created", set_contact("visits", "custom_fields.来店回数", {"field": "created_at"})))
    person = await create_contact(api, familyName="鈴木")
    await work(api)
    [run] = await runs(api)
    # Spelled as a userError is (and as a definition error's path), the key as its owner wrote it.
    assert run["status"] == "PENDING" and run["error"] == "customFields.来店回数: INVALID_NUMBER"
    assert [step["error"] for step in run["steps"]] == ["customFields.来店回数: INVALID_NUMBER"]
    assert (await contact(api, person["id"]))["customFields"] == {}


async def test_a_sensitive_custom_field_is_written_by_a_workflow_only_on_the_privacy_plugins_terms(api):
    marked = await api.mutate(
        "markFieldSensitive", {"entity": "contact", "field": "custom_fields.病歴"}, "sensitiveField { field }", role="compliance"
    )
    assert marked["userErrors"] == []
    await create_workflow(api, on("contact.created", set_contact("health", "custom_fields.病歴", {"value": "要確認"})))
    person = await create_contact(api, familyName="田中")
    await work(api)
    [run] = await runs(api)
    assert run["status"] == "PENDING" and run["error"] == "customFields: SENSITIVE_DATA_BASIS_REQUIRED"
    assert (await contact(api, person["id"]))["customFields"] == {}  # nothing written

    grounded = await api.mutate(
        "recordLegalGround",
        {"contactId": person["id"], "ground": "法第20条第2項第1号: 労働安全衛生法に基づく健康診断"},
        "legalGround { purpose }",
        role="compliance",
    )
    assert grounded["userErrors"] == []
    api.clock.advance(seconds=30)  # the step's first retry
    await work(api)
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED"
    assert (await contact(api, person["id"]))["customFields"] == {"病歴": "要確認"}


async def test_a_workflow_updating_the_contact_that_triggered_it_is_cut_at_the_depth_limit(api):
    first, second = raw(await user_id(api, "sales")), raw(await user_id(api, "manager"))
    flip = on(
        "contact.updated",
        {
            "id": "which",
            "type": "if",
            "conditions": [{"source": "record", "field": "owner_id", "op": "eq", "value": first}],
            "then": [set_contact("to_second", "owner_id", {"value": second})],
            "else": [set_contact("to_first", "owner_id", {"value": first})],
        },
    )
    await create_workflow(api, flip)
    person = await create_contact(api, familyName="循環")
    changed = await api.mutate("updateContact", {"id": person["id"], "jobTitle": "課長"}, "contact { id }")
    assert changed["userErrors"] == []
    for _ in range(MAX_DEPTH + 3):
        await work(api)
    assert sorted(run["depth"] for run in await runs(api)) == list(range(MAX_DEPTH + 1))


async def test_update_field_on_an_account_goes_through_the_account_service_and_its_typed_fields(api):
    made = await api.mutate(
        "createCustomFieldDefinition",
        {"entity": "ACCOUNT", "key": "従業員規模", "type": "INTEGER", "labelJa": "従業員規模"},
        "definition { id }",
    )
    assert made["userErrors"] == []
    step = {"id": "size", "type": "update_field", "field": "custom_fields.従業員規模", "value": {"value": "１，２００"}}
    await create_workflow(api, on("account.created", step))
    account = await create_account(api, name="株式会社ケヤキ")
    await work(api)
    data = await api.graphql(f'{{ node(id: "{account["id"]}") {{ ... on Account {{ customFields }} }} }}')
    assert data["node"]["customFields"] == {"従業員規模": 1200}

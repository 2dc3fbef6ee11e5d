"""Step types plugins contribute through `enishi_workflow_step_types`: the sales plugin's
`sales.move_deal_stage`, loyalty's `loyalty.award_points`, support's `support.escalate_ticket`
and `support.create_ticket` — each checked against its parameters when a definition is saved,
and applied once per run."""

from sqlalchemy import update

from enishi.models import OutboxEvent
from enishi.plugins.automation.workflow_engine import MAX_DEPTH
from tests.helpers import create_account, create_contact
from tests.plugins.automation.workflow_helpers import (
    DORMANT_DAYS,
    WORKFLOW,
    active_contact,
    create_workflow,
    dormant_segment,
    raw_id,
    runs,
    sent_quote_of_owned_deal,
    work,
)
from tests.plugins.loyalty.helpers import member, program

TICKETS = "{ tickets { nodes { subject priority channel tags requester { id } } } }"


def on(event: str, step: dict, conditions: list | None = None) -> dict:
    return {"trigger": {"type": "event", "event": event, "conditions": conditions or []}, "steps": [step]}


async def test_the_sales_step_moves_the_deal_of_a_sent_quote_to_the_named_stage(api):
    await create_workflow(
        api,
        on(
            "quote.status_changed",
            {"id": "propose", "type": "sales.move_deal_stage", "stage": "提案"},
            [{"source": "payload", "field": "to", "op": "eq", "value": "sent"}],
        ),
    )
    made = await sent_quote_of_owned_deal(api)
    await work(api)
    await work(api)
    deal = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on SalesDeal { stage { name } } } }", {"id": made["deal"]["id"]}
    )
    assert deal["node"]["stage"]["name"] == "提案"
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED" and run["steps"][0]["input"] == {"stage": "提案"}
    assert set(run["steps"][0]["output"]) == {"deal_id", "from_stage_id", "to_stage_id"}


async def test_the_loyalty_step_awards_points_to_a_new_member_once(api):
    await create_workflow(
        api, on("loyalty.member_enrolled", {"id": "welcome", "type": "loyalty.award_points", "points": 100, "reason": "入会特典"})
    )
    member_id = await member(api, await program(api))
    await work(api)
    await work(api)
    balance = await api.graphql("query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }", {"id": member_id})
    assert balance["node"]["balance"] == 100
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED" and run["steps"][0]["output"]["points"] == 100


async def test_the_support_step_escalates_a_high_priority_ticket(api):
    await create_workflow(
        api,
        on(
            "support.ticket_created",
            {"id": "escalate", "type": "support.escalate_ticket"},
            [{"source": "payload", "field": "priority", "op": "eq", "value": "high"}],
        ),
    )
    requester = await create_contact(api, familyName="佐藤")
    numbers = []
    for priority in ("normal", "high"):
        created = await api.mutate(
            "createTicket",
            {"subject": "至急", "priority": priority, "requesterId": requester["id"]},
            "ticket { id }",
            role="support",
        )
        numbers.append(created["ticket"]["id"])
    await work(api)
    priorities = [
        (await api.graphql("query($id: ID!) { node(id: $id) { ... on SupportTicket { priority } } }", {"id": t}))["node"][
            "priority"
        ]
        for t in numbers
    ]
    assert [p.lower() for p in priorities] == ["normal", "urgent"]
    [run] = await runs(api)
    assert run["steps"][0]["output"]["priority_before"] == "high" and run["steps"][0]["output"]["priority"] == "urgent"


async def test_the_support_step_opens_one_ticket_for_a_customer_turning_dormant(api):
    person = await active_contact(api, "解約予備軍", api.clock.now())
    segment = await dormant_segment(api)
    open_ticket = {
        "id": "ticket",
        "type": "support.create_ticket",
        "subject": "休眠顧客のフォロー",
        "priority": "high",
        "tags": ["churn_risk"],
    }
    await create_workflow(api, {"trigger": {"type": "segment", "segment_id": raw_id(segment)}, "steps": [open_ticket]})
    api.clock.advance(days=DORMANT_DAYS + 1)
    assert (await api.mutate("evaluateSegment", {"id": segment}, "entered", role="marketing"))["entered"] == 1
    await work(api)
    async with api.runtime.unit_of_work() as uow:  # the outbox hands the entry over again: no second ticket
        await uow.session.execute(update(OutboxEvent).values(delivered_at=None))
    await work(api)

    [ticket] = (await api.graphql(TICKETS))["tickets"]["nodes"]
    assert ticket == {
        "subject": "休眠顧客のフォロー",
        "priority": "high",
        "channel": "workflow",
        "tags": ["churn_risk"],
        "requester": {"id": person["id"]},
    }
    [run] = await runs(api)
    assert run["status"] == "SUCCEEDED" and run["steps"][0]["output"]["number"] == 1


async def test_a_ticket_opened_for_a_contact_is_on_their_main_account(api):
    await create_workflow(api, on("contact.created", {"id": "ticket", "type": "support.create_ticket", "subject": "初回"}))
    side = await create_account(api, name="株式会社サブ")
    main = await create_account(api, name="株式会社メイン")
    person = await create_contact(
        api, familyName="主", accounts=[{"accountId": side["id"]}, {"accountId": main["id"], "primary": True}]
    )
    await create_contact(api, familyName="無所属")
    await work(api)
    tickets = (await api.graphql("{ tickets { nodes { requester { id familyName } account { id } } } }"))["tickets"]["nodes"]
    accounts = {t["requester"]["familyName"]: t["account"] for t in tickets}
    assert accounts == {"主": {"id": main["id"]}, "無所属": None}
    assert person["id"] in {t["requester"]["id"] for t in tickets}


async def test_tickets_a_workflow_opens_on_new_tickets_retrigger_it_only_to_the_depth_limit(api):
    await create_workflow(api, on("support.ticket_created", {"id": "again", "type": "support.create_ticket", "subject": "連鎖"}))
    requester = await create_contact(api, familyName="連鎖")
    created = await api.mutate("createTicket", {"subject": "最初", "requesterId": requester["id"]}, "ticket { id }")
    assert created["userErrors"] == []
    for _ in range(MAX_DEPTH + 3):
        await work(api)
    assert sorted(run["depth"] for run in await runs(api)) == list(range(MAX_DEPTH + 1))
    tickets = (await api.graphql(TICKETS))["tickets"]["nodes"]
    assert len(tickets) == 1 + MAX_DEPTH + 1  # the one made by hand, one per run
    assert {t["requester"]["id"] for t in tickets} == {requester["id"]}  # a ticket's requester is the next one's


async def test_hook_enishi_workflow_step_types_and_their_parameters_in_the_published_schema(api):
    missing = await api.mutate(
        "createWorkflow", {"name": "x", "definition": on("deal.created", {"id": "s", "type": "sales.move_deal_stage"})}, WORKFLOW
    )
    assert [(e["field"], e["code"]) for e in missing["userErrors"]] == [("definition.steps.0", "INVALID_DEFINITION")]
    unknown = await api.mutate(
        "createWorkflow", {"name": "x", "definition": on("deal.created", {"id": "s", "type": "sales.teleport"})}, WORKFLOW
    )
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [("definition.steps.0.type", "INVALID_DEFINITION")]
    served = (await api.graphql("{ workflowDefinitionSchema }"))["workflowDefinitionSchema"]
    assert {"sales.move_deal_stage", "loyalty.award_points", "support.escalate_ticket", "support.create_ticket"} <= set(
        served["$defs"]
    )
    no_subject = await api.mutate(
        "createWorkflow", {"name": "x", "definition": on("deal.created", {"id": "s", "type": "support.create_ticket"})}, WORKFLOW
    )
    assert [(e["field"], e["code"]) for e in no_subject["userErrors"]] == [("definition.steps.0", "INVALID_DEFINITION")]

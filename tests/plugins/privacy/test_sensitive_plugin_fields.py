"""要配慮個人情報 in a plugin's records, over GraphQL: the fields the core and plugins offer for
marking (`sensitiveCapableFields`: a contact's custom fields, a support ticket's), a ticket's
custom field marked sensitive written only with its requester's consent or legal ground (refused
otherwise, nothing written), hidden from roles without `crm.read_sensitive` and kept when they
replace the others, unmarked with each requester logged; a field a plugin keeps in clear cannot be
marked (a marked field is always sealed). Then every place that selects, scores or hands out
people, tried with a marked contact field and a marked ticket field: segments, ABM's audience
export and ICP scoring, insights' health scores, webhook payloads granted personal data."""

import json

import pytest

from enishi.plugin import SensitiveCapableField, hookimpl
from enishi.worker import run_every_job
from tests.helpers import count_rows, create_account, create_contact
from tests.plugins.automation.helpers import LOOPBACK, Receiver, create_webhook
from tests.plugins.insights.helpers import buy
from tests.plugins.insights.test_health import health_of
from tests.plugins.insights.test_segments import _segment
from tests.plugins.privacy.test_provisions import registered
from tests.plugins.privacy.test_sensitive import codes, mark

TICKET = "ticket { id customFields }"


async def ticket_fields_as(api, ticket_id, role) -> dict:
    query = f'{{ node(id: "{ticket_id}") {{ ... on SupportTicket {{ customFields }} }} }}'
    return (await api.graphql(query, role=role))["node"]["customFields"]


async def update_ticket(api, ticket_id, custom_fields, role="support"):
    return await api.mutate("updateTicket", {"ticketId": ticket_id, "customFields": custom_fields}, TICKET, role=role)


async def consent_to_sensitive_data(api, contact_id) -> None:
    consent = {"contactId": contact_id, "purpose": "sensitive_data", "state": "granted"}
    assert (await api.mutate("recordConsent", consent, "consent { state }"))["userErrors"] == []


async def test_the_core_and_plugins_say_which_fields_may_be_marked(api):
    offered = (await api.graphql("{ sensitiveCapableFields { entity field plugin } }", role="compliance"))[
        "sensitiveCapableFields"
    ]
    assert offered == [
        {"entity": "contact", "field": "custom_fields.<key>", "plugin": "core"},
        {"entity": "support_ticket", "field": "custom_fields.<key>", "plugin": "support"},
    ]
    denied = await api.errors("{ sensitiveCapableFields { entity } }", role="marketing")
    assert denied[0]["extensions"]["code"] == "FORBIDDEN"
    assert codes(await mark(api, "subject", entity="support_ticket")) == [("field", "INVALID_FIELD")]
    assert codes(await mark(api, "custom_fields.業種", entity="account")) == [("entity", "INVALID_ENTITY")]
    assert codes(await mark(api, "body", entity="support_article")) == [("entity", "INVALID_ENTITY")]


async def test_a_tickets_sensitive_field_needs_the_requesters_basis_and_only_sensitive_readers_see_it(api):
    requester = await create_contact(api, familyName="受診者")
    made = await api.mutate(
        "createTicket",
        {"subject": "副作用の相談", "requesterId": requester["id"], "customFields": {"症状": "頭痛", "製品": "A錠"}},
        TICKET,
        role="support",
    )
    ticket = made["ticket"]
    assert (await mark(api, "custom_fields.症状", entity="support_ticket"))["userErrors"] == []
    assert codes(await mark(api, "custom_fields.症状", entity="support_ticket")) == [("field", "ALREADY_SENSITIVE")]
    # The contact's field of the same key is another field: not marked.
    assert (await update_contact_fields(api, requester["id"], {"症状": "なし"}))["userErrors"] == []

    refused = await update_ticket(api, ticket["id"], {"症状": "発熱", "製品": "A錠"})
    assert (refused["ticket"], codes(refused)) == (None, [("customFields", "SENSITIVE_DATA_BASIS_REQUIRED")])
    assert await ticket_fields_as(api, ticket["id"], "support") == {"症状": "頭痛", "製品": "A錠"}  # nothing written
    tickets = await count_rows(api, "support_ticket")
    for requester_id in (requester["id"], None):  # the requester has no basis; no requester, no one to have one
        new = await api.mutate(
            "createTicket",
            {"subject": "再相談", "requesterId": requester_id, "customFields": {"症状": "咳"}},
            TICKET,
            role="support",
        )
        assert codes(new) == [("customFields", "SENSITIVE_DATA_BASIS_REQUIRED")]
    assert await count_rows(api, "support_ticket") == tickets
    assert (await update_ticket(api, ticket["id"], {"症状": None, "製品": "B錠"}))["userErrors"] == []  # clearing is not writing

    await consent_to_sensitive_data(api, requester["id"])
    assert (await update_ticket(api, ticket["id"], {"症状": "発熱", "製品": "B錠"}))["userErrors"] == []
    for role in ("marketing", "sales"):
        assert await ticket_fields_as(api, ticket["id"], role) == {"製品": "B錠"}
    for role in ("support", "compliance", "manager"):
        assert await ticket_fields_as(api, ticket["id"], role) == {"症状": "発熱", "製品": "B錠"}
    # `integration` works tickets without seeing sensitive fields: replacing the others keeps it.
    kept = await update_ticket(api, ticket["id"], {"製品": "C錠"}, role="integration")
    assert (kept["userErrors"], kept["ticket"]["customFields"]) == ([], {"製品": "C錠"})
    assert await ticket_fields_as(api, ticket["id"], "support") == {"症状": "発熱", "製品": "C錠"}

    unmark = "change { field change holders } userErrors { field code }"
    unmarked = await api.mutate(
        "unmarkFieldSensitive",
        {"entity": "support_ticket", "field": "custom_fields.症状", "reason": "症状は製品不具合の記録として扱う"},
        unmark,
        role="compliance",
    )
    assert unmarked == {"change": {"field": "custom_fields.症状", "change": "unmarked", "holders": 1}, "userErrors": []}
    assert await ticket_fields_as(api, ticket["id"], "marketing") == {"症状": "発熱", "製品": "C錠"}
    query = "query($id: ID!) { accessLog(contactId: $id) { action purpose } }"
    log = (await api.graphql(query, {"id": requester["id"]}, role="compliance"))["accessLog"]
    assert {"action": "sensitive_field_unmarked", "purpose": "custom_fields.症状"} in log
    changes = (await api.graphql("{ sensitiveFieldChanges { entity field change holders } }", role="compliance"))[
        "sensitiveFieldChanges"
    ]
    assert changes == [
        {"entity": "support_ticket", "field": "custom_fields.症状", "change": "marked", "holders": 1},
        {"entity": "support_ticket", "field": "custom_fields.症状", "change": "unmarked", "holders": 1},
    ]


async def update_contact_fields(api, contact_id, custom_fields):
    return await api.mutate("updateContact", {"id": contact_id, "customFields": custom_fields}, "contact { id }")


class ClearField:
    """A plugin offering a field it keeps in clear (a deal's custom fields are a JSON column)."""

    @hookimpl
    def enishi_sensitive_capable_fields(self):
        async def no_one(uow, field, marked):
            return []

        return [SensitiveCapableField("sales_deal", "custom_fields.*", "sales_deal", "custom_fields", no_one)]


async def test_hook_enishi_sensitive_capable_fields_and_a_field_kept_in_clear_cannot_be_marked(enishi_api):
    api = await enishi_api(plugins=[("clear_field", ClearField())])
    refused = await mark(api, "custom_fields.既往歴", entity="sales_deal")
    assert (refused["sensitiveField"], codes(refused)) == (None, [("field", "NOT_SEALED")])
    assert (await api.graphql("{ sensitiveFields { field } }", role="compliance"))["sensitiveFields"] == []


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


async def test_marked_fields_stay_out_of_segments_marketing_abm_and_insights_scoring(enishi_api, receiver):
    api = await enishi_api(environment="development", extra=LOOPBACK)
    account = await create_account(api, name="要配慮商事")
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    holder = await create_contact(api, familyName="保持", accounts=[{"accountId": account["id"]}])
    twin = await create_contact(api, familyName="対照")
    for person in (holder, twin):  # the same purchases, late for their rhythm: the same risk
        for n in range(5):
            await buy(api, person["id"], 3000, days_ago=25 + 10 * n)
    for field, entity in (("custom_fields.信条", "contact"), ("custom_fields.障害", "support_ticket")):
        assert (await mark(api, field, entity=entity))["userErrors"] == []
    for purpose in ("sensitive_data", "marketing", "third_party_provision"):
        consent = {"contactId": holder["id"], "purpose": purpose, "state": "granted"}
        assert (await api.mutate("recordConsent", consent, "consent { state }"))["userErrors"] == []
    partner = {"name": "配信パートナー株式会社", "kind": "THIRD_PARTY", "country": "JP", "purpose": "共同販促"}
    await registered(api, **partner)
    grant = {"personalDataPurpose": "共同販促", "personalDataRecipient": partner["name"]}
    await create_webhook(api, receiver.url, ["contact.updated", "support.ticket_updated"], **grant)

    assert (await update_contact_fields(api, holder["id"], {"信条": "仏教", "会員": "金"}))["userErrors"] == []
    ticket = (await api.mutate("createTicket", {"subject": "来店時の配慮", "requesterId": holder["id"]}, TICKET, role="support"))[
        "ticket"
    ]
    assert (await update_ticket(api, ticket["id"], {"障害": "車椅子", "来店": "土曜"}))["userErrors"] == []
    twins = await api.mutate("createTicket", {"subject": "来店時の配慮", "requesterId": twin["id"]}, TICKET, role="support")
    assert (await update_ticket(api, twins["ticket"]["id"], {"来店": "土曜"}))["userErrors"] == []
    await run_every_job(api.runtime)

    # Segments: naming the field at all is refused.
    segment = await _segment(api, "信条", {"contact": {"customField": [{"key": "信条", "eq": "仏教"}]}}, customer="CONTACT")
    assert codes(segment) == [("filter.contact.customField", "SENSITIVE_FIELD")]
    # Marketing: ABM's audience export and the webhook granted personal data carry neither value.
    audience = await api.graphql(
        'mutation { exportAudience(input: {destination: "MA"}) { members { contact { customFields } } } }',
        role="marketing",
    )
    assert audience["exportAudience"]["members"] == [{"contact": {"customFields": {"会員": "金"}}}]
    bodies = [json.loads(r.body) for r in receiver.received]
    assert {b["type"] for b in bodies} == {"contact.updated", "support.ticket_updated"}
    assert any(b["data"].get("person") for b in bodies)  # the person's data was sent, just not these
    sent = b"".join(r.body for r in receiver.received).decode()
    assert not any(value in sent for value in ("信条", "仏教", "障害", "車椅子"))
    # ABM: an ICP rule naming the key reads the account's own fields, never its people's.
    rule = {"field": "custom_fields.信条", "op": "EQ", "value": "仏教", "points": 50}
    configured = await api.mutate("setEngagementConfig", {"icpRules": [rule]}, "config { windowDays }")
    assert configured["userErrors"] == []
    await api.mutate("setTargetAccount", {"accountId": account["id"], "rationale": "再評価"}, "account { id }")
    abm = await api.graphql(f'{{ node(id: "{account["id"]}") {{ ... on Account {{ abm {{ icpScore }} }} }} }}')
    assert abm["node"]["abm"]["icpScore"] == 0
    # Insights: the health score of the person holding the values (scored by the jobs run above) is their twin's.
    health = await health_of(api, holder["id"])
    assert health is not None and health["score"] > 0 and health == await health_of(api, twin["id"])

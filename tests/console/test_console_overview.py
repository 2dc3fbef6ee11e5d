"""Editing from the overview: a retention rule's period, basis and state, and a recipient's next
review date, through the API's own mutations (their refusals shown on the page, nothing changed)."""

from __future__ import annotations

RULES = "{ retentionRules { id periodMonths basis active } }"
RECIPIENTS = "{ provisionRecipients(first: 10) { nodes { id reviewDate } } }"
VENDOR = {"name": "株式会社データ分析", "kind": "PROCESSOR", "country": "JP", "purpose": "分析の委託"}


async def test_a_retention_rule_is_changed_from_the_overview(api, officer):
    created = await api.mutate(
        "createRetentionRule",
        {"entity": "contact", "action": "ANONYMISE", "periodMonths": 36, "basis": "社内規程"},
        "rule { id }",
        role="compliance",
    )
    rule = created["rule"]["id"]
    form = {"id": rule, "months": "60", "basis": "社内規程 第12条"}  # no `active`: unticked
    changed = await officer.post("/console/overview/retention-rule", form, csrf_from="/console/overview")
    assert changed.status_code == 303 and changed.headers["location"] == "/console/overview#retention"
    assert (await api.graphql(RULES, role="compliance"))["retentionRules"] == [
        {"id": rule, "periodMonths": 60, "basis": "社内規程 第12条", "active": False}
    ]
    not_a_number = {"id": rule, "months": "many", "basis": "x", "active": "1"}
    refused = await officer.post("/console/overview/retention-rule", not_a_number, csrf_from="/console/overview")
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    assert (await api.graphql(RULES, role="compliance"))["retentionRules"][0]["periodMonths"] == 60


async def test_a_recipients_review_date_is_set_from_the_overview(api, officer):
    registered = await api.mutate("registerRecipient", VENDOR, "recipient { id }", role="compliance")
    recipient = registered["recipient"]["id"]
    set_date = await officer.post(
        "/console/overview/recipient", {"id": recipient, "review": "2025-04-01"}, csrf_from="/console/overview"
    )
    assert set_date.status_code == 303 and set_date.headers["location"] == "/console/overview#processors"
    assert (await api.graphql(RECIPIENTS, role="compliance"))["provisionRecipients"]["nodes"] == [
        {"id": recipient, "reviewDate": "2025-04-01"}
    ]
    forged = await officer.post("/console/overview/recipient", {"id": recipient, "review": "2030-01-01"})
    assert forged.status_code == 403
    assert (await api.graphql(RECIPIENTS, role="compliance"))["provisionRecipients"]["nodes"][0]["reviewDate"] == "2025-04-01"

"""Every insights root field and field on a core type × every role: a field without a row here
fails the first test, so none ships without an authorization decision."""

import pytest

from enishi.auth import ROLES
from tests.helpers import root_fields_added_by

# InsightsSegment:00000000-…: no such segment, a NOT_FOUND user error for whoever may ask.
NO_SEGMENT = '"SW5zaWdodHNTZWdtZW50OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="'
NO_REPORT = '"U2NoZWR1bGVkUmVwb3J0OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="'  # ScheduledReport:0…
INSIGHTS_FIELDS = {
    "Query.rfmCustomers": ("insights.read", "{ rfmCustomers { totalCount } }"),
    "Query.rfmSegments": ("insights.read", "{ rfmSegments { segment } }"),
    "Query.customerKpis": ("insights.read", '{ customerKpis(firstDay: "2025-01-01", lastDay: "2025-01-31") { churnRate } }'),
    "Query.cohortRetention": (
        "insights.read",
        '{ cohortRetention(firstMonth: "2025-01-01", lastMonth: "2025-01-01") { size } }',
    ),
    "Query.surveys": ("insights.read", "{ surveys { name } }"),
    **{
        f"Query.{kind}Score": ("insights.read", f'{{ {kind}Score(from: "2025-01-01", to: "2025-01-31") {{ score }} }}')
        for kind in ("nps", "csat", "ces")
    },
    "Mutation.createSurvey": (
        "insights.survey",
        'mutation { createSurvey(input: {name: "権限", kind: NPS, questionJa: "?", questionEn: "?"}) { userErrors { code } } }',
    ),
    "Mutation.sendSurvey": (
        "insights.survey",
        'mutation { sendSurvey(input: {contactId: "x", surveyId: "y"}) { userErrors { code } } }',
    ),
    # The link's token is the credential: answering needs no sign-in.
    "Mutation.answerSurvey": ("public", 'mutation { answerSurvey(input: {token: "x", score: 9}) { userErrors { code } } }'),
    "Query.customersAtRisk": ("insights.read", "{ customersAtRisk { totalCount } }"),
    "Query.segment": ("insights.read", f"{{ segment(id: {NO_SEGMENT}) {{ name }} }}"),
    "Query.segments": ("insights.read", "{ segments { name } }"),
    "Query.segmentTerms": ("insights.read", "{ segmentTerms { key } }"),
    "Query.insightsSeries": (
        "insights.read",
        '{ insightsSeries(metric: REVENUE, firstDay: "2025-01-01", lastDay: "2025-01-31") { value } }',
    ),
    "Mutation.createSegment": (
        "insights.write",
        'mutation { createSegment(input: {name: "権限", filter: {}}) { userErrors { code } } }',
    ),
    "Mutation.evaluateSegment": (
        "insights.write",
        f"mutation {{ evaluateSegment(input: {{id: {NO_SEGMENT}}}) {{ userErrors {{ code }} }} }}",
    ),
    "Mutation.deleteSegment": (
        "insights.write",
        f"mutation {{ deleteSegment(input: {{id: {NO_SEGMENT}}}) {{ userErrors {{ code }} }} }}",
    ),
    "Query.scheduledReports": ("insights.report", "{ scheduledReports { name } }"),
    "Mutation.createScheduledReport": (
        "insights.report",
        'mutation { createScheduledReport(input: {name: "権限", frequency: WEEK}) { userErrors { code } } }',
    ),
    "Mutation.updateScheduledReport": (
        "insights.report",
        f"mutation {{ updateScheduledReport(input: {{id: {NO_REPORT}}}) {{ userErrors {{ code }} }} }}",
    ),
    "Mutation.deleteScheduledReport": (
        "insights.report",
        f"mutation {{ deleteScheduledReport(input: {{id: {NO_REPORT}}}) {{ userErrors {{ code }} }} }}",
    ),
}
TYPE_FIELDS = {
    "Contact.rfm": "query($id: ID!) { node(id: $id) { ... on Contact { rfm { score } } } }",
    "Account.rfm": "query($id: ID!) { node(id: $id) { ... on Account { rfm { score } } } }",
    "Contact.health": "query($id: ID!) { node(id: $id) { ... on Contact { health { score } } } }",
    "Account.health": "query($id: ID!) { node(id: $id) { ... on Account { health { score } } } }",
}


async def test_every_insights_root_field_has_an_authorization_decision(enishi_api):
    assert await root_fields_added_by(enishi_api, "insights") == set(INSIGHTS_FIELDS)


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_the_insights_fields_its_permissions_allow(api, role):
    granted = api.runtime.permissions.for_roles([role])
    account = (await api.mutate("createAccount", {"name": "権限確認"}, "account { id }"))["account"]["id"]
    contact = (await api.mutate("createContact", {"familyName": "権限"}, "contact { id }"))["contact"]["id"]
    granted |= {"public"}
    checks = [(field, (permission,), operation, None) for field, (permission, operation) in INSIGHTS_FIELDS.items()]
    for field, operation in TYPE_FIELDS.items():  # reached through real records (and `node` needs `crm.read`)
        checks.append((field, ("insights.read", "crm.read"), operation, {"id": contact if "Contact" in field else account}))
    for field, needed, operation, variables in checks:
        body = (await api.post(operation, variables, role=role)).json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if all(permission in granted for permission in needed):
            assert not codes, (field, role, body)
        else:
            assert codes == ["FORBIDDEN"], (field, role, body)

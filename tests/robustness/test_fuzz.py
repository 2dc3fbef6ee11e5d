"""Property-based fuzzing of the live schema over HTTP: whatever a client sends, the server answers
with data or clean, typed errors — never a 5xx, never an unmasked internal error.

Every root field is fuzzed on its own (a bounded, derandomized number of documents each, so a run
is reproducible and takes about a minute), with strategies for each custom scalar and for global
ids that name real records as well as made-up ones."""

import datetime as dt
import json

import graphql
import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import mutations, nodes, queries

from enishi.graphql.relay import to_global_id
from tests.helpers import create_account, create_contact

QUERIES = (
    "customFieldDefinitions",
    "node",
    "nodes",
    "viewer",
    "accounts",
    "contacts",
    "contactImport",
    "activities",
    "tasks",
    "contactDuplicates",
    "accountDuplicates",
    "activityTypes",
    "personalDataCatalog",
    "recordsOfProcessing",
    "users",
    "tickets",
    "ticket",
    "kbArticles",
    "supportMetrics",
    "consentHistory",
    "consentWithdrawalLink",
    "dataSubjectRequests",
    "legalHoldTypes",
    "legalHolds",
    "accessLog",
    "verifyAccessLog",
    "incidents",
    "complianceDeadlines",
    "retentionEntities",
    "retentionRules",
    "retentionPreview",
    "retentionRuns",
    "recordsOfProcessingReport",
    "appiPublicStatement",
    "privacyExtracts",
    "privacyExtractMappingKey",
    "provisionRecipients",
    "provisionRecords",
    "crossBorderConsents",
    "receiptRecords",
    "sensitiveFieldChanges",
    "privacyExtractSources",
    "sensitiveFields",
    "sensitiveCapableFields",
    "loyaltyPrograms",
    "pointsLedger",
    "membersWithExpiringPoints",
    "verifyLedger",
    "targetAccounts",
    "engagementConfig",
    "pipelines",
    "deals",
    "salesLostReasons",
    "dealBoard",
    "products",
    "quotes",
    "contracts",
    "salesForecast",
    "salesMetrics",
    "rfmCustomers",
    "rfmSegments",
    "customerKpis",
    "cohortRetention",
    "surveys",
    "npsScore",
    "csatScore",
    "cesScore",
    "customersAtRisk",
    "segment",
    "segments",
    "segmentTerms",
    "insightsSeries",
    "scheduledReports",
    "testClock",
    "webhooks",
    "webhookDeliveries",
    "webhookEventTypes",
    "workflows",
    "workflowRuns",
    "workflowDefinitionSchema",
    "frequencyCaps",
)
MUTATIONS = (
    "createCustomFieldDefinition",
    "updateCustomFieldDefinition",
    "deleteCustomFieldDefinition",
    "importContacts",
    "exportContacts",
    "exportAccounts",
    "exportActivities",
    "createAccount",
    "updateAccount",
    "deleteAccount",
    "restoreAccount",
    "destroyAccount",
    "createContact",
    "updateContact",
    "deleteContact",
    "restoreContact",
    "destroyContact",
    "logActivity",
    "updateActivity",
    "deleteActivity",
    "createTask",
    "updateTask",
    "deleteTask",
    "mergeContacts",
    "mergeAccounts",
    "createTicket",
    "replyToTicket",
    "addInternalNote",
    "updateTicket",
    "assignTicket",
    "mergeTickets",
    "applyMacro",
    "createSupportCalendar",
    "createSlaPolicy",
    "addEscalationRule",
    "createSupportGroup",
    "setSupportAgent",
    "createMacro",
    "submitCsat",
    "updateSupportSettings",
    "createKbCategory",
    "saveKbArticle",
    "recordConsent",
    "withdrawConsent",
    "submitDataSubjectRequest",
    "verifyDataSubjectRequest",
    "createDataSubjectRequest",
    "approveDataSubjectRequest",
    "denyDataSubjectRequest",
    "cancelDataSubjectRequest",
    "extendDataSubjectRequest",
    "executeDataSubjectRequest",
    "retryDataSubjectRequest",
    "completeDataSubjectRequest",
    "dataSubjectExportLink",
    "placeLegalHold",
    "releaseLegalHold",
    "liftRestriction",
    "createIncident",
    "recordIncidentReport",
    "updateIncidentStatus",
    "addIncidentSubjectsFromAccessLog",
    "notifyIncidentSubjects",
    "createRetentionRule",
    "updateRetentionRule",
    "deleteRetentionRule",
    "runRetentionSweep",
    "privacyReportLink",
    "createPrivacyExtract",
    "providePrivacyExtract",
    "registerRecipient",
    "updateRecipient",
    "recordProvision",
    "recordCrossBorderConsent",
    "recordReceipt",
    "deleteRecipient",
    "unmarkFieldSensitive",
    "markFieldSensitive",
    "createSegment",
    "evaluateSegment",
    "deleteSegment",
    "createScheduledReport",
    "updateScheduledReport",
    "deleteScheduledReport",
    "recordLegalGround",
    "createLoyaltyProgram",
    "upsertLoyaltyTier",
    "createEarningRule",
    "createLoyaltyReward",
    "setEarningRuleActive",
    "updateLoyaltyReward",
    "enrollMember",
    "earnPoints",
    "spendPoints",
    "adjustPoints",
    "recordPurchase",
    "refundPurchase",
    "redeemReward",
    "recordReferral",
    "setTargetAccount",
    "untargetAccount",
    "createDepartment",
    "assignBuyingRole",
    "upsertAccountPlan",
    "setEngagementConfig",
    "createCoverageTasks",
    "exportAudience",
    "createPipeline",
    "createDeal",
    "updateDeal",
    "moveDealStage",
    "markDealWon",
    "markDealLost",
    "setDealContactRole",
    "removeDealContactRole",
    "setAccountTeamMember",
    "removeAccountTeamMember",
    "createProduct",
    "createQuote",
    "reviseQuote",
    "sendQuote",
    "acceptQuote",
    "declineQuote",
    "createContract",
    "renewContract",
    "setSalesQuota",
    "createPurchase",
    "createPurchaseRefund",
    "createSurvey",
    "sendSurvey",
    "answerSurvey",
    "createTestClock",
    "advanceTestClock",
    "deleteTestClock",
    "createWebhook",
    "updateWebhook",
    "deleteWebhook",
    "rotateWebhookSecret",
    "sendWebhookTestEvent",
    "replayWebhookDelivery",
    "replayWebhookDeliveries",
    "createWorkflow",
    "updateWorkflow",
    "retryWorkflowRun",
    "cancelWorkflowRun",
    "dryRunWorkflow",
    "setFrequencyCap",
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
PER_OPERATION = settings(FUZZ, max_examples=10)

_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NAMES, inner, max_size=4),
    max_leaves=12,
)


def _literal(value) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (objects need name keys, hence `_NAMES`)."""
    if value is None:
        return graphql.NullValueNode()
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_literal(v) for v in value])
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_literal(v)) for k, v in value.items()])


_INSTANTS = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))
SCALARS = {
    "DateTime": st.one_of(
        _INSTANTS.map(lambda d: d.replace(tzinfo=dt.UTC).isoformat()), _INSTANTS.map(dt.datetime.isoformat), st.text(max_size=30)
    ).map(nodes.String),
    "Date": st.one_of(st.dates().map(str), st.text(max_size=12)).map(nodes.String),
    "JSON": st.one_of(st.text(max_size=20), st.just("{}")).map(nodes.String),
    # Money in minor units: small, huge (past 2^53, refused), negative.
    "MinorUnits": st.one_of(st.integers(-10, 10**7), st.integers(-(2**60), 2**60)).map(nodes.Int),
}
# The per-operation fuzz's own, harsher strategies (other tests reuse SCALARS to get documents
# that mostly execute): any JSON value, and texts longer than any column (PostgreSQL refuses what
# SQLite stores).
HARSH = {
    "JSON": _JSON_VALUES.map(_literal),
    "String": st.one_of(
        st.text(max_size=20), st.text(max_size=20), st.text(min_size=201, max_size=400), st.just("長" * 5_001)
    ).map(nodes.String),
}


def _ids(real: list[str]) -> st.SearchStrategy:
    """Ids of records that exist, well-formed ids of any type that name nothing, and garbage."""
    made_up = st.builds(
        lambda t, u: to_global_id(t, u),
        st.sampled_from(["Contact", "Account", "SupportTicket", "User", "Nope", ""]),
        st.uuids().map(str) | st.text(max_size=10),
    )
    return st.one_of(st.sampled_from(real), made_up, st.text(max_size=20)).map(nodes.String)


def _check(operation: str, document: str, response) -> str | None:
    """What is wrong with the answer, or None."""
    if response.status_code not in (200, 400, 413):
        return f"{operation}: HTTP {response.status_code}\n{document}"
    for error in response.json().get("errors", []):
        if error.get("extensions", {}).get("code") == "INTERNAL" or "Traceback" in json.dumps(error):
            return f"{operation}: {error}\n{document}"
    return None


async def _seed(api) -> list[str]:
    """A few records for the fuzzer's ids to hit."""
    account = await create_account(api, name="Acme")
    contact = await create_contact(
        api, familyName="山田", emails=[{"address": "taro@example.jp"}], accounts=[{"accountId": account["id"]}]
    )
    ticket = await api.mutate("createTicket", {"subject": "ログイン", "requesterId": contact["id"]}, "ticket { id }")
    program = await api.mutate("createLoyaltyProgram", {"name": "Points"}, "program { id }")
    return [
        account["id"],
        contact["id"],
        ticket["ticket"]["id"],
        program["program"]["id"] if program["program"] else account["id"],
        to_global_id("User", api.user_ids["admin"]),
    ]


async def _fuzz(api, kind, operations) -> list[str]:
    headers = {"Authorization": f"Bearer {await api.token('admin')}"}
    scalars = {**SCALARS, **HARSH, "ID": _ids(await _seed(api))}
    sdl = api.schema.as_str()
    problems = []
    for operation in operations:
        documents = []

        @PER_OPERATION
        @given(kind(sdl, fields=[operation], custom_scalars=scalars))
        def collect(document):
            documents.append(document)  # noqa: B023 - collect() runs within the iteration

        collect()
        for document in documents:
            problem = _check(operation, document, await api.client.post("/graphql", json={"query": document}, headers=headers))
            if problem:
                problems.append(problem)
    return problems


async def test_the_fuzzed_operations_are_every_root_field_of_the_schema(api):
    schema = graphql.build_schema(api.schema.as_str())
    assert set(QUERIES) == set(schema.query_type.fields)
    assert set(MUTATIONS) == set(schema.mutation_type.fields)
    assert schema.subscription_type is None


async def test_fuzz_every_query_from_the_live_schema(api):
    assert await _fuzz(api, queries, QUERIES) == []


async def test_fuzz_every_mutation_from_the_live_schema(api):
    assert await _fuzz(api, mutations, MUTATIONS) == []


HOSTILE = st.one_of(
    st.text(min_size=0, max_size=50),
    st.text(alphabet="'\";--/*%_\\\x00\u202e山田ﾔﾏﾀﾞ＠", min_size=1, max_size=30),
    st.just("x" * 100_000),
    st.just("' OR 1=1; DROP TABLE core_contact; --"),
)


async def test_hostile_values_in_variables_get_clean_errors_and_change_nothing(api):
    token = await api.token("admin")
    headers = {"Authorization": f"Bearer {token}"}
    samples = []

    @FUZZ
    @given(HOSTILE, HOSTILE)
    def collect(a, b):
        samples.append((a, b))

    collect()
    mutation = """mutation($a: String, $b: String!) { createContact(input: {familyName: $a, emails: [{address: $b}]}) {
        contact { id } userErrors { code } } }"""
    query = "query($a: String!, $b: ID!) { contacts(filter: {search: $a}) { totalCount } node(id: $b) { id } }"
    for a, b in samples:
        for document in (mutation, query):
            response = await api.client.post("/graphql", json={"query": document, "variables": {"a": a, "b": b}}, headers=headers)
            assert _check("hostile", document, response) is None
    # Only well-formed contacts were stored: every stored email is a valid address.
    emails = await api.graphql("{ contacts(first: 100) { nodes { emails { address } } } }")
    assert all("@" in e["address"] for n in emails["contacts"]["nodes"] for e in n["emails"])

"""Every sales root field × every role: a field without a row here fails the first test, so none
ships without an authorization decision (the plugin README's table says the same)."""

import pytest

from enishi.auth import ROLES
from enishi.plugin import to_global_id
from tests.helpers import root_fields_added_by

NONE = "00000000-0000-4000-8000-000000000000"
DEAL, QUOTE, CONTRACT = (to_global_id(t, NONE) for t in ("SalesDeal", "SalesQuote", "SalesContract"))
ACCOUNT, USER, PIPELINE, STAGE, CONTACT = (
    to_global_id(t, NONE) for t in ("Account", "User", "SalesPipeline", "SalesStage", "Contact")
)
ERRORS = "{ userErrors { code } }"

# root field → (permission needed, an operation calling it on records that do not exist)
SALES_FIELDS = {
    "Query.pipelines": ("sales.read", "{ pipelines { id } }"),
    "Query.deals": ("sales.read", "{ deals { totalCount } }"),
    "Query.salesLostReasons": ("sales.read", "{ salesLostReasons }"),
    "Query.dealBoard": ("sales.read", f'{{ dealBoard(pipelineId: "{PIPELINE}") {{ count }} }}'),
    "Query.products": ("sales.read", "{ products { id } }"),
    "Query.quotes": ("sales.read", "{ quotes { totalCount } }"),
    "Query.contracts": ("sales.read", "{ contracts { totalCount } }"),
    "Query.salesForecast": ("sales.read", '{ salesForecast(period: MONTH, from: "2025-01-01", to: "2025-03-31") { label } }'),
    "Query.salesMetrics": ("sales.read", '{ salesMetrics(from: "2025-01-01", to: "2025-03-31") { wonCount } }'),
    "Mutation.createPipeline": ("sales.configure", f'mutation {{ createPipeline(input: {{name: "", stages: []}}) {ERRORS} }}'),
    "Mutation.createDeal": (
        "sales.write",
        f'mutation {{ createDeal(input: {{name: "x", accountId: "{ACCOUNT}", pipelineId: "{PIPELINE}", amount: 1}}) {ERRORS} }}',
    ),
    "Mutation.updateDeal": ("sales.write", f'mutation {{ updateDeal(input: {{id: "{DEAL}"}}) {ERRORS} }}'),
    "Mutation.moveDealStage": (
        "sales.write",
        f'mutation {{ moveDealStage(input: {{id: "{DEAL}", stageId: "{STAGE}"}}) {ERRORS} }}',
    ),
    "Mutation.markDealWon": (
        "sales.write",
        f'mutation {{ markDealWon(input: {{id: "{DEAL}", closeDate: "2025-01-01"}}) {ERRORS} }}',
    ),
    "Mutation.markDealLost": (
        "sales.write",
        f'mutation {{ markDealLost(input: {{id: "{DEAL}", closeDate: "2025-01-01", reason: "price"}}) {ERRORS} }}',
    ),
    "Mutation.setDealContactRole": (
        "sales.write",
        f'mutation {{ setDealContactRole(input: {{dealId: "{DEAL}", contactId: "{CONTACT}"}}) {ERRORS} }}',
    ),
    "Mutation.removeDealContactRole": (
        "sales.write",
        f'mutation {{ removeDealContactRole(input: {{dealId: "{DEAL}", contactId: "{CONTACT}"}}) {ERRORS} }}',
    ),
    "Mutation.setAccountTeamMember": (
        "sales.team_manage",
        f'mutation {{ setAccountTeamMember(input: {{accountId: "{ACCOUNT}", userId: "{USER}"}}) {ERRORS} }}',
    ),
    "Mutation.removeAccountTeamMember": (
        "sales.team_manage",
        f'mutation {{ removeAccountTeamMember(input: {{accountId: "{ACCOUNT}", userId: "{USER}"}}) {ERRORS} }}',
    ),
    "Mutation.createProduct": (
        "sales.configure",
        f'mutation {{ createProduct(input: {{code: "", name: "", unitPrice: 1}}) {ERRORS} }}',
    ),
    "Mutation.createQuote": (
        "sales.write",
        f'mutation {{ createQuote(input: {{title: "x", accountId: "{ACCOUNT}", lines: []}}) {ERRORS} }}',
    ),
    "Mutation.reviseQuote": ("sales.write", f'mutation {{ reviseQuote(input: {{id: "{QUOTE}"}}) {ERRORS} }}'),
    "Mutation.sendQuote": ("sales.write", f'mutation {{ sendQuote(input: {{id: "{QUOTE}"}}) {ERRORS} }}'),
    "Mutation.acceptQuote": ("sales.write", f'mutation {{ acceptQuote(input: {{id: "{QUOTE}"}}) {ERRORS} }}'),
    "Mutation.declineQuote": ("sales.write", f'mutation {{ declineQuote(input: {{id: "{QUOTE}"}}) {ERRORS} }}'),
    "Mutation.createContract": (
        "sales.write",
        f'mutation {{ createContract(input: {{name: "x", accountId: "{ACCOUNT}"}}) {ERRORS} }}',
    ),
    "Mutation.renewContract": ("sales.write", f'mutation {{ renewContract(input: {{id: "{CONTRACT}"}}) {ERRORS} }}'),
    "Mutation.setSalesQuota": (
        "sales.configure",
        "mutation { setSalesQuota(input: "
        f'{{ownerId: "{USER}", period: MONTH, periodStart: "2025-01-01", amount: 1}}) {ERRORS} }}',
    ),
}
# Fields on core types: who reads them.
TYPE_FIELDS = {
    "Account.deals": ("sales.read", f'{{ node(id: "{ACCOUNT}") {{ ... on Account {{ deals {{ totalCount }} }} }} }}'),
    "Account.contracts": ("sales.read", f'{{ node(id: "{ACCOUNT}") {{ ... on Account {{ contracts {{ id }} }} }} }}'),
    "Account.team": ("sales.team_read", f'{{ node(id: "{ACCOUNT}") {{ ... on Account {{ team {{ role }} }} }} }}'),
    "Contact.deals": ("sales.read", f'{{ node(id: "{CONTACT}") {{ ... on Contact {{ deals {{ totalCount }} }} }} }}'),
}


async def test_every_sales_root_field_has_an_authorization_decision(enishi_api):
    assert await root_fields_added_by(enishi_api, "sales") == set(SALES_FIELDS)


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_the_sales_fields_its_permissions_allow(api, role):
    granted = api.runtime.permissions.for_roles([role])
    checks = [(field, (permission,), operation) for field, (permission, operation) in SALES_FIELDS.items()]
    # Fields on core types are reached through real records (and `node` needs `crm.read`).
    account = (await api.mutate("createAccount", {"name": "権限確認"}, "account { id }"))["account"]["id"]
    contact = (await api.mutate("createContact", {"familyName": "権限"}, "contact { id }"))["contact"]["id"]
    for field, (permission, operation) in TYPE_FIELDS.items():
        checks.append((field, (permission, "crm.read"), operation.replace(ACCOUNT, account).replace(CONTACT, contact)))
    for field, needed, operation in checks:
        body = (await api.post(operation, role=role)).json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if all(permission in granted for permission in needed):
            assert not codes, (field, role, body)
        else:
            assert codes == ["FORBIDDEN"], (field, role, body)

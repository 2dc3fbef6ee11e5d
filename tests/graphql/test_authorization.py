"""Every root field × every role. A root field without a row in FIELD_PERMISSIONS fails the
first test, so no field ships without an authorization decision."""

import pytest

from enishi.auth import ROLES

NO_ID = "Q29udGFjdDowMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDA="  # a Contact id that does not exist
NO_PURCHASE = "UHVyY2hhc2U6MDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAw"
NO_IMPORT_ID = "Q29udGFjdEltcG9ydDowMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDA="  # a ContactImport's likewise
NO_ACCOUNT = "QWNjb3VudDowMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDA="

# root field → (permission needed, an operation calling it)
FIELD_PERMISSIONS = {
    "Query.node": ("crm.read", f'{{ node(id: "{NO_ID}") {{ id }} }}'),
    "Query.nodes": ("crm.read", f'{{ nodes(ids: ["{NO_ID}"]) {{ id }} }}'),
    "Query.viewer": (None, "{ viewer { id } }"),
    "Query.accounts": ("crm.read", "{ accounts { totalCount } }"),
    "Query.contacts": ("crm.read", "{ contacts { totalCount } }"),
    "Query.contactImport": (
        "crm.import",
        '{ contactImport(id: "Q29udGFjdEltcG9ydDowMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDA=") { id } }',
    ),
    "Query.activities": ("crm.read", "{ activities { totalCount } }"),
    "Query.tasks": ("crm.read", "{ tasks { totalCount } }"),
    "Query.contactDuplicates": ("crm.read", "{ contactDuplicates { reason } }"),
    "Query.accountDuplicates": ("crm.read", "{ accountDuplicates { reason } }"),
    "Query.activityTypes": ("crm.read", "{ activityTypes { key } }"),
    "Query.users": ("user.read", "{ users { id } }"),
    "Query.personalDataCatalog": ("personal_data.read", "{ personalDataCatalog { entity field } }"),
    "Query.recordsOfProcessing": ("personal_data.read", "{ recordsOfProcessing { purpose } }"),
    "Mutation.createAccount": ("crm.write", 'mutation { createAccount(input: {name: ""}) { userErrors { code } } }'),
    "Mutation.updateAccount": (
        "crm.write",
        f'mutation {{ updateAccount(input: {{id: "{NO_ACCOUNT}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.deleteAccount": (
        "crm.delete",
        f'mutation {{ deleteAccount(input: {{id: "{NO_ACCOUNT}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.restoreAccount": (
        "crm.delete",
        f'mutation {{ restoreAccount(input: {{id: "{NO_ACCOUNT}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.destroyAccount": (
        "crm.destroy",
        f'mutation {{ destroyAccount(input: {{id: "{NO_ACCOUNT}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.createContact": ("crm.write", "mutation { createContact(input: {}) { userErrors { code } } }"),
    "Mutation.updateContact": (
        "crm.write",
        f'mutation {{ updateContact(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.deleteContact": (
        "crm.delete",
        f'mutation {{ deleteContact(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.restoreContact": (
        "crm.delete",
        f'mutation {{ restoreContact(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.destroyContact": (
        "crm.destroy",
        f'mutation {{ destroyContact(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.logActivity": (
        "activity.write",
        'mutation { logActivity(input: {type: "call", summary: ""}) { userErrors { code } } }',
    ),
    "Mutation.updateActivity": (
        "activity.write",
        f'mutation {{ updateActivity(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.deleteActivity": (
        "activity.write",
        f'mutation {{ deleteActivity(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.createTask": ("task.write", 'mutation { createTask(input: {title: ""}) { userErrors { code } } }'),
    "Mutation.updateTask": ("task.write", f'mutation {{ updateTask(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}'),
    "Mutation.deleteTask": ("task.write", f'mutation {{ deleteTask(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}'),
    "Mutation.mergeContacts": (
        "crm.merge",
        f'mutation {{ mergeContacts(input: {{survivorId: "{NO_ID}", mergedIds: []}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.importContacts": ("crm.import", 'mutation { importContacts(input: {file: "!"}) { userErrors { code } } }'),
    "Mutation.exportContacts": ("crm.export", "mutation { exportContacts(input: {}) { userErrors { code } } }"),
    "Mutation.exportAccounts": ("crm.export", "mutation { exportAccounts(input: {}) { userErrors { code } } }"),
    "Mutation.exportActivities": ("crm.export", "mutation { exportActivities(input: {}) { userErrors { code } } }"),
    "Mutation.mergeAccounts": (
        "crm.merge",
        f'mutation {{ mergeAccounts(input: {{survivorId: "{NO_ACCOUNT}", mergedIds: []}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.createPurchase": ("purchase.write", "mutation { createPurchase(input: {}) { userErrors { code } } }"),
    "Mutation.createPurchaseRefund": (
        "purchase.write",
        f'mutation {{ createPurchaseRefund(input: {{purchaseId: "{NO_PURCHASE}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Query.testClock": ("crm.read", "{ testClock { id } }"),
    "Query.customFieldDefinitions": ("crm.read", "{ customFieldDefinitions { key } }"),
    "Mutation.createCustomFieldDefinition": (
        "crm.configure",
        'mutation { createCustomFieldDefinition(input: {entity: CONTACT, key: "", type: TEXT, labelJa: ""}) '
        "{ userErrors { code } } }",
    ),
    "Mutation.updateCustomFieldDefinition": (
        "crm.configure",
        f'mutation {{ updateCustomFieldDefinition(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.deleteCustomFieldDefinition": (
        "crm.configure",
        f'mutation {{ deleteCustomFieldDefinition(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.createTestClock": (
        "testclock.manage",
        'mutation { createTestClock(input: {frozenTime: "2030-01-01T00:00:00+00:00"}) { userErrors { code } } }',
    ),
    "Mutation.advanceTestClock": (
        "testclock.manage",
        f'mutation {{ advanceTestClock(input: {{id: "{NO_ID}", to: "2030-01-01T00:00:00+00:00"}}) {{ userErrors {{ code }} }} }}',
    ),
    "Mutation.deleteTestClock": (
        "testclock.manage",
        f'mutation {{ deleteTestClock(input: {{id: "{NO_ID}"}}) {{ userErrors {{ code }} }} }}',
    ),
}


async def test_every_root_field_has_an_authorization_decision(enishi_api):
    api = await enishi_api(enabled_plugins=frozenset())  # the core's own fields
    schema = api.schema
    fields = {f"{root}.{name}" for root in ("Query", "Mutation") for name in schema._schema.get_type(root).fields}
    assert fields == set(FIELD_PERMISSIONS)


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_the_fields_its_permissions_allow(api, role):
    granted = api.runtime.permissions.for_roles([role])
    for field, (permission, operation) in FIELD_PERMISSIONS.items():
        body = (await api.post(operation, role=role)).json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if permission is None or permission in granted:
            assert "FORBIDDEN" not in codes, (field, role, body)
            assert not codes, (field, role, body)
        else:
            assert codes == ["FORBIDDEN"], (field, role, body)


async def test_sales_cannot_read_compliance_only_personal_data(api):
    created = await api.mutate(
        "createContact", {"familyName": "山田", "emails": [{"address": "taro@abc.co.jp"}]}, "contact { id }"
    )
    query = "query($id: ID!) { node(id: $id) { ... on Contact { familyName personalData } } }"
    for role in ("sales", "marketing", "support", "manager"):
        body = (await api.post(query, {"id": created["contact"]["id"]}, role=role)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "taro@abc.co.jp" not in str(body)
    data = await api.graphql(query, {"id": created["contact"]["id"]}, role="compliance")
    assert data["node"]["personalData"]["core"]["emails"] == [{"address": "taro@abc.co.jp", "label": None, "primary": True}]


async def test_mutations_denied_by_role_change_nothing(api):
    payload = await api.post('mutation { createAccount(input: {name: "Acme"}) { account { id } } }', role="support")
    assert payload.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.graphql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 0

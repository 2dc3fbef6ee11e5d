"""Every root field of the whole composed schema (core and every bundled plugin) × every role.

The operations are generated from the live schema: required arguments get placeholder values of
their type (ids of records that do not exist), so a field added by anyone is called here without
anyone writing a query for it. A field without a permission decision in one of the tables fails
the first test; a field that forgets to check its permission fails the second. Scoped tokens go
through the same matrix: a field answers exactly when its permission is both the role's and granted
by one of the token's scopes (the registry's scope table, which `docs/api.md` shows)."""

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
)
from graphql.pyutils import Undefined

from enishi.auth import PUBLIC, ROLES
from tests.graphql.test_authorization import FIELD_PERMISSIONS
from tests.plugins.abm.test_abm import ABM_FIELDS
from tests.plugins.automation.test_webhooks import AUTOMATION_FIELDS
from tests.plugins.insights.test_authorization import INSIGHTS_FIELDS
from tests.plugins.loyalty.test_rewards_and_people import LOYALTY_FIELDS
from tests.plugins.privacy.helpers import PRIVACY_FIELDS
from tests.plugins.sales.test_authorization import SALES_FIELDS
from tests.plugins.support.test_tickets import SUPPORT_FIELDS

# (role, scopes): the integration role narrowed each way, and roles holding what it lacks.
SCOPED = [
    ("integration", ("tickets:read", "contacts:read")),
    ("integration", ("tickets:write", "loyalty:read", "consent:write")),
    ("integration", ("tickets:internal", "contacts:write", "activities:write")),
    ("integration", ("webhooks:manage",)),
    ("manager", ("loyalty:write", "abm:configure")),
    ("admin", ("privacy:requests", "users:read", "contacts:delete")),
]
DECISIONS = {
    **{field: permission for field, (permission, _) in FIELD_PERMISSIONS.items()},
    **ABM_FIELDS,
    **AUTOMATION_FIELDS,
    **{field: permission for field, (permission, _) in INSIGHTS_FIELDS.items()},
    **LOYALTY_FIELDS,
    **PRIVACY_FIELDS,
    **{field: permission for field, (permission, _) in SALES_FIELDS.items()},
    **SUPPORT_FIELDS,
}
NO_SUCH_ID = '"Q29udGFjdDowMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDA="'  # a Contact that does not exist
SCALARS = {
    "ID": NO_SUCH_ID,
    "String": '"x"',
    "Int": "1",
    "Float": "1.5",
    "Boolean": "false",
    "DateTime": '"2024-06-01T00:00:00+00:00"',
    "Date": '"2024-06-01"',
    "JSON": "{}",
    "Decimal": '"1"',
    "MinorUnits": "1",
}


def _literal(type_) -> str:
    """A placeholder value of an input type, filling only what is required."""
    if isinstance(type_, GraphQLNonNull):
        return _literal(type_.of_type)
    if isinstance(type_, GraphQLList):
        return f"[{_literal(type_.of_type)}]"
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        required = [f"{name}: {_literal(f.type)}" for name, f in type_.fields.items() if _required(f)]
        return "{" + ", ".join(required) + "}"
    return SCALARS[type_.name]


def _required(argument) -> bool:
    return isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined


def _selection(type_) -> str:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return " { __typename }" if isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)) else ""


def operations(schema) -> dict[str, str]:
    result = {}
    for root, keyword in (("Query", "query"), ("Mutation", "mutation")):
        for name, field in schema.get_type(root).fields.items():
            arguments = [f"{arg}: {_literal(a.type)}" for arg, a in field.args.items() if _required(a)]
            call = f"{name}({', '.join(arguments)})" if arguments else name
            result[f"{root}.{name}"] = f"{keyword} {{ {call}{_selection(field.type)} }}"
    return result


async def test_every_root_field_of_the_composed_schema_has_a_permission_decision(api):
    assert set(operations(api.schema._schema)) == set(DECISIONS)


async def _refused_exactly_what_is_not_granted(api, granted: frozenset[str], token: str) -> None:
    for field, operation in operations(api.schema._schema).items():
        response = await api.post(operation, token=token)
        assert response.status_code == 200, (field, response.text)
        body = response.json()
        codes = [error.get("extensions", {}).get("code") for error in body.get("errors", [])]
        assert "INTERNAL_ERROR" not in codes, (field, body)
        permission = DECISIONS[field]
        if permission is None or permission in granted:
            assert "FORBIDDEN" not in codes, (field, body)
        else:
            assert codes == ["FORBIDDEN"], (field, operation, body)


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_is_refused_exactly_the_root_fields_it_lacks_permission_for(api, role):
    await _refused_exactly_what_is_not_granted(api, api.runtime.permissions.for_roles([role]), await api.token(role))


@pytest.mark.parametrize(("role", "scopes"), SCOPED, ids=["+".join((role, *scopes)) for role, scopes in SCOPED])
async def test_a_scoped_token_is_refused_exactly_the_root_fields_its_role_or_its_scopes_lack(api, role, scopes):
    registry = api.runtime.permissions
    by_scopes = frozenset({PUBLIC}).union(*(registry.scopes[scope] for scope in scopes))  # public needs no scope
    granted = registry.for_roles([role]) & by_scopes
    assert granted and granted != registry.for_roles([role])  # each set narrows the role without emptying it
    await _refused_exactly_what_is_not_granted(api, granted, await api.scoped_token(role, scopes))


async def test_without_a_token_only_the_public_root_fields_answer(api):
    for field, operation in operations(api.schema._schema).items():
        response = await api.client.post("/graphql", json={"query": operation})
        if DECISIONS[field] == PUBLIC:
            body = response.json()
            assert response.status_code == 200 and "FORBIDDEN" not in str(body), (field, body)
        else:
            assert response.status_code == 401, (field, response.text)
    mixed = (
        'mutation { submitDataSubjectRequest(input: {type: "access", email: "a@b.jp"}) { message } '
        "recordConsent(input: {}) { __typename } }"
    )
    assert (
        await api.client.post("/graphql", json={"query": mixed})
    ).status_code == 401  # one protected field: no token, no answer
    smuggled = 'mutation { ...F } fragment F on Mutation { createContact(input: {familyName: "x"}) { contact { id } } }'
    assert (await api.client.post("/graphql", json={"query": smuggled})).status_code == 401

"""Abusive queries are rejected before any SQL runs (over HTTP, the token lookup included);
internal errors never leak."""
import logging

import strawberry
from sqlalchemy import event

from enishi import hookimpl


def _count_sql(api):
    statements = []
    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


async def test_deep_queries_are_rejected(api):
    nested = "{ accounts { edges { node { " + "parent { " * 20 + "id" + " }" * 20 + " } } } }"
    await api.token()
    statements = _count_sql(api)
    errors = await api.errors(nested)
    assert "exceeds maximum operation depth" in errors[0]["message"] and errors[0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert statements == []


async def test_hundreds_of_aliases_are_rejected(api):
    query = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(500)) + " }"
    await api.token()
    statements = _count_sql(api)
    errors = await api.errors(query)
    assert "aliases" in errors[0]["message"].lower() and errors[0]["extensions"]["code"] == "TOO_MANY_ALIASES"
    through_fragments = "query { ...F } fragment F on Query { " + " ".join(f"a{i}: viewer {{ id }}" for i in range(60)) + " }"
    assert (await api.errors(through_fragments))[0]["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert statements == []


async def test_huge_pages_are_rejected_by_cost_even_through_variables(api):
    await api.token()
    statements = _count_sql(api)
    errors = await api.errors("{ contacts(first: 1000000) { edges { node { id } } } }")
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    nested = """query($n: Int) { accounts(first: $n) { edges { node { contacts(first: $n) { edges { node {
        timeline(first: $n) { edges { node { id } } } } } } } } } }"""
    errors = await api.errors(nested, {"n": 100})
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert statements == []


class ExplodingPlugin:
    """A plugin whose field fails with personal data in the exception message."""

    @hookimpl
    def enishi_graphql_type_fields(self):
        def secret(root) -> str:
            raise RuntimeError("taro@abc.co.jp 山田太郎 could not be processed")

        return [("Contact", strawberry.field(resolver=secret, name="explode"))]


async def test_internal_errors_are_masked_and_logged_without_personal_data(enishi_api, caplog):
    api = await enishi_api(plugins=[("exploding", ExplodingPlugin())])
    await api.mutate("createContact", {"familyName": "山田", "emails": [{"address": "taro@abc.co.jp"}]}, "contact { id }")
    caplog.set_level(logging.DEBUG)
    response = await api.post("{ contacts { edges { node { familyName explode } } } }")
    body = response.json()
    assert response.status_code == 200
    assert body["errors"][0]["message"] == "Internal server error."
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL"}
    assert "taro@abc.co.jp" not in response.text and "山田太郎" not in response.text
    assert "RuntimeError" in caplog.text
    assert "taro@abc.co.jp" not in caplog.text and "山田太郎" not in caplog.text

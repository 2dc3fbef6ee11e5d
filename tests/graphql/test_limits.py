"""Abusive queries are rejected before any SQL runs (over HTTP, the token lookup included);
internal errors never leak."""

import logging

import strawberry
from graphql import parse
from sqlalchemy import event

from enishi import hookimpl
from enishi.graphql.limits import QueryLimits


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


def _doubling_fragments(levels: int) -> str:
    """Each fragment spreads the next one twice: `levels` lines of text, 2^levels fields once
    expanded (under 1 kB at 20 levels)."""
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ viewer {{ id }} }}"


async def test_doubling_fragments_are_refused_401_without_a_token_and_by_cost_with_one(api):
    query = _doubling_fragments(20)
    assert len(query.encode()) < 1024
    anonymous = await api.client.post("/graphql", json={"query": query})
    assert anonymous.status_code == 401 and anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await api.token()
    statements = _count_sql(api)
    for levels in (20, 60):  # 2^60 expansions would never finish: the analysis reads each fragment once
        errors = await api.errors(_doubling_fragments(levels))
        assert errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert errors[0]["extensions"]["cost"] == 2 ** (levels + 1)  # viewer and id, 2^levels times
    assert statements == []


def test_the_analysis_looks_at_each_selection_of_the_document_once():
    limits = QueryLimits(max_depth=12, max_aliases=50, max_cost=50_000, default_page_size=20)
    for levels in (20, 40, 60):
        analysis = limits.analyse(parse(_doubling_fragments(levels)))
        # `...F0`, two spreads per level, `viewer` and `id`: linear in the text, not 2^levels.
        assert analysis.visits == 1 + 2 * levels + 2
        assert analysis.cost(None) == 2 ** (levels + 1) and analysis.shape.depth == 2
    cycle = limits.analyse(parse("query { ...A } fragment A on Query { ...B } fragment B on Query { ...A viewer { id } }"))
    assert cycle.visits == 5 and cycle.shape.depth == 2  # cut where it closes; validation refuses it


async def test_introspection_is_bounded_by_its_own_limits(api):
    """Introspection is exempt from the data depth limit (tests/graphql/test_introspection.py), not
    from every bound: listing members again below a member's type multiplies the answer by the
    size of the schema at each level."""
    await api.token()
    statements = _count_sql(api)
    again = '{ __type(name: "Contact") { fields { type { fields { type { fields { name } } } } } } }'
    assert (await api.errors(again))[0]["extensions"]["code"] == "INTROSPECTION_TOO_NESTED"
    through_fragment = "{ __schema { types { ...Members } } } fragment Members on __Type { interfaces { fields { name } } }"
    assert (await api.errors(through_fragment))[0]["extensions"]["code"] == "INTROSPECTION_TOO_NESTED"
    deep = "{ __schema { queryType { " + "ofType { " * 20 + "name" + " }" * 20 + " } } }"
    assert (await api.errors(deep))[0]["extensions"] == {"code": "QUERY_TOO_DEEP", "maxDepth": 20}
    aliased = "{ " + " ".join(f"s{i}: __schema {{ queryType {{ name }} }}" for i in range(60)) + " }"
    assert (await api.errors(aliased))[0]["extensions"]["code"] == "TOO_MANY_ALIASES"
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

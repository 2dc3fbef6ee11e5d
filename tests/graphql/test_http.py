"""GraphQL over HTTP: methods, media types, status codes, authentication, body limits."""

import json

QUERY = "{ viewer { displayName roles } }"


async def _auth(api):
    return {"Authorization": f"Bearer {await api.token('admin')}"}


async def test_post_json_answers_with_data(api):
    response = await api.client.post("/graphql", json={"query": QUERY}, headers=await _auth(api))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"viewer": {"displayName": "test admin", "roles": ["admin"]}}}


async def test_get_runs_queries_with_json_variables(api):
    params = {"query": "query($n: Int) { contacts(first: $n) { totalCount } }", "variables": json.dumps({"n": 1})}
    response = await api.client.get("/graphql", params=params, headers=await _auth(api))
    assert response.status_code == 200 and response.json()["data"] == {"contacts": {"totalCount": 0}}


async def test_get_refuses_mutations(api):
    params = {"query": 'mutation { createAccount(input: {name: "x"}) { account { id } } }'}
    response = await api.client.get("/graphql", params=params, headers=await _auth(api))
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert (await api.graphql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 0


async def test_graphql_response_media_type_and_4xx_without_data_for_invalid_documents(api):
    headers = {**await _auth(api), "Accept": "application/graphql-response+json"}
    ok = await api.client.post("/graphql", json={"query": QUERY}, headers=headers)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/graphql-response+json")
    # GraphQL over HTTP: 400 for a document that does not parse, 422 for one that does not
    # validate; an error raised before execution leaves no `data` entry (GraphQL, "Response").
    syntax = await api.client.post("/graphql", json={"query": "{ viewer {"}, headers=headers)
    assert syntax.status_code == 400 and "data" not in syntax.json() and syntax.json()["errors"]
    invalid = await api.client.post("/graphql", json={"query": "{ noSuchField }"}, headers=headers)
    assert invalid.status_code == 422 and "data" not in invalid.json()
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    too_deep = "{ accounts { edges { node { " + "parent { " * 20 + "id" + " }" * 20 + " } } } }"
    refused = await api.client.post("/graphql", json={"query": too_deep}, headers=headers)
    assert refused.status_code == 422 and "data" not in refused.json()
    legacy = await api.client.post("/graphql", json={"query": "{ viewer {"}, headers=await _auth(api))
    assert legacy.status_code == 200 and "data" not in legacy.json() and legacy.json()["errors"]  # application/json keeps 200


async def test_request_errors_have_their_status_codes(api):
    auth = await _auth(api)
    assert (
        await api.client.post("/graphql", content="query=x", headers={**auth, "Content-Type": "text/plain"})
    ).status_code == 415
    assert (
        await api.client.post("/graphql", content=b"{not json", headers={**auth, "Content-Type": "application/json"})
    ).status_code == 400
    assert (
        await api.client.post("/graphql", content=b'"\xff\xfe"', headers={**auth, "Content-Type": "application/json"})
    ).status_code == 400
    assert (await api.client.post("/graphql", json=[1, 2], headers=auth)).status_code == 400
    assert (await api.client.post("/graphql", json={"query": 5}, headers=auth)).status_code == 400
    assert (await api.client.post("/graphql", json={"query": QUERY, "variables": [1]}, headers=auth)).status_code == 400
    assert (await api.client.post("/graphql", json={"query": QUERY}, headers={**auth, "Accept": "text/xml"})).status_code == 406
    two_operations = {"query": "query A { viewer { id } } query B { viewer { id } }"}
    ambiguous = await api.client.post(
        "/graphql", json=two_operations, headers={**auth, "Accept": "application/graphql-response+json"}
    )
    assert ambiguous.status_code == 422 and "data" not in ambiguous.json()
    for hostile in (rb"a\u0000b", rb"\ud800"):  # JSON escapes of NUL and of a lone surrogate
        body = b'{"query": "{ viewer { id } }", "variables": {"v": "' + hostile + b'"}}'
        refused = await api.client.post("/graphql", content=body, headers={**auth, "Content-Type": "application/json"})
        assert refused.status_code == 400, hostile
    huge = {"query": QUERY, "variables": {"pad": "x" * 2_000_000}}
    response = await api.client.post("/graphql", json=huge, headers=auth)
    assert response.status_code == 413 and response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_extensions_must_be_an_object_or_absent(api):
    auth = await _auth(api)
    for extensions in ("x", 1, [1], True):
        refused = await api.client.post("/graphql", json={"query": QUERY, "extensions": extensions}, headers=auth)
        assert refused.status_code == 400 and refused.json()["errors"][0]["message"] == "`extensions` must be an object"
        refused = await api.client.get("/graphql", params={"query": QUERY, "extensions": json.dumps(extensions)}, headers=auth)
        assert refused.status_code == 400
    for extensions in (None, {}, {"persistedQuery": {"version": 1}}):
        accepted = await api.client.post("/graphql", json={"query": QUERY, "extensions": extensions}, headers=auth)
        assert accepted.status_code == 200 and accepted.json()["data"]["viewer"]["roles"] == ["admin"]
    # GET: an empty optional parameter is the same as none.
    accepted = await api.client.get("/graphql", params={"query": QUERY, "variables": "", "extensions": ""}, headers=auth)
    assert accepted.status_code == 200 and accepted.json()["data"]["viewer"]["roles"] == ["admin"]


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


async def test_deeply_nested_json_is_refused_with_the_nesting_limit(api):
    auth = {**await _auth(api), "Content-Type": "application/json"}
    query = json.dumps(QUERY)
    for body in (_nested(1000), _nested(101), f'{{"query": {query}, "variables": {{"v": {_nested(99)}}}}}'):
        refused = await api.client.post("/graphql", content=body, headers=auth)
        assert refused.status_code == 400, body[:40]
        assert refused.json()["errors"][0] == {
            "message": "the body nests arrays and objects more than 100 levels deep",
            "extensions": {"code": "JSON_TOO_DEEP"},
        }
    refused = await api.client.get("/graphql", params={"query": QUERY, "variables": '{"v": ' + _nested(1000) + "}"}, headers=auth)
    assert refused.status_code == 400 and refused.json()["errors"][0]["extensions"]["code"] == "JSON_TOO_DEEP"
    # 100 levels (the body, `variables` and 98 lists) pass; brackets inside strings are text.
    for variables in (_nested(98), json.dumps({"s": "[" * 5000 + '\\"{'})):
        body = f'{{"query": {query}, "variables": {{"v": {variables}}}}}'
        accepted = await api.client.post("/graphql", content=body, headers=auth)
        assert accepted.status_code == 200 and accepted.json()["data"]["viewer"]["roles"] == ["admin"], accepted.text[:200]


async def test_ten_megabyte_bodies_are_refused_on_every_route_and_change_nothing(api):
    auth = {"Authorization": f"Bearer {await api.token()}"}
    name = "x" * 10_000_000
    create = {"query": "mutation($n: String!) { createAccount(input: {name: $n}) { account { id } } }", "variables": {"n": name}}
    encoded = json.dumps(create).encode()

    async def streamed():  # no Content-Length: the limit counts as the body arrives
        for i in range(0, len(encoded), 65536):
            yield encoded[i : i + 65536]

    for response in (
        await api.client.post("/graphql", json=create, headers=auth),
        await api.client.post("/graphql", content=streamed(), headers={**auth, "Content-Type": "application/json"}),
        await api.client.post("/privacy/requests", json={"type": "access", "email": name}),
        await api.client.post("/support/csat/token", json={"rating": 5, "comment": name}),
    ):
        assert response.status_code == 413 and response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert (await api.graphql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 0


async def test_every_request_needs_a_valid_token_except_health(api):
    missing = await api.client.post("/graphql", json={"query": QUERY})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = await api.client.post("/graphql", json={"query": QUERY}, headers={"Authorization": "Bearer enishi_wrong"})
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    health = await api.client.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_graphiql_is_served_in_development_only(enishi_api):
    development = await enishi_api(environment="development")
    page = await development.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    production = await enishi_api(environment="production")
    page = await production.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 406 and "graphiql" not in page.text.lower()


async def test_request_logs_are_structured_and_hold_no_personal_data(api, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="enishi")
    await api.mutate(
        "createContact",
        {"familyName": "山田", "emails": [{"address": "taro@abc.co.jp"}], "phones": [{"number": "03-1234-5678"}]},
        "contact { id }",
    )
    await api.client.post(
        "/graphql",
        json={"query": 'query Find { contacts(filter: {search: "山田"}) { totalCount } }', "operationName": "Find"},
        headers=await _auth(api),
    )
    records = [r for r in caplog.records if r.name == "enishi.access"]
    assert [(r.operation, r.status) for r in records] == [("_anonymous", 200), ("Find", 200)]
    assert "山田" not in caplog.text and "taro@abc.co.jp" not in caplog.text and "1234" not in caplog.text

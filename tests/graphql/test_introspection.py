"""The standard introspection queries of the usual tools read the live schema of a real server in
production mode (which keeps introspection on): the depth limit is for data, not for them."""

import asyncio
import json
from pathlib import Path

import httpx
from gql import Client
from gql.transport.httpx import HTTPXAsyncTransport
from graphql import build_client_schema, get_introspection_query

from tests.core.test_cli import enishi

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="
# The exact body graphql-codegen 7.4.3 (@graphql-tools/url-loader 9.1.14, graphql-js 16.15.0,
# i.e. `getIntrospectionQuery()` with its defaults, descriptions on) POSTs for `schema: <url>`,
# captured from the wire once, with the Accept header it sent.
CODEGEN = json.loads(Path(__file__).with_name("fixtures").joinpath("graphql_codegen_introspection.json").read_text())
CODEGEN_ACCEPT = "application/graphql-response+json, application/json, multipart/mixed"


def test_graphql_core_codegen_and_gql_introspect_a_live_server(enishi_fresh_migrated, enishi_server, tmp_path):
    env = {
        "ENISHI_DATABASE_URL": enishi_fresh_migrated,
        "ENISHI_ENVIRONMENT": "production",
        "ENISHI_KEK": KEK,
        "ENISHI_PUBLIC_URL": "https://crm.example.test",
        "ENISHI_MAIL_URL": tmp_path.as_uri(),
    }
    token = enishi("token", "create", "--role", "sales", env=env).stdout.split()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    graphql_core = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )

    async def introspect(url):
        answers = {}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            for name, body, accept in (
                ("graphql-core", {"query": graphql_core}, "application/json"),
                ("graphql-codegen", CODEGEN, CODEGEN_ACCEPT),
            ):
                response = await client.post("/graphql", json=body, headers={"Accept": accept})
                assert response.status_code == 200 and "errors" not in response.json(), (name, response.text[:500])
                answers[name] = response.json()["data"]
        transport = HTTPXAsyncTransport(url=url + "/graphql", headers=headers, timeout=60)
        async with Client(transport=transport, fetch_schema_from_transport=True) as session:
            answers["gql"] = session.client.introspection
        return answers

    with enishi_server(env) as url:
        answers = asyncio.run(introspect(url))
    for name, answer in answers.items():
        schema = build_client_schema(answer)
        assert {"Contact", "Account", "DataSubjectRequest"} <= set(schema.type_map), name
        assert "createContact" in schema.mutation_type.fields, name

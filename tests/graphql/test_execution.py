"""The breadth-first executor answers as graphql-core's depth-first one does, over HTTP on the demo
data: the same data, nulls and field order byte for byte, and errors graphql-core reports too, with
their paths. (Where errors null a position, which of them arrive before it is nulled depends on the
order fields finish in; the spec leaves it open, so ours may be fewer, never none when graphql-core
has some.) Two apps share the database and one token; only `ENISHI_BREADTH_FIRST_EXECUTION` differs."""

import datetime as dt
import json

import hypothesis.strategies as st
from hypothesis import given
from hypothesis_graphql import nodes, queries

from enishi.demo import load_demo
from tests.robustness.test_fuzz import FUZZ, SCALARS

CHOSEN = [
    # The benchmark's page: relations on every node, nested connections, plugin fields.
    """query Page { contacts(first: 20, orderBy: [{field: CREATED_AT, direction: DESC}]) { totalCount edges { cursor node {
        id familyName givenName familyNameKana primaryEmail displayName
        primaryAccount { id name abm { tier } parent { name } }
        owner { id displayName }
        timeline(first: 3) { totalCount edges { node { id type summary occurredAt actor { displayName } contacts { id } } } }
        loyalty { balance }
        tickets(first: 3) { totalCount edges { node { number status } } }
    } } pageInfo { hasNextPage endCursor } } }""",
    # Synchronous and asynchronous fields interleaved, aliases, the same field twice with other arguments.
    """query Order { contacts(first: 5) { nodes { t: timeline(first: 1) { totalCount } id familyName owner { id }
        displayName last: timeline(last: 2) { edges { node { id } } } __typename emails { address } } } }""",
    # Fragments on an interface, @skip / @include, nodes by id.
    """query Fragments($yes: Boolean = true, $no: Boolean = false) { accounts(first: 5) { nodes { ...named id @skip(if: $no)
        contacts(first: 2) @include(if: $yes) { nodes { ... on Node { id } ...person } } } } }
       fragment named on Account { name nameKana }
       fragment person on Contact { familyName accounts { isPrimary account { name } } }""",
]


async def _two_apps(enishi_api):
    breadth_first = await enishi_api()
    depth_first = await enishi_api(breadth_first_execution=False)
    await load_demo(breadth_first.runtime, scale=40)
    return breadth_first, depth_first


async def _same_answer(apps, query: str, variables: dict | None = None, role: str = "admin") -> dict:
    breadth_first, depth_first = apps
    headers = {"Authorization": f"Bearer {await breadth_first.token(role)}"}
    body = {"query": query, "variables": variables or {}}
    ours = await breadth_first.client.post("/graphql", json=body, headers=headers)
    reference = await depth_first.client.post("/graphql", json=body, headers=headers)
    body, expected = ours.json(), reference.json()
    assert ours.status_code == reference.status_code, query
    assert json.dumps(body.get("data"), ensure_ascii=False) == json.dumps(expected.get("data"), ensure_ascii=False), (
        query,
        body,
        expected,
    )
    errors, expected_errors = (set(map(json.dumps, answer.get("errors", []))) for answer in (body, expected))
    assert errors <= expected_errors and bool(errors) == bool(expected_errors), (query, body, expected)
    return body


async def test_chosen_queries_get_graphql_cores_answers(enishi_api):
    apps = await _two_apps(enishi_api)
    for query in CHOSEN:
        body = await _same_answer(apps, query)
        page = next(iter(body["data"].values()))
        assert "errors" not in body and (page.get("edges") or page.get("nodes")), body
    # A node by its global id, read from a page first.
    first_id = (await apps[0].graphql("{ contacts(first: 1) { nodes { id } } }"))["contacts"]["nodes"][0]["id"]
    body = await _same_answer(
        apps,
        "query One($id: ID!) { node(id: $id) { __typename id ... on Contact { familyName } } "
        'nodes(ids: [$id, "Q29udGFjdDowMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDA="]) { id } }',
        {"id": first_id},
    )
    assert body["data"]["node"]["__typename"] == "Contact" and body["data"]["nodes"] == [{"id": first_id}, None]


async def test_errors_inside_lists_keep_graphql_cores_paths_and_nulls(enishi_api):
    """Fields refused on the nodes of a page: the breadth-first run stands down, and graphql-core's
    answer (partial data, errors with list indices, nulls propagated as far as the spec says) is
    what the client gets."""
    apps = await _two_apps(enishi_api)
    body = await _same_answer(
        apps, "query Committees { accounts(first: 10) { nodes { name abm { buyingCommittee { role } } } } }", role="support"
    )
    nodes = body["data"]["accounts"]["nodes"]
    assert all(node["name"] and node["abm"] is None for node in nodes)
    refused = [error["path"] for error in body["errors"] if error["extensions"]["code"] == "FORBIDDEN"]
    assert len(refused) == len(body["errors"]) > 1 and all(
        path[:2] == ["accounts", "nodes"] and path[3:] == ["abm", "buyingCommittee"] for path in refused
    )
    # `personalData` is non-null: the first refusal nulls the page up to `data`, and only it is reported.
    body = await _same_answer(apps, "query Refused { contacts(first: 4) { edges { node { id personalData } } } }", role="sales")
    assert body["data"] is None and [error["path"] for error in body["errors"]] == [
        ["contacts", "edges", 0, "node", "personalData"]
    ]


async def test_queries_generated_from_the_live_schema_get_graphql_cores_answers(enishi_api):
    apps = await _two_apps(enishi_api)
    ids = await apps[0].graphql("{ contacts(first: 10) { nodes { id } } accounts(first: 10) { nodes { id } } viewer { id } }")
    real_ids = [node["id"] for page in ("contacts", "accounts") for node in ids[page]["nodes"]] + [ids["viewer"]["id"]]
    scalars = {
        **SCALARS,
        "ID": st.sampled_from(real_ids).map(nodes.String),  # random ids would stop most queries at validation
        "DateTime": st.datetimes(
            min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
        ).map(lambda d: nodes.String(d.isoformat())),
    }
    documents = []

    @FUZZ
    @given(queries(apps[0].schema.as_str(), custom_scalars=scalars))
    def collect(document):
        documents.append(document)

    collect()
    answered, compared = 0, documents[:80]
    for document in compared:
        answered += bool((await _same_answer(apps, document)).get("data"))
    # About half are executed and answered; the rest are refused (a limit, a permission) or null a
    # non-null root. Which documents come depends on the SDL and on `collect`'s source (hypothesis
    # derives its derandomised seed from it): 41 of 80 before `api.schema`, 39 after.
    assert answered > len(compared) // 3


def test_the_executor_uses_only_public_names_of_graphql_core_and_asyncio():
    """A private name of a library may change in any release; graphql-core's executor changed shape
    between 3.2 and 3.3. No name imported may start with `_`, and graphql-core's must be in their
    module's `__all__`; the only underscore attributes used are the module's own."""
    import ast
    import importlib
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "graphql" / "execution.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    own = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    own |= {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self"
    }
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            exported = (
                getattr(importlib.import_module(node.module), "__all__", None) if node.module.startswith("graphql") else None
            )
            private += [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if alias.name.startswith("_") or (exported is not None and alias.name not in exported)
            ]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr not in own:
            private.append(f"line {node.lineno}: .{node.attr}")
    assert private == []


async def test_loaders_futures_are_awaited_without_a_task_and_answer_as_coroutines_do():
    """Resolvers that return a loader's future, bare or shaped with `then`, are waited on by the
    breadth-first executor without a Task each; one future shared by several fields of a level,
    a failing load and a failing shape answer as graphql-core answers them (errors at the field)."""
    import asyncio

    import strawberry
    from strawberry.dataloader import DataLoader

    from enishi.graphql.execution import BreadthFirstExecutor
    from enishi.plugin import then

    async def load_people(keys: list[int]) -> list:
        return [ValueError(f"no person {key}") if key < 0 else f"person {key}" for key in keys]

    @strawberry.type
    class Item:
        key: int

        @strawberry.field(graphql_type=str)
        def bare(self, info: strawberry.Info):
            return info.context["people"].load(self.key)

        @strawberry.field(graphql_type=str)
        def shaped(self, info: strawberry.Info):
            return then(info.context["people"].load(self.key), str.upper)

        @strawberry.field(graphql_type=int | None)
        def broken_shape(self, info: strawberry.Info):
            return then(info.context["people"].load(self.key), int)

        @strawberry.field
        async def awaited(self, info: strawberry.Info) -> str:
            return (await info.context["people"].load(self.key)).title()

    @strawberry.type
    class Query:
        @strawberry.field
        def items(self) -> list[Item | None]:
            return [Item(key=key) for key in (1, 1, 2, -3)]

    query = "{ items { key bare shaped awaited again: shaped brokenShape } }"
    tasks: list[str] = []

    def counting(loop, coroutine, **kwargs):
        tasks.append(coroutine.__qualname__)
        return asyncio.Task(coroutine, loop=loop, **kwargs)

    asyncio.get_running_loop().set_task_factory(counting)
    try:
        ours = await strawberry.Schema(Query, execution_context_class=BreadthFirstExecutor).execute(
            query, context_value={"people": DataLoader(load_people)}
        )
    finally:
        asyncio.get_running_loop().set_task_factory(None)
    reference = await strawberry.Schema(Query).execute(query, context_value={"people": DataLoader(load_people)})
    assert ours.data == reference.data
    assert ours.data == {
        "items": [
            {"key": 1, "bare": "person 1", "shaped": "PERSON 1", "awaited": "Person 1", "again": "PERSON 1", "brokenShape": None},
            {"key": 1, "bare": "person 1", "shaped": "PERSON 1", "awaited": "Person 1", "again": "PERSON 1", "brokenShape": None},
            {"key": 2, "bare": "person 2", "shaped": "PERSON 2", "awaited": "Person 2", "again": "PERSON 2", "brokenShape": None},
            None,
        ]
    }
    errors = {(error.message, tuple(error.path or ())) for error in ours.errors or []}
    assert errors <= {(error.message, tuple(error.path or ())) for error in reference.errors or []}
    assert ("invalid literal for int() with base 10: 'person 2'", ("items", 2, "brokenShape")) in errors
    assert ("no person -3", ("items", 3, "bare")) in errors
    # Tasks: one per `async def` field of an item (`awaited`), and the loader's batch; none for the others.
    assert len(tasks) == 4 + 1 and tasks.count("dispatch_batch") == 1, tasks

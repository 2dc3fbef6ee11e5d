"""Composing the one GraphQL schema from the core's fields and every enabled plugin's.

Nothing global is mutated: each call builds a fresh schema, so tests can build several with
different plugin sets side by side."""
from __future__ import annotations

import logging
import warnings
from collections import defaultdict

import strawberry
from strawberry import relay
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.tools import merge_types

from enishi.plugin_host import PluginError
from .errors import present_error
from .limits import QueryCostLimiter, QueryShapeLimiter, RequireOperationName, ValidationCacheAfterLimits
from .mutations import CoreMutation
from .queries import CoreQuery

log = logging.getLogger("enishi.graphql")


class EnishiSchema(strawberry.Schema):
    """A strawberry schema whose types can gain fields contributed by plugins (`Contact.loyalty`),
    through `get_fields`, strawberry's documented extension point."""

    def __init__(self, *args, type_fields: dict[str, list] | None = None, **kwargs) -> None:
        self._type_fields = type_fields or {}
        super().__init__(*args, **kwargs)

    def get_fields(self, type_definition):
        return type_definition.fields + self._type_fields.get(type_definition.name, [])

    def process_errors(self, errors, execution_context=None) -> None:
        """strawberry would log each error with its traceback and message; ours are logged, without
        values, by `present_error`."""


def _node_query():
    """A fresh `node`/`nodes` pair per schema: sharing one between schemas breaks the second."""

    @strawberry.type
    class NodeQuery:
        node: relay.Node | None = relay.node(description="Fetch any object by its global id.")
        nodes: list[relay.Node | None] = relay.node(description="Fetch several objects by global id, in order.")

    return NodeQuery


def _merge(name: str, parts: list[type]) -> type:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return merge_types(name, tuple(parts))
        except UserWarning as exc:
            raise PluginError(f"two contributions define the same {name} field: {exc}") from exc


def build_schema(runtime) -> EnishiSchema:
    plugins, settings = runtime.plugins, runtime.settings
    query = _merge("Query", [_node_query(), CoreQuery, *(t for _, t in plugins.contributions("enishi_graphql_query"))])
    mutation = _merge("Mutation", [CoreMutation, *(t for _, t in plugins.contributions("enishi_graphql_mutation"))])
    type_fields: dict[str, list] = defaultdict(list)
    for _, (type_name, field) in plugins.contributions("enishi_graphql_type_fields"):
        type_fields[type_name].append(field)
    # Factories, not instances: strawberry builds a fresh extension per request (the parser and
    # validation caches live at module level, so they are still shared).
    extensions = [
        lambda: QueryShapeLimiter(max_depth=settings.max_query_depth, max_aliases=settings.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        RequireOperationName,
        lambda: QueryCostLimiter(max_cost=settings.max_query_cost, default_page_size=settings.default_page_size),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCacheAfterLimits(maxsize=256),
    ]
    return EnishiSchema(query=query, mutation=mutation, types=[t for _, t in plugins.contributions("enishi_graphql_types")],
                        extensions=extensions, type_fields=dict(type_fields))


def present_result(result) -> dict:
    """The JSON body of an execution result, errors presented safely."""
    body: dict = {}
    if result.errors:
        body["errors"] = [present_error(e).formatted for e in result.errors]
    body["data"] = result.data
    if result.extensions:
        body["extensions"] = result.extensions
    return body

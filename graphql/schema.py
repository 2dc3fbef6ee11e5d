"""Composing the one GraphQL schema from what the core and every enabled plugin contribute
through the same hooks (`enishi_graphql_query`, `enishi_graphql_mutation`, `enishi_graphql_types`,
`enishi_graphql_type_fields`; the core is the plugin named `core`), plus Relay's `node`/`nodes`.

Nothing global is mutated: each call builds a fresh schema, so tests can build several with
different plugin sets side by side."""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict

import strawberry
from graphql import GraphQLObjectType
from strawberry import relay
from strawberry.extensions import MaxTokensLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.tools import merge_types
from strawberry.types import Info
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.utils.str_converters import to_camel_case

from enishi.plugin_host import PluginError

from .batch import BATCH, BatchResolver
from .errors import present_error
from .execution import BreadthFirstExecutor
from .limits import (
    DocumentCache,
    QueryCostLimiter,
    QueryLimits,
    QueryShapeLimiter,
    RequireOperationName,
    ValidationCacheAfterLimits,
)
from .relay import to_global_id
from .scalars import SCALAR_MAP

log = logging.getLogger("enishi.graphql")

# `strawberry.mutation(metadata=PUBLIC, ...)`: a root field a request without a token may call
# (its resolver requires the `public` permission, which that request holds, and nothing more).
PUBLIC = {"enishi.public": True}


def public_root_fields(schema: strawberry.Schema) -> frozenset[str]:
    """Names of the Query and Mutation fields marked PUBLIC."""
    names = set()
    for root in (schema._schema.query_type, schema._schema.mutation_type):
        for name, graphql_field in root.fields.items() if root else ():
            field = graphql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if field is not None and (field.metadata or {}).get("enishi.public"):
                names.add(name)
    return frozenset(names)


class EnishiSchema(strawberry.Schema):
    """A strawberry schema whose types can gain fields contributed by plugins (`Contact.loyalty`),
    through `get_fields`, strawberry's documented extension point."""

    def __init__(self, *args, type_fields: dict[str, list] | None = None, **kwargs) -> None:
        self._type_fields = type_fields or {}
        super().__init__(*args, **kwargs)
        _call_plain_resolvers_directly(self)
        _install_batch_resolvers(self)

    def get_fields(self, type_definition):
        return type_definition.fields + self._type_fields.get(type_definition.name, [])

    def process_errors(self, errors, execution_context=None) -> None:
        """strawberry would log each error with its traceback and message; ours are logged, without
        values, by `present_error`."""


def _call_plain_resolvers_directly(schema: strawberry.Schema) -> None:
    """strawberry runs every resolver through its argument conversion and extension chain, and an
    async one inside a second coroutine. A resolver whose arguments are plain scalars (graphql-core
    has already coerced them) and that has no field extensions or permission classes needs none of
    that: graphql-core calls it directly (bench/README.md has what it bought)."""
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        node_class = _plain_node_class(graphql_type)
        if node_class is not None:
            graphql_type.fields["id"].resolve = _global_id(graphql_type.name, node_class.resolve_id_attr())
        for name, graphql_field in graphql_type.fields.items():
            if node_class is not None and name == "id":
                continue
            field = graphql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            resolver = getattr(field, "base_resolver", None)
            if (
                resolver is None
                or field.extensions
                or field.permission_classes
                or resolver.parent_parameter
                or not (resolver.self_parameter or resolver.root_parameter)
                or not all(_plain_scalar(argument.type) for argument in field.arguments)
            ):
                continue
            names = {
                argument.graphql_name or to_camel_case(argument.python_name): argument.python_name for argument in field.arguments
            }
            graphql_field.resolve = _direct(resolver, field, names)


def _install_batch_resolvers(schema: strawberry.Schema) -> None:
    """Give each batch field (`batch_field`, graphql/batch.py) the `BatchResolver` the breadth-first
    executor calls. Its arguments must be scalars or lists of them: graphql-core hands those over
    as the function takes them, with no conversion per level."""
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for name, graphql_field in graphql_type.fields.items():
            field = graphql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            load_many = (getattr(field, "metadata", None) or {}).get(BATCH)
            if load_many is None:
                continue
            if not all(_plain_scalar(argument.type) for argument in field.arguments):
                raise PluginError(f"batch field {graphql_type.name}.{name}: arguments must be scalars or lists of scalars")
            graphql_field.extensions[BATCH] = BatchResolver(field, load_many)


def _plain_scalar(annotation) -> bool:
    """A scalar, or a list of scalars, that graphql-core hands over as the resolver takes it."""
    while isinstance(annotation, (StrawberryOptional, StrawberryList)):
        annotation = annotation.of_type
    return annotation in (int, str, bool, float, strawberry.ID)


def _plain_node_class(graphql_type: GraphQLObjectType) -> type[relay.Node] | None:
    """The class of a Node type that keeps strawberry's own id resolution (the id attribute, the
    type's name), whose `id` is then a plain encoding; None for any other type."""
    definition = graphql_type.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    if not (isinstance(origin, type) and issubclass(origin, relay.Node) and "id" in graphql_type.fields):
        return None
    if any(
        getattr(origin, name).__func__ is not getattr(relay.Node, name).__func__ for name in ("resolve_id", "resolve_typename")
    ):
        return None
    return origin


def _global_id(type_name: str, id_attr: str):
    """`Node.id` as strawberry answers it (base64 of "Type:id"), without its checks, the
    GlobalID object it builds and serialises, and the Info it wraps for each node of a page."""

    def resolve(source, info):
        return to_global_id(type_name, getattr(source, id_attr))

    return resolve


def _direct(resolver, field, names: dict[str, str]):
    function = resolver.wrapped_func
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    root_name = resolver.root_parameter.name if resolver.root_parameter else None

    def resolve(source, info, **arguments):
        kwargs = {names[name]: value for name, value in arguments.items()} if arguments else {}
        if info_name:
            kwargs[info_name] = Info(_raw_info=info, _field=field)
        if root_name:
            kwargs[root_name] = source
            return function(**kwargs)
        return function(source, **kwargs)

    return resolve


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
    query = _merge("Query", [_node_query(), *(t for _, t in plugins.contributions("enishi_graphql_query"))])
    mutation = _merge("Mutation", [t for _, t in plugins.contributions("enishi_graphql_mutation")])
    type_fields: dict[str, list] = defaultdict(list)
    for _, (type_name, field) in plugins.contributions("enishi_graphql_type_fields"):
        type_fields[type_name].append(field)
    limits = QueryLimits.from_settings(settings)
    # Factories, not instances: strawberry builds a fresh extension per request (the parser and
    # validation caches live at module level, so they are still shared).
    extensions = [
        lambda: QueryShapeLimiter(limits),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        RequireOperationName,
        lambda: QueryCostLimiter(limits),
        DocumentCache,
        lambda: ValidationCacheAfterLimits(maxsize=256),
    ]
    return EnishiSchema(
        query=query,
        mutation=mutation,
        types=[t for _, t in plugins.contributions("enishi_graphql_types")],
        extensions=extensions,
        type_fields=dict(type_fields),
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=BreadthFirstExecutor if settings.breadth_first_execution else None,
    )


def present_result(result) -> dict:
    """The JSON body of an execution result, errors presented safely."""
    body: dict = {}
    if result.errors:
        body["errors"] = [present_error(e).formatted for e in result.errors]
    body["data"] = result.data
    if result.extensions:
        body["extensions"] = result.extensions
    return body

"""Limits that reject abusive queries before any SQL runs: tokens (strawberry's own extension, in
the parser), shape (depth and aliases, before validation) and cost (the objects a query may
return given the page sizes it asks for, variables included); and the size-bounded caches of
parsed and validated documents those checks and execution share."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    VariableNode,
    parse,
)
from graphql.execution import ExecutionResult
from strawberry.extensions import SchemaExtension, ValidationCache

PAGE_ARGUMENTS = ("first", "last")


class RequireOperationName(SchemaExtension):
    """A document with several operations must name the one to run (GraphQL spec, "GetOperation");
    strawberry would silently run the first."""

    def on_execute(self):
        context = self.execution_context
        document = context.graphql_document
        # `operation_name` falls back to the first operation's name; only the caller's own counts.
        # (A private attribute: the HTTP test for ambiguous documents guards it across upgrades.)
        if document is not None and context.result is None and context._provided_operation_name is None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                context.result = ExecutionResult(data=None, errors=[GraphQLError(
                    "the document has several operations: name one in `operationName`",
                    extensions={"code": "OPERATION_NAME_REQUIRED"})])
        yield


@dataclass(frozen=True)
class QueryLimits:
    """The shape and cost a query may have. Both checks read only the parsed document (and the
    variables), never the schema or the database: the HTTP view applies them before it even looks
    up the caller's token, and the extensions below apply them to in-process execution."""

    max_depth: int
    max_aliases: int
    max_cost: int
    default_page_size: int

    @classmethod
    def from_settings(cls, settings) -> "QueryLimits":
        return cls(settings.max_query_depth, settings.max_aliases, settings.max_query_cost, settings.default_page_size)

    def refusal(self, document, operation_name: str | None, variables: dict | None) -> GraphQLError | None:
        return self.shape_refusal(document) or self.cost_refusal(document, operation_name, variables)

    def shape_refusal(self, document) -> GraphQLError | None:
        fragments = _fragments(document)
        aliases, depth = 0, 0
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                shape = _shape(definition.selection_set, fragments, frozenset())
                aliases, depth = aliases + shape[0], max(depth, shape[1])
        if depth > self.max_depth:
            return GraphQLError(f"the query is {depth} levels deep, which exceeds maximum operation depth of {self.max_depth}",
                                extensions={"code": "QUERY_TOO_DEEP", "maxDepth": self.max_depth})
        if aliases > self.max_aliases:
            return GraphQLError(f"{aliases} aliases exceed the limit of {self.max_aliases}",
                                extensions={"code": "TOO_MANY_ALIASES", "maxAliases": self.max_aliases})
        return None

    def cost_refusal(self, document, operation_name: str | None, variables: dict | None) -> GraphQLError | None:
        """Cost counts the objects a query may return given the page sizes it asks for."""
        fragments = _fragments(document)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)]
        cost = sum(self._selection_cost(op.selection_set, 1, fragments, variables or {}, frozenset()) for op in chosen[:1])
        if cost > self.max_cost:
            return GraphQLError(f"query cost {cost} exceeds the limit of {self.max_cost}; ask for smaller pages",
                                extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": self.max_cost})
        return None

    def _selection_cost(self, selection_set, multiplier: int, fragments, variables, seen: frozenset) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += multiplier
                total += self._selection_cost(selection.selection_set, multiplier * self._fan_out(selection, variables),
                                              fragments, variables, seen)
            elif isinstance(selection, InlineFragmentNode):
                total += self._selection_cost(selection.selection_set, multiplier, fragments, variables, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen or name not in fragments:
                    continue  # cycles and unknown fragments are validation errors already
                total += self._selection_cost(fragments[name].selection_set, multiplier, fragments, variables, seen | {name})
        return total

    def _fan_out(self, field: FieldNode, variables: dict) -> int:
        """How many children one of this field may have: its page size or its id list's length."""
        for argument in field.arguments or ():
            name = argument.name.value
            value = argument.value
            if isinstance(value, VariableNode):
                value = variables.get(value.name.value)
            elif isinstance(value, IntValueNode):
                value = int(value.value)
            elif isinstance(value, ListValueNode):
                value = list(value.values)
            if name in PAGE_ARGUMENTS and isinstance(value, int):
                return max(value, 1)
            if name == "ids" and isinstance(value, list):
                return max(len(value), 1)
        if field.selection_set is not None and any(a.name.value in PAGE_ARGUMENTS for a in field.arguments or ()):
            return self.default_page_size
        return 1


class QueryShapeLimiter(SchemaExtension):
    """Depth and alias limits checked on the parsed document *before* validation: validating 500
    aliases of one field costs graphql-core's overlap check a quadratic ~200 ms, which is exactly
    the work an abusive query should not get. (strawberry's limiters are validation rules, so
    they run alongside it.) Must come before `ValidationCacheAfterLimits` among the extensions."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits

    def on_validate(self):
        context = self.execution_context
        if context.graphql_document is not None and context.pre_execution_errors is None:
            refusal = self.limits.shape_refusal(context.graphql_document)
            if refusal is not None:
                context.pre_execution_errors = [refusal]
        yield


class QueryCostLimiter(SchemaExtension):
    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits

    def on_execute(self):
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            refusal = self.limits.cost_refusal(context.graphql_document, context.operation_name, context.variables)
            if refusal is not None:
                context.result = ExecutionResult(data=None, errors=[refusal])
        yield


_STRINGS = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"')
_NAME_COLON_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*\s*:\s*[_A-Za-z]")
# How far the text scan may over-count (it also sees enum arguments and variable types) before it
# refuses without parsing: only documents far beyond the alias limit are turned away this early.
COARSE_SLACK = 4


def too_many_aliases_to_parse(query: str, max_aliases: int) -> bool:
    """A text scan, ~0.1 ms where parsing 500 aliases costs ~20 ms: an upper bound of the aliases
    (`name: name` outside strings) far above the limit refuses the document unparsed."""
    return len(_NAME_COLON_NAME.findall(_STRINGS.sub('""', query))) > COARSE_SLACK * max_aliases


# Parsed and validated documents are cached only up to this size: 256 cached bodies of a megabyte
# each (within the token limit, a long string literal will do) would be a cheap way to pin 256 MB.
CACHED_QUERY_CHARS = 20_000


def parse_document(query: str, max_tokens: int | None) -> DocumentNode | None:
    """The parsed document, or None when it does not parse. Shared by the HTTP view (which checks
    limits before authenticating) and execution (`DocumentCache`), so a query is parsed once."""
    if len(query) <= CACHED_QUERY_CHARS:
        return _parse_cached(query, max_tokens)
    return _parse_or_none(query, max_tokens)


def _parse_or_none(query: str, max_tokens: int | None) -> DocumentNode | None:
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLError:
        return None


_parse_cached = functools.lru_cache(maxsize=256)(_parse_or_none)


class DocumentCache(SchemaExtension):
    """strawberry's ParserCache on `parse_document`: the HTTP view's cache, size-bounded. A document
    that does not parse is left to strawberry, which reports the syntax error."""

    def on_parse(self):
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = parse_document(context.query, context.parse_options.get("max_tokens"))
        yield


class ValidationCacheAfterLimits(ValidationCache):
    """strawberry's validation cache, except that it leaves a query the shape limiter already
    refused alone (the stock one validates it anyway and overwrites the refusal), and validates a
    long document without keeping it."""

    def on_validate(self):
        context = self.execution_context
        if context.pre_execution_errors is None and len(context.query or "") <= CACHED_QUERY_CHARS:
            yield from super().on_validate()
        else:
            yield


def _fragments(document) -> dict:
    return {d.name.value: d for d in document.definitions if getattr(d, "kind", "") == "fragment_definition"}


def _shape(selection_set, fragments: dict, seen: frozenset) -> tuple[int, int]:
    """(aliases, depth) of a selection set, fragments followed once per path."""
    if selection_set is None:
        return 0, 0
    aliases, depth = 0, 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = _shape(selection.selection_set, fragments, seen)
            aliases += inner[0] + (selection.alias is not None)
            depth = max(depth, inner[1] + 1)
        else:
            name = selection.name.value if isinstance(selection, FragmentSpreadNode) else None
            if name is not None and (name in seen or name not in fragments):
                continue  # cycles and unknown fragments are validation errors
            target = fragments[name].selection_set if name is not None else selection.selection_set
            inner = _shape(target, fragments, seen | {name} if name else seen)
            aliases, depth = aliases + inner[0], max(depth, inner[1])
    return aliases, depth

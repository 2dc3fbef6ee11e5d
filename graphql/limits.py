"""Limits that reject abusive queries before any SQL runs: tokens (strawberry's own extension, in
the parser), shape (depth and aliases, before validation) and cost (the objects a query may
return given the page sizes it asks for, variables included); and the size-bounded caches of
parsed and validated documents those checks and execution share."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
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
                context.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            "the document has several operations: name one in `operationName`",
                            extensions={"code": "OPERATION_NAME_REQUIRED"},
                        )
                    ],
                )
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
    def from_settings(cls, settings) -> QueryLimits:
        return cls(settings.max_query_depth, settings.max_aliases, settings.max_query_cost, settings.default_page_size)

    def analyse(self, document: DocumentNode, variables: dict | None = None) -> DocumentAnalysis:
        return DocumentAnalysis(document, variables or {}, self.default_page_size)

    def refusal(self, document, operation_name: str | None, variables: dict | None) -> GraphQLError | None:
        analysis = self.analyse(document, variables)
        return self._shape_refusal(analysis) or self._cost_refusal(analysis, operation_name)

    def shape_refusal(self, document) -> GraphQLError | None:
        return self._shape_refusal(self.analyse(document))

    def cost_refusal(self, document, operation_name: str | None, variables: dict | None) -> GraphQLError | None:
        return self._cost_refusal(self.analyse(document, variables), operation_name)

    def _shape_refusal(self, analysis: DocumentAnalysis) -> GraphQLError | None:
        shape = analysis.shape
        if shape.depth > self.max_depth:
            return GraphQLError(
                f"the query is {shape.depth} levels deep, which exceeds maximum operation depth of {self.max_depth}",
                extensions={"code": "QUERY_TOO_DEEP", "maxDepth": self.max_depth},
            )
        if shape.introspection_depth > MAX_INTROSPECTION_DEPTH:
            return GraphQLError(
                f"the introspection is {shape.introspection_depth} levels deep, which exceeds "
                f"maximum introspection depth of {MAX_INTROSPECTION_DEPTH}",
                extensions={"code": "QUERY_TOO_DEEP", "maxDepth": MAX_INTROSPECTION_DEPTH},
            )
        if shape.member_lists > 1:
            return GraphQLError(
                "introspection may list a type's "
                + ", ".join(sorted(MEMBER_LISTS))
                + " only once on a path, not again for the types these lead to",
                extensions={"code": "INTROSPECTION_TOO_NESTED"},
            )
        if shape.aliases > self.max_aliases:
            return GraphQLError(
                f"{shape.aliases} aliases exceed the limit of {self.max_aliases}",
                extensions={"code": "TOO_MANY_ALIASES", "maxAliases": self.max_aliases},
            )
        return None

    def _cost_refusal(self, analysis: DocumentAnalysis, operation_name: str | None) -> GraphQLError | None:
        """Cost counts the objects a query may return given the page sizes it asks for."""
        cost = analysis.cost(operation_name)
        if cost > self.max_cost:
            return GraphQLError(
                f"query cost {cost} exceeds the limit of {self.max_cost}; ask for smaller pages",
                extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": self.max_cost},
            )
        return None


# Introspection is not data: `__schema` and `__type` subtrees count neither towards the depth limit
# nor as deeper data levels, so that the standard introspection queries (graphql-core's and
# graphql-js's reach 15 levels, nine of them `ofType`) pass. They are bounded on their own: a
# fixed depth, the alias limit, and a type's member lists at most once on a path. Listing members
# again below a member's type (`fields { type { fields { type { fields … } } } } }`) multiplies
# the answer by the size of the schema at every level, while listing them once keeps it within
# the size of the schema, which is what the standard queries do. (graphql-core's own
# MaxIntrospectionDepthRule allows two such lists on a path, and only at validation, which over
# HTTP comes after the token lookup.)
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
MAX_INTROSPECTION_DEPTH = 20
MEMBER_LISTS = frozenset({"fields", "inputFields", "enumValues", "interfaces", "possibleTypes"})


@dataclass(frozen=True)
class Shape:
    """What the limits read of a selection set, for one evaluation of it: `depth` counts data
    levels (an introspection root counts as one), `introspection_depth` the levels below and
    including an introspection root, `member_lists` the most member lists on one introspection
    path, and `unit_cost` the objects it may return for one parent object."""

    aliases: int = 0
    depth: int = 0
    introspection_depth: int = 0
    member_lists: int = 0
    unit_cost: int = 0

    def beside(self, other: Shape) -> Shape:
        """The shape of two sibling selections together."""
        return Shape(
            self.aliases + other.aliases,
            max(self.depth, other.depth),
            max(self.introspection_depth, other.introspection_depth),
            max(self.member_lists, other.member_lists),
            self.unit_cost + other.unit_cost,
        )


class DocumentAnalysis:
    """Shape and cost of a document in time linear in its size: each fragment is summarised once,
    in an order where every fragment comes after those it spreads, and a spread adds that summary
    (cost scales linearly with the multiplier above it, so a fragment's cost for one parent is all
    it needs). A document that spreads each fragment twice in the next is thus as cheap to analyse
    as it is to read, where expanding it would take 2^levels steps. `visits` counts the selections
    looked at: each selection of the document once."""

    def __init__(self, document: DocumentNode, variables: dict, default_page_size: int) -> None:
        self.variables, self.default_page_size, self.visits = variables, default_page_size, 0
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self._fragments: dict[str, Shape] = {}
        for name in _dependency_order(fragments):
            fragment = fragments[name]
            self._fragments[name] = self._selections(fragment.selection_set, fragment.type_condition.name.value.startswith("__"))
        self._operations = [
            (op.name.value if op.name else None, self._selections(op.selection_set, False))
            for op in document.definitions
            if isinstance(op, OperationDefinitionNode)
        ]
        self.shape = functools.reduce(Shape.beside, (shape for _, shape in self._operations), Shape())

    def cost(self, operation_name: str | None) -> int:
        """The cost of the operation that runs: the named one, or the first."""
        chosen = [shape for name, shape in self._operations if operation_name is None or name == operation_name]
        return chosen[0].unit_cost if chosen else 0

    def _selections(self, selection_set, introspective: bool) -> Shape:
        shape = Shape()
        for selection in selection_set.selections if selection_set is not None else ():
            self.visits += 1
            if isinstance(selection, FieldNode):
                shape = shape.beside(self._field(selection, introspective))
            elif isinstance(selection, InlineFragmentNode):
                shape = shape.beside(self._selections(selection.selection_set, introspective))
            else:  # unknown fragments and cycles are validation errors: counted as empty here
                shape = shape.beside(self._fragments.get(selection.name.value, Shape()))
        return shape

    def _field(self, field: FieldNode, introspective: bool) -> Shape:
        name = field.name.value
        inside = introspective or name in INTROSPECTION_ROOTS
        inner = self._selections(field.selection_set, inside)
        return Shape(
            aliases=inner.aliases + (field.alias is not None),
            depth=0 if introspective else 1 if inside else inner.depth + 1,
            introspection_depth=inner.introspection_depth + 1 if inside else inner.introspection_depth,
            member_lists=inner.member_lists + (introspective and name in MEMBER_LISTS),
            unit_cost=1 + self._fan_out(field) * inner.unit_cost,
        )

    def _fan_out(self, field: FieldNode) -> int:
        """How many children one of this field may have: its page size or its id list's length."""
        for argument in field.arguments or ():
            name = argument.name.value
            value: object = argument.value
            if isinstance(value, VariableNode):
                value = self.variables.get(value.name.value)
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


def _dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Every fragment's name, after the names of the fragments it spreads; a cycle (invalid) is cut
    where it closes. Iterative: a chain of hundreds of fragments must not exhaust the stack."""
    spreads = {name: _spread_names(fragment.selection_set) for name, fragment in fragments.items()}
    order: list[str] = []
    entered: set[str] = set()
    for root in fragments:
        if root in entered:
            continue
        entered.add(root)
        stack = [(root, iter(spreads[root]))]
        while stack:
            name, pending = stack[-1]
            spread = next(pending, None)
            if spread is None:
                stack.pop()
                order.append(name)
            elif spread in fragments and spread not in entered:
                entered.add(spread)
                stack.append((spread, iter(spreads[spread])))
    return order


def _spread_names(selection_set: SelectionSetNode) -> list[str]:
    names, pending = [], [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set is not None:
                pending.append(selection.selection_set)
    return names


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
            refusal = _nul_refusal(context.query, context.graphql_document) or self.limits.shape_refusal(context.graphql_document)
            if refusal is not None:
                context.pre_execution_errors = [refusal]
        yield


def _nul_refusal(query: str | None, document: DocumentNode) -> GraphQLError | None:
    """A string literal holding NUL (written `\\u0000` in the query; a raw NUL does not parse, and
    variables are checked by the HTTP view) can be neither stored nor compared by PostgreSQL: the
    caller's error, for every field's arguments at once. The substring test keeps the walk off
    every ordinary query."""
    if query is None or "\\u0000" not in query:
        return None
    for literal in _string_literals(document):
        if "\x00" in literal.value:
            return GraphQLError(
                "a text argument must not contain NUL characters", literal, extensions={"code": "INVALID_CHARACTERS"}
            )
    return None


def _string_literals(node) -> Iterator[StringValueNode]:
    if isinstance(node, StringValueNode):
        yield node
    elif isinstance(node, Node):
        for key in node.keys:
            yield from _string_literals(getattr(node, key, None))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _string_literals(item)


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


# How deeply a request's JSON may nest arrays and objects: json.loads recurses once per level (a
# thousand levels exhaust the stack), and no variable of the schema needs more than a few dozen.
MAX_JSON_DEPTH = 100
# A JSON string from its opening quote to its closing one, or to the end of the text when it is
# not closed: always matching, and possessive, so that no text makes the scan below retry.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING_STEP = [0] * 256
for _opening, _closing in (b"[]", b"{}"):
    _NESTING_STEP[_opening], _NESTING_STEP[_closing] = 1, -1


def json_too_deep(raw: bytes) -> bool:
    """Whether a JSON text nests arrays and objects more than MAX_JSON_DEPTH levels deep: a scan
    linear in its length that skips strings, to run before json.loads."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= MAX_JSON_DEPTH:
        return False
    return max(itertools.accumulate(map(_NESTING_STEP.__getitem__, brackets))) > MAX_JSON_DEPTH


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

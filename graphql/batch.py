"""Batch fields: a field resolved once per level of the response for all of its parents.

A relation on a list (each contact's primary account, each account's ABM tier) is loaded for every
parent of a level in one statement. A per-object resolver gets there through a DataLoader: one
`load` and one future per object (~800 a page of 100 contacts), gathered into one batch. A batch
field says it directly: its function takes the list of parents and answers their values in the
same order, and `BreadthFirstExecutor` calls it once per level and field
(docs/architecture.md, "Batch fields").

    @batch_field(graphql_type=AccountNode | None)
    async def primary_account(contacts: list[ContactNode], info: Info) -> list[AccountNode | None]:
        ...  # one statement for every contact of the level

The function may return the list or an awaitable of it; an exception raised is every parent's
field error, an exception *in* the list is that parent's alone. Its other parameters are the
field's arguments (scalars, or lists of scalars). Where the breadth-first executor does not run
(mutations, `ENISHI_BREADTH_FIRST_EXECUTION=false`), the field resolves one object at a time
through a request DataLoader that hands the function the parents it gathered: the same batches,
one future per object."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLResolveInfo
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

# Where a batch field keeps its function: in the strawberry field's metadata, and, once the
# schema is built, in the graphql-core field's extensions as a `BatchResolver` (graphql/schema.py).
BATCH = "enishi.batch"


def batch_field(load_many: Callable | None = None, *, graphql_type: Any, **options: Any) -> Any:
    """A GraphQL field resolved for all the parents of a level at once: `load_many(parents, info,
    **arguments)` answers one value per parent, in order (a list, or an awaitable of one), and is
    called once per level of the response (docs/plugin-tutorial.md, section 9). An exception it
    raises is every parent's field error; an exception *in* the list is that parent's alone.
    `graphql_type` is one parent's value type (`AccountNode | None`); `options` are
    `strawberry.field`'s (`name`, `description`, ...). Use it as a decorator
    (`@batch_field(graphql_type=...)`), in a type's body (`account = batch_field(_accounts,
    graphql_type=...)`) or in `enishi_graphql_type_fields`. Arguments are the function's parameters
    after `info`, scalars or lists of scalars. Read the level's rows in one statement
    (`fetch_rows`, `RowsByColumn.fetch`). Mutations' payloads resolve it one object at a time
    through a request DataLoader that calls `load_many` with the parents it gathered."""

    def declare(function: Callable) -> Any:
        return strawberry.field(
            resolver=_one_at_a_time(function), graphql_type=graphql_type, metadata={BATCH: function}, **options
        )

    return declare if load_many is None else declare(load_many)


def _one_at_a_time(load_many: Callable) -> Callable:
    """The field's resolver for one parent, where no executor batches it: a request DataLoader per
    function and arguments gathers the parents asked for together and calls `load_many` with
    them. Its signature is the function's with `root` for the parents, so strawberry reads the
    same arguments from it."""

    def resolve(root: Any, info: Info, **arguments: Any) -> Any:
        def factory(_context: Any) -> Callable:
            async def load(parents: list) -> list:
                values = load_many(parents, info, **arguments)
                return await values if inspect.isawaitable(values) else values

            return load

        return info.context.loader((load_many, repr(sorted(arguments.items()))), factory, cache=False).load(root)

    parameters = list(inspect.signature(load_many).parameters.values())
    if len(parameters) < 2:
        raise TypeError(f"batch field {load_many.__qualname__} must take (parents, info, ...arguments)")
    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]  # read by strawberry through inspect
        [
            inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Info),
            *(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY) for parameter in parameters[2:]),
        ]
    )
    resolve.__module__ = load_many.__module__  # the arguments' annotations are read in its namespace
    resolve.__name__ = resolve.__qualname__ = load_many.__name__
    return resolve


class BatchResolver:
    """What `BreadthFirstExecutor` calls for a batch field (`bind`, once per level and field)."""

    __slots__ = ("field", "load_many", "python_names")

    def __init__(self, field: Any, load_many: Callable) -> None:
        self.field, self.load_many = field, load_many
        self.python_names = {
            argument.graphql_name or to_camel_case(argument.python_name): argument.python_name for argument in field.arguments
        }

    def bind(self, info: GraphQLResolveInfo, arguments: dict[str, Any]) -> Callable[[list], Any]:
        """`load_many` for this level: parents → their values (or an awaitable of them)."""
        strawberry_info = Info(_raw_info=info, _field=self.field)
        kwargs = {self.python_names[name]: value for name, value in arguments.items()}
        load_many = self.load_many
        return lambda parents: load_many(parents, strawberry_info, **kwargs)

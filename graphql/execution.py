"""Executing queries one level of the response at a time.

graphql-core completes a response depth first: each field whose resolver returns an awaitable (a
DataLoader future, an async resolver) gets coroutines of its own, and an object with several such
fields gathers them as tasks — some 2,000 coroutines and 700 tasks for a page of 100 contacts,
much of the server's time per page. `BreadthFirstExecutor` resolves a query level by level
instead: every field of every object at one depth is resolved, the awaitables among them are
awaited together, and the objects they return make the next level. Batching is as good or better
(every load of a level lands in one DataLoader batch), and a field costs a few lookups. A
field declared with `batch_field` (graphql/batch.py) is resolved once per level for all of its
objects: one call, answering their values in order. Other relations return a loader's future
(shaped with `then`): the level waits on the futures themselves; only `async def` resolvers (and
async batch functions) cost a Task each (`_run_side_by_side`).

Errors follow the spec as graphql-core applies them: the error is located at the field (or list
item), the value is nulled, and a null in a non-null position nulls the nearest nullable one
above it; errors under a position already nulled are dropped. The order of several errors follows
the levels rather than depth-first order (the spec leaves it open). Shapes this executor does not
take — an awaitable inside a list, an async iterable, a type resolved asynchronously — make it
stand down before anything is written, and graphql-core executes the operation from the start;
no resolver of this schema returns them. Mutations and subscriptions always go to graphql-core.

`info.path` seen by a resolver here names the field and its parent type, without list indices:
one `GraphQLResolveInfo` serves a field on every object of its level."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from graphql import (
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLError,
    GraphQLID,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
    GraphQLType,
    OperationType,
    Undefined,
    get_argument_values,
    located_error,
)
from graphql.execution.collect_fields import FieldDetails, collect_fields
from graphql.execution.executor import CollectedErrors
from graphql.pyutils import Path, inspect, is_iterable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from enishi.graphql.batch import BATCH
from enishi.graphql.loaders import Then

# Scalars whose output is the value itself when it has exactly this type (graphql-core's
# serialisers return a str or bool unchanged): the page's thousands of strings skip a call each.
_PASSTHROUGH: dict[GraphQLType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


class _StandDown(Exception):
    """This operation is for graphql-core's executor."""


class _FieldPlan(NamedTuple):
    """What resolving one field of a level needs, computed once per level and field."""

    resolve: Any
    info: GraphQLResolveInfo
    arguments: dict[str, Any]
    return_type: Any
    fields: list[FieldDetails]
    leaf_type: Any  # the scalar or enum a leaf field completes to; None for objects and lists
    passthrough: type | None  # a value of exactly this type is already its output (str for String and ID)
    batch: Any  # a batch field's function for this level: parents → their values; None for a field resolved per object


class _Slot(NamedTuple):
    """A position of the response a value goes to, and where a null there propagates to. Its
    response path is built only when an error needs it (`_path`)."""

    container: Any
    key: Any
    nullable: bool
    outer: _Slot | None  # None: the response's `data`
    typename: str | None  # the parent type of a field; None for a list item


def _path(slot: _Slot) -> Path:
    return Path(None if slot.outer is None else _path(slot.outer), slot.key, slot.typename)


class _Level(NamedTuple):
    object_type: GraphQLObjectType
    source: Any
    out: dict
    grouped_fields: dict
    slot: _Slot | None


class BreadthFirstExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None):
        if serially or self.operation.operation is not OperationType.QUERY or self.abort_signal is not None:
            return super().execute_operation(serially)
        return self._execute_breadth_first()

    async def _execute_breadth_first(self):
        self._data_nulled = False
        try:
            data = await self._resolve_levels()
        except _StandDown:
            self.collected_errors = CollectedErrors()
            result = super().execute_operation()
            return await result if self.is_awaitable(result) else result
        return self.finish(self.build_response(None if self._data_nulled else data))

    async def _resolve_levels(self) -> dict[str, Any]:
        root_type = self.schema.query_type
        if root_type is None:  # no schema of ours lacks one; graphql-core reports it
            raise _StandDown
        grouped_fields = collect_fields(
            self.schema, self.fragments, self.variable_values, root_type, self.operation, self.hide_suggestions
        ).grouped_field_set
        data: dict[str, Any] = {}
        level = [_Level(root_type, self.root_value, data, grouped_fields, None)]
        plans: dict[int, _FieldPlan] = {}
        is_awaitable = self.is_awaitable
        while level:
            next_level: list[_Level] = []
            waiting: list = []  # (awaitable, plan, the object or a batch's objects, response name)
            batches: dict[int, tuple[_FieldPlan, str, list[_Level]]] = {}  # by field: the objects asking for it
            try:
                for item in level:
                    if self.collected_errors.errors and self._nulled(item.slot):
                        continue
                    for response_name, fields in item.grouped_fields.items():
                        plan = plans.get(id(fields)) or plans.setdefault(
                            id(fields), self._plan(item.object_type, response_name, fields)
                        )
                        if plan.batch is not None:
                            item.out[response_name] = None  # keeps the response's field order
                            batches.setdefault(id(fields), (plan, response_name, []))[2].append(item)
                            continue
                        try:
                            value = plan.resolve(item.source, plan.info, **plan.arguments)
                        except Exception as error:  # noqa: BLE001 - a resolver's error is the field's, as graphql-core does
                            self._field_error(error, plan, item, response_name)
                            continue
                        if is_awaitable(value):
                            item.out[response_name] = None  # keeps the response's field order
                            waiting.append((value, plan, item, response_name))
                        else:
                            self._complete_field(plan, item, response_name, value, next_level)
                for plan, response_name, items in batches.values():
                    try:
                        values = plan.batch([item.source for item in items])
                    except Exception as error:  # noqa: BLE001 - the batch's error is each object's field error
                        self._batch_error(error, plan, items, response_name)
                        continue
                    if is_awaitable(values):
                        waiting.append((values, plan, items, response_name))
                    else:
                        self._complete_batch(plan, items, response_name, values, next_level)
            except _StandDown:
                _close([awaitable for awaitable, *_ in waiting])
                raise
            outcomes = await _run_side_by_side([awaitable for awaitable, *_ in waiting])
            for (_, plan, target, response_name), (finished, value) in zip(waiting, outcomes, strict=True):
                if type(target) is list:
                    if finished:
                        self._complete_batch(plan, target, response_name, value, next_level)
                    else:
                        self._batch_error(value, plan, target, response_name)
                elif finished:
                    self._complete_field(plan, target, response_name, value, next_level)
                else:
                    self._field_error(value, plan, target, response_name)
            level = next_level
        return data

    def _plan(self, parent_type: GraphQLObjectType, response_name: str, fields: list[FieldDetails]) -> _FieldPlan:
        node = fields[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        if field_def is None:
            raise _StandDown
        resolve = field_def.resolve or self.field_resolver
        batch_resolver = field_def.extensions.get(BATCH)
        if self.middleware_manager:
            wrapped = self.middleware_manager.get_field_resolver(resolve)
            if wrapped is not resolve:  # middleware wraps a resolver per object: batch fields go one at a time
                resolve, batch_resolver = wrapped, None
        info = self.build_resolve_info(
            field_def, [details.node for details in fields], parent_type, Path(None, response_name, parent_type.name)
        )
        arguments = (
            get_argument_values(field_def, node, self.variable_values, fields[0].fragment_variable_values, self.hide_suggestions)
            if field_def.args or node.arguments
            else {}
        )
        named = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
        return _FieldPlan(
            resolve,
            info,
            arguments,
            field_def.type,
            fields,
            named if isinstance(named, GraphQLLeafType) else None,
            _PASSTHROUGH.get(named),
            batch_resolver.bind(info, arguments) if batch_resolver is not None else None,
        )

    def _complete_field(self, plan: _FieldPlan, item: _Level, response_name: str, value: Any, next_level: list) -> None:
        if type(value) is plan.passthrough:
            item.out[response_name] = value
            return
        if plan.leaf_type is not None and value is not None and not isinstance(value, Exception):
            try:
                item.out[response_name] = self.complete_leaf_value(plan.leaf_type, value)
            except Exception as error:  # noqa: BLE001 - a leaf's serialization error is the field's
                self._field_error(error, plan, item, response_name)
            return
        slot = self._field_slot(plan, item, response_name)
        try:
            self._complete(plan.return_type, plan, value, slot, next_level)
        except _StandDown:
            raise
        except Exception as error:  # noqa: BLE001 - a completion error nulls its position (spec)
            self._error(error, plan, slot)

    def _complete_batch(self, plan: _FieldPlan, items: list[_Level], response_name: str, values: Any, next_level: list) -> None:
        """A batch field's values, one per object of `items` in order; an exception among them is that object's error."""
        values = list(values) if is_iterable(values) else None
        if values is None or len(values) != len(items):
            # The values themselves stay out of the message: they may be personal data.
            error = TypeError(
                f"The batch field {plan.info.parent_type}.{plan.info.field_name} must answer a list of one value "
                f"per object ({len(items)})."
            )
            self._batch_error(error, plan, items, response_name)
            return
        for item, value in zip(items, values, strict=True):
            self._complete_field(plan, item, response_name, value, next_level)

    def _batch_error(self, error: Exception, plan: _FieldPlan, items: list[_Level], response_name: str) -> None:
        for item in items:
            self._field_error(error, plan, item, response_name)

    def _field_slot(self, plan: _FieldPlan, item: _Level, response_name: str) -> _Slot:
        return _Slot(item.out, response_name, not isinstance(plan.return_type, GraphQLNonNull), item.slot, item.object_type.name)

    def _complete(self, return_type, plan: _FieldPlan, value: Any, slot: _Slot, next_level: list) -> None:
        """Put `value`, completed as `return_type`, at `slot`; objects join the next level. Raises
        the field error graphql-core would for a value it cannot complete."""
        if isinstance(value, Exception):
            raise value
        if isinstance(return_type, GraphQLNonNull):
            if value is None or value is Undefined:
                raise TypeError(f"Cannot return null for non-nullable field {plan.info.parent_type}.{plan.info.field_name}.")
            return_type = return_type.of_type
        elif value is None or value is Undefined:
            slot.container[slot.key] = None
            return
        if isinstance(return_type, GraphQLLeafType):
            slot.container[slot.key] = self.complete_leaf_value(return_type, value)
        elif isinstance(return_type, GraphQLList):
            self._complete_list(return_type, plan, value, slot, next_level)
        else:
            if isinstance(return_type, GraphQLAbstractType):
                resolve_type = return_type.resolve_type or self.type_resolver
                runtime_type_name = resolve_type(value, plan.info, return_type)
                if self.is_awaitable(runtime_type_name):
                    raise _StandDown
                return_type = self.ensure_valid_runtime_type(runtime_type_name, return_type, plan.fields, plan.info, value)
            if return_type.is_type_of:
                is_type_of = return_type.is_type_of(value, plan.info)
                if self.is_awaitable(is_type_of):
                    raise _StandDown
                if not is_type_of:  # graphql-core's words for it
                    raise GraphQLError(
                        f"Expected value of type '{return_type}' but got: {inspect(value)}.", plan.info.field_nodes
                    )
            child: dict[str, Any] = {}
            slot.container[slot.key] = child
            next_level.append(
                _Level(return_type, value, child, self.collect_subfields(return_type, plan.fields).grouped_field_set, slot)
            )

    def _complete_list(self, return_type: GraphQLList, plan: _FieldPlan, value: Any, slot: _Slot, next_level: list) -> None:
        if self.is_async_iterable(value):
            raise _StandDown
        if not is_iterable(value):
            raise GraphQLError(
                f"Expected Iterable, but did not find one for field '{plan.info.parent_type}.{plan.info.field_name}'."
            )
        items: list = []
        slot.container[slot.key] = items
        item_type = return_type.of_type
        nullable = not isinstance(item_type, GraphQLNonNull)
        for index, item in enumerate(value):
            if self.is_awaitable(item):
                raise _StandDown
            items.append(None)
            item_slot = _Slot(items, index, nullable, slot, None)
            try:
                self._complete(item_type, plan, item, item_slot, next_level)
            except _StandDown:
                raise
            except Exception as error:  # noqa: BLE001 - a list item's error nulls the item (spec)
                self._error(error, plan, item_slot)

    def _field_error(self, error: Exception, plan: _FieldPlan, item: _Level, response_name: str) -> None:
        self._error(error, plan, self._field_slot(plan, item, response_name))

    def _error(self, error: Exception, plan: _FieldPlan, slot: _Slot) -> None:
        """Locate `error` at `slot` and null the nearest position that may be null."""
        if self._nulled(slot):
            return
        located = located_error(error, plan.info.field_nodes, _path(slot).as_list())
        nulled: _Slot | None = slot
        while nulled is not None and not nulled.nullable and self.error_propagation:
            nulled = nulled.outer
        if nulled is None:
            self._data_nulled = True
            self.collected_errors.add(located, None)
        else:
            nulled.container[nulled.key] = None
            self.collected_errors.add(located, _path(nulled))

    def _nulled(self, slot: _Slot | None) -> bool:
        return self._data_nulled or (slot is not None and bool(self.collected_errors.has_nulled_position(_path(slot))))


async def _run_side_by_side(awaitables: list) -> list[tuple[bool, Any]]:
    """Run a level's awaitables to the end together: (True, result) or (False, exception) each.

    Most are loaders' futures, bare or with the shape of their result (`then`): those are waited
    on as they are and shaped here, with no Task. The coroutines of `async def` resolvers are
    gathered, a Task each (stepping them without Tasks would mean resetting a private flag of
    asyncio's futures, `_asyncio_future_blocking`, as Task does). Every load of the level was
    asked for before anything is awaited, and the Tasks' loads join the same batches, so a round
    of DataLoader loads still batches. The futures are waited on one after another: a batch
    completes all of its futures at once, so the level wakes about once per batch rather than once
    per future (bench/README.md, 2026-12-06, second session)."""
    futures = [awaitable.future if type(awaitable) is Then else awaitable for awaitable in awaitables]
    coroutines = [awaitable for awaitable in futures if not isinstance(awaitable, asyncio.Future)]
    gathered = None
    if coroutines:
        gathered = asyncio.gather(*coroutines, return_exceptions=True)
        futures = [gathered, *(future for future in futures if isinstance(future, asyncio.Future))]
    try:
        for future in futures:
            if not future.done():
                await asyncio.wait((future,))  # never raises the future's error: it is read below
    finally:
        if gathered is not None and not gathered.done():  # this request was cancelled
            gathered.cancel()
    gathered_results = iter(gathered.result() if gathered is not None else ())
    outcomes = []
    for awaitable in awaitables:
        if type(awaitable) is Then:
            outcomes.append(_outcome(awaitable.future, awaitable.shape))
        elif isinstance(awaitable, asyncio.Future):
            outcomes.append(_outcome(awaitable, None))
        else:
            result = next(gathered_results)
            outcomes.append((not isinstance(result, BaseException), result))
    return outcomes


def _outcome(future: asyncio.Future, shape) -> tuple[bool, Any]:
    if future.cancelled():
        return False, asyncio.CancelledError()
    error = future.exception()
    if error is not None:
        return False, error
    if shape is None:
        return True, future.result()
    try:
        return True, shape(future.result())
    except Exception as error:  # noqa: BLE001 - a shaping error is the field's, as in an async resolver
        return False, error


def _close(awaitables: list) -> None:
    """Coroutines that will not be run to the end are closed (their `finally` and `async with`
    blocks run) rather than left for the collector to warn about."""
    for awaitable in awaitables:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()

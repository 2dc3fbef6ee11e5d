"""Batch loading: every relation a field follows is loaded for all the objects of a level at once,
so a page costs a fixed number of statements whatever its size. A batch field (`batch_field`,
graphql/batch.py) reads its rows with one statement for the whole level: rows by id
(`fetch_rows`), rows by a column (`RowsByColumn.fetch`). A resolver of one object goes through a
DataLoader of the request instead (`load_row`, `load_rows`, `RowsByColumn.load`), and if it only
shapes what the loader returns hands back `then(load, shape)`. The core's own relations are in
`enishi.schema.loaders`."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Generator
from functools import cache
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, select

T = TypeVar("T")
R = TypeVar("R")


@cache
def _by_ids(model):
    """The statement reading `model` rows by id, built once per model (an expanding parameter takes any number of ids)."""
    return select(model).where(model.id.in_(bindparam("ids", expanding=True)))


async def fetch_rows(ctx, model, ids: list) -> list:
    """The `model` rows of `ids`, in that order (None where an id is None or has no row), read now
    in one statement: what a batch field's function reads its related rows with. `ctx` is `info.context`."""
    wanted = list({i for i in ids if i is not None})
    found = {row.id: row for row in await ctx.scalars(_by_ids(model), {"ids": wanted})} if wanted else {}
    return [found.get(i) for i in ids]


@cache
def rows_by_id(model):
    """Factory of a DataLoader's batch function: ids → rows (None where missing), one per model."""

    def factory(ctx):
        return lambda ids: fetch_rows(ctx, model, ids)

    return factory


class RowsByColumn:
    """The rows whose `column` equals a key, in `order_by` order, loaded in one statement for every
    key a request level asks for. Declared once, at module level (building the statement's
    expressions per call costs more than the load): `EMAILS = RowsByColumn(ContactEmail,
    ContactEmail.contact_id, ContactEmail.position)`, then `await EMAILS.fetch(info.context, ids)`
    in a batch field, or `await EMAILS.load(info.context, id)` in a resolver of one object."""

    def __init__(self, model, column, *order_by):
        self.column = column
        self.statement = select(model).where(column.in_(bindparam("keys", expanding=True))).order_by(*order_by)

    async def fetch(self, ctx, keys: list) -> list[list]:
        """The rows of each key, in `keys`' order, read now in one statement."""
        grouped: dict[Any, list] = defaultdict(list)
        for row in await ctx.scalars(self.statement, {"keys": list(set(keys))}):
            grouped[getattr(row, self.column.key)].append(row)
        return [grouped.get(k, []) for k in keys]

    def load(self, ctx, key):
        """The rows of `key`, through the request's DataLoader (a resolver of one object)."""
        return ctx.loader(self, self._batch).load(key)

    def _batch(self, ctx):
        return lambda keys: self.fetch(ctx, keys)


def load_row(ctx, model, id):
    """Await the `model` row with primary key `id` (None if absent) through the request's DataLoader:
    every row a request level asks for is read in one statement. `ctx` is `info.context`."""
    return ctx.loader(("row", model), rows_by_id(model)).load(id)


def load_rows(ctx, model, ids):
    """Await the `model` rows of `ids`, in that order (None where absent), through the same loader as `load_row`."""
    return ctx.loader(("row", model), rows_by_id(model)).load_many(ids)


def then(awaitable: Awaitable[T], shape: Callable[[T], R]) -> Awaitable[R]:
    """`shape` applied to what `awaitable` gives, as an awaitable for a resolver to return:
    `return then(load_row(info.context, User, id), User.from_row)` answers as `async def` with
    `return User.from_row(await load_row(...))` does. For a loader's future (what `load_row`,
    `load_rows`, `RowsByColumn.load` and `ctx.loader(...).load` return), the breadth-first
    executor waits on the future itself and shapes the result, with no coroutine and no Task per
    object (a page of 100 contacts had 800 of each; bench/README.md, 2026-12-06). An error in
    the load or in `shape` is the field's, as in an `async def` resolver."""
    if isinstance(awaitable, asyncio.Future):
        return Then(awaitable, shape)
    return _shaped(awaitable, shape)


class Then(Generic[T, R]):
    """A loader's future and the `shape` of its result (`then`). Awaited anywhere, it is
    `shape(await future)`; the breadth-first executor reads `future` and `shape` instead."""

    __slots__ = ("future", "shape")

    def __init__(self, future: asyncio.Future[T], shape: Callable[[T], R]) -> None:
        self.future = future
        self.shape = shape

    def __await__(self) -> Generator[Any, None, R]:
        return self.shape((yield from self.future.__await__()))


async def _shaped(awaitable: Awaitable[T], shape: Callable[[T], R]) -> R:
    return shape(await awaitable)

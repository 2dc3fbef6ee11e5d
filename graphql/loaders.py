"""Batch loading: every relation a resolver follows goes through a DataLoader of the request, so a
page costs a fixed number of statements whatever its size. Rows by id (`load_row`, `load_rows`) and
rows by a column (`RowsByColumn`); the core's own relations are in `enishi.schema.loaders`."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select


@cache
def rows_by_id(model):
    """Factory of a batch function: ids → rows (None where missing). One per model, its statement
    built once (an expanding parameter takes any number of ids)."""
    statement = select(model).where(model.id.in_(bindparam("ids", expanding=True)))

    def factory(ctx):
        async def load(ids: list) -> list:
            rows = {row.id: row for row in await ctx.scalars(statement, {"ids": ids})}
            return [rows.get(i) for i in ids]

        return load

    return factory


class RowsByColumn:
    """The rows whose `column` equals a key, in `order_by` order, loaded in one statement for every
    key a request level asks for. Declared once, at module level (building the statement's
    expressions per call costs more than the load): `EMAILS = RowsByColumn(ContactEmail,
    ContactEmail.contact_id, ContactEmail.position)`, then `await EMAILS.load(info.context, id)`."""

    def __init__(self, model, column, *order_by):
        self.column = column
        self.statement = select(model).where(column.in_(bindparam("keys", expanding=True))).order_by(*order_by)

    def load(self, ctx, key):
        return ctx.loader(self, self._batch).load(key)

    def _batch(self, ctx):
        async def load(keys: list) -> list[list]:
            grouped: dict[Any, list] = defaultdict(list)
            for row in await ctx.scalars(self.statement, {"keys": keys}):
                grouped[getattr(row, self.column.key)].append(row)
            return [grouped.get(k, []) for k in keys]

        return load


def load_row(ctx, model, id):
    """Await the `model` row with primary key `id` (None if absent) through the request's DataLoader:
    every row a request level asks for is read in one statement. `ctx` is `info.context`."""
    return ctx.loader(("row", model), rows_by_id(model)).load(id)


def load_rows(ctx, model, ids):
    """Await the `model` rows of `ids`, in that order (None where absent), through the same loader as `load_row`."""
    return ctx.loader(("row", model), rows_by_id(model)).load_many(ids)

"""Relay nodes backed by rows: how a type answers `node(id:)`, how the API names the type of a
table, and sealed fields decrypted only when selected. The core's types and the plugins' use them
alike (the kit exports them)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import strawberry
from strawberry.types import Info

from enishi.sealing import LeanRecord

from .loaders import load_row, load_rows, then


def visible(info: Info, row) -> bool:
    """Whether this viewer may see `row`: it exists, and is not soft-deleted unless the viewer
    may read deleted records."""
    return row is not None and (getattr(row, "deleted_at", None) is None or info.context.can("crm.read_deleted"))


def node_resolver(model, permission: str = "crm.read", *, exists: Callable[[Info], bool] | None = None):
    """`resolve_nodes` for a Node type backed by `model` (its `from_row` builds the object): checks
    the permission once, loads through the request's DataLoader, hides what this viewer may not
    see. Plugins use it too: `resolve_nodes = node_resolver(orm.LoyaltyMember, "loyalty.read")`.
    `exists(info)` false makes every id resolve to null (test clocks on a production server)."""

    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require(permission)
        if exists is not None and not exists(info):
            return [None for _ in node_ids]
        ids: list[uuid.UUID | None] = []
        for raw in node_ids:
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                ids.append(None)
        rows = await load_rows(info.context, model, [i for i in ids if i is not None])
        by_id = {row.id: row for row in rows if row is not None}
        return [cls.from_row(by_id[i]) if visible(info, by_id.get(i)) else None for i in ids]

    resolve_nodes.model = model  # type: ignore[attr-defined]  # read by `node_types_by_table`
    return classmethod(resolve_nodes)


@functools.lru_cache(maxsize=4)  # a schema lives as long as its runtime, and its types never change
def node_types_by_table(schema) -> dict[str, str]:
    """The Node type backed by each table (through `node_resolver`), by table name: how the API
    names a record that hooks name by its table (`"core_activity"` → `"Activity"`)."""
    names = {}
    for name, concrete in schema.schema_converter.type_map.items():
        resolve_nodes = getattr(getattr(concrete.definition, "origin", None), "resolve_nodes", None)
        if (model := getattr(getattr(resolve_nodes, "__func__", None), "model", None)) is not None:
            names[model.__tablename__] = name
    return names


def sealed_field(name: str, description: str | None = None, *, empty: Any = None):
    """A sealed field of the type's `_row`, decrypted when a query selects it, not before: the
    access log records who did, and a query that does not ask pays nothing. Typed by the class
    annotation; `empty` is answered when the row holds nothing (`{}` for a JSON document)."""

    def resolve(root):
        value = getattr(root._row, name)
        return empty if value is None else value

    return strawberry.field(resolver=resolve, description=description)


def deferred_sealed_field(name: str, model, description: str | None = None):
    """`sealed_field` for a field that lean records leave out (lean records, docs/architecture.md):
    a `LeanRecord` without the column has the model's row read by id, through the request's
    loader (one statement for every record of a level that asks); an ORM row answers itself."""

    def resolve(root, info: Info):
        row = root._row
        if isinstance(row, LeanRecord) and f"sealed_{name}" not in row.names:
            return then(load_row(info.context, model, row.id), lambda full: None if full is None else getattr(full, name))
        return getattr(row, name)

    return strawberry.field(resolver=resolve, description=description)

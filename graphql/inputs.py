"""Reading a mutation's input: which fields were sent, global ids decoded, instants in UTC, and
the GraphQL spelling of a field for the `field` of a user error."""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

import strawberry

from enishi.errors import InputError, UserError

from .relay import parse_global_id


def camel(name: str) -> str:
    """The GraphQL spelling of a Python field name (`due_at` → `dueAt`), for the `field` of a user error."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def input_values(data: Any, ids: dict[str, str] | None = None, skip: tuple[str, ...] = ("id",)) -> dict:
    """The fields the caller actually sent (UNSET ones left out, explicit nulls kept), with global
    ids decoded to uuids. `ids` maps a field to the type its id must have."""
    ids = ids or {}
    values = {}
    for name, value in vars(data).items():
        if name in skip or value is strawberry.UNSET:
            continue
        if name in ids and value is not None:
            value = parse_global_id(value, ids[name], camel(name))
        values[name] = value
    return values


@overload
def utc_instant(value: dt.datetime, field: str) -> dt.datetime: ...
@overload
def utc_instant(value: None, field: str) -> None: ...
def utc_instant(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """Instants enter the system as UTC; a time without an offset is ambiguous and refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InputError(UserError(field, "needs a time zone offset", "NAIVE_DATETIME"))
    return value.astimezone(dt.UTC)

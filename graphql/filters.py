"""Filter inputs (`and`/`or`/`not`, eq/in/contains/gt/lt, custom fields) compiled to SQL.

Each entity declares a `FilterSpec`: which input fields map to which column (and of what kind),
plus special fields with their own compiler (`search`, `accountId`). Everything else is shared."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import strawberry
from sqlalchemy import Float, and_, cast, false, func, not_, or_, true
from strawberry.scalars import JSON

from enishi.errors import EnishiError
from enishi.normalize import like_pattern, nfkc

from .relay import InvalidArgument, parse_global_id

MAX_FILTER_DEPTH = 5
MAX_IN_VALUES = 500
# Filter objects (the filter itself and every `and`/`or`/`not` member) in one filter: a thousand
# `or` terms compile to a statement the database refuses (SQLite's expression depth) or crawls on.
MAX_FILTER_TERMS = 100
# Longer than any text a filter compares with (names, addresses, a search), so a longer term can
# never match; refused before it is normalised, escaped and sent.
MAX_FILTER_TEXT = 500


class FilterTooComplex(InvalidArgument):
    code = "FILTER_TOO_COMPLEX"


class InputTooLong(EnishiError):
    code = "INPUT_TOO_LONG"


class InvalidCharacters(InvalidArgument):
    code = "INVALID_CHARACTERS"


def check_filter_text(value: Any, name: str, limit: int = MAX_FILTER_TEXT) -> None:
    """Refuse a text (or a text inside a list or JSON value) longer than `limit` characters, or
    holding a NUL character (no stored text has one, and PostgreSQL refuses it in a statement)."""
    if isinstance(value, str):
        if len(value) > limit:
            raise InputTooLong(f"`{name}` takes at most {limit} characters")
        if "\x00" in value:
            raise InvalidCharacters(f"`{name}` must not contain NUL characters")
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_filter_text(item, name, limit)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_filter_text(key, name, limit)
            check_filter_text(item, name, limit)


@strawberry.input(
    description="Match a text field. `contains` and `startsWith` ignore case; "
    "use `search` on the entity for matching that also ignores width and kana."
)
class StringFilter:
    eq: str | None = None
    in_: list[str] | None = strawberry.field(default=None, name="in")
    contains: str | None = None
    starts_with: str | None = None
    is_null: bool | None = None


@strawberry.input
class IntFilter:
    """Match an integer field: eq, in, gt, gte, lt, lte, isNull."""

    eq: int | None = None
    in_: list[int] | None = strawberry.field(default=None, name="in")
    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None
    is_null: bool | None = None


@strawberry.input
class DateTimeFilter:
    """Match an instant: gt, gte, lt, lte (with an offset), isNull."""

    gt: dt.datetime | None = None
    gte: dt.datetime | None = None
    lt: dt.datetime | None = None
    lte: dt.datetime | None = None
    is_null: bool | None = None


@strawberry.input(description="Match a reference by global id.")
class IDFilter:
    eq: strawberry.ID | None = None
    in_: list[strawberry.ID] | None = strawberry.field(default=None, name="in")
    is_null: bool | None = None


@strawberry.input(description="Match one key of `customFields`. Compare numbers with gt/lt, anything with eq/in.")
class CustomFieldFilter:
    key: str
    eq: JSON | None = None
    in_: list[JSON] | None = strawberry.field(default=None, name="in")
    contains: str | None = None
    gt: float | None = None
    lt: float | None = None
    exists: bool | None = None


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None:
        raise InvalidArgument(f"filter `{name}` needs a date-time with an offset")
    return value


def _null_check(column, is_null):
    return column.is_(None) if is_null else column.is_not(None)


def check_in(values: list, name: str) -> list:
    if len(values) > MAX_IN_VALUES:
        raise InvalidArgument(f"filter `{name}.in` takes at most {MAX_IN_VALUES} values")
    return values


def string_clause(column, f: StringFilter, name: str):
    clauses = []
    if f.eq is not None:
        clauses.append(column == f.eq)
    if f.in_ is not None:
        clauses.append(column.in_(check_in(f.in_, name)))
    if f.contains is not None:
        clauses.append(func.lower(column).like(like_pattern(nfkc(f.contains).lower()), escape="\\"))
    if f.starts_with is not None:
        clauses.append(func.lower(column).like(like_pattern(nfkc(f.starts_with).lower())[1:], escape="\\"))
    if f.is_null is not None:
        clauses.append(_null_check(column, f.is_null))
    return clauses


def ordered_clause(column, f, name: str, convert: Callable[[Any, str], Any] = lambda v, n: v):
    clauses = []
    for op in ("eq", "gt", "gte", "lt", "lte"):
        value = getattr(f, op, None)
        if value is not None:
            value = convert(value, name)
            clauses.append(
                {
                    "eq": column == value,
                    "gt": column > value,
                    "gte": column >= value,
                    "lt": column < value,
                    "lte": column <= value,
                }[op]
            )
    if getattr(f, "in_", None) is not None:
        clauses.append(column.in_(check_in(f.in_, name)))
    if f.is_null is not None:
        clauses.append(_null_check(column, f.is_null))
    return clauses


def id_clause(column, f: IDFilter, name: str, type_name: str):
    clauses = []
    if f.eq is not None:
        clauses.append(column == parse_global_id(f.eq, type_name, name))
    if f.in_ is not None:
        clauses.append(column.in_([parse_global_id(v, type_name, name) for v in check_in(f.in_, name)]))
    if f.is_null is not None:
        clauses.append(_null_check(column, f.is_null))
    return clauses


def custom_field_clauses(column, filters: list[CustomFieldFilter]):
    clauses = []
    for f in filters:
        element = column[f.key]
        if f.exists is not None:
            clauses.append(element.is_not(None) if f.exists else element.is_(None))
        if f.eq is not None:
            clauses.append(_json_equals(element, f.eq))
        if f.in_ is not None:
            clauses.append(or_(*(_json_equals(element, v) for v in check_in(f.in_, "customField.in"))) if f.in_ else false())
        if f.contains is not None:
            clauses.append(func.lower(element.as_string()).like(like_pattern(nfkc(f.contains).lower()), escape="\\"))
        if f.gt is not None:
            clauses.append(cast(element.as_float(), Float) > f.gt)
        if f.lt is not None:
            clauses.append(cast(element.as_float(), Float) < f.lt)
    return clauses


def _json_equals(element, value):
    if isinstance(value, bool):
        return element.as_boolean() == value
    if isinstance(value, (int, float)):
        return element.as_float() == value
    if isinstance(value, str):
        return element.as_string() == value
    raise InvalidArgument("customField eq/in compares strings, numbers and booleans")


@dataclass
class FilterSpec:
    """How one entity's filter input maps to SQL."""

    strings: dict[str, Any] = field(default_factory=dict)
    ints: dict[str, Any] = field(default_factory=dict)
    datetimes: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, tuple[Any, str]] = field(default_factory=dict)
    custom_fields: Any = None
    special: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    # Terms relative to the present ("no activity for 30 days"): compiled with the injected
    # clock's instant, which `compile` is given.
    relative: dict[str, Callable[[Any, dt.datetime], Any]] = field(default_factory=dict)

    def compile(self, f, now: dt.datetime | None = None):
        """The filter as one SQL condition; refused whole when too large (`FILTER_TOO_COMPLEX`) or
        when a text in it is too long (`INPUT_TOO_LONG`), before any of it is compiled. `now`
        (the injected clock's) is needed by the spec's `relative` terms."""
        if f is None:
            return true()
        _check_size(f)
        return self._compile(f, 0, now)

    def _compile(self, f, depth: int, now: dt.datetime | None):
        if depth > MAX_FILTER_DEPTH:
            raise InvalidArgument(f"filters nest at most {MAX_FILTER_DEPTH} levels")
        clauses = []
        for name, column in self.strings.items():
            if (value := getattr(f, name, None)) is not None:
                clauses += string_clause(column, value, name)
        for name, column in self.ints.items():
            if (value := getattr(f, name, None)) is not None:
                clauses += ordered_clause(column, value, name)
        for name, column in self.datetimes.items():
            if (value := getattr(f, name, None)) is not None:
                clauses += ordered_clause(column, value, name, _aware)
        for name, (column, type_name) in self.ids.items():
            if (value := getattr(f, name, None)) is not None:
                clauses += id_clause(column, value, name, type_name)
        if self.custom_fields is not None and (value := getattr(f, "custom_field", None)):
            clauses += custom_field_clauses(self.custom_fields, value)
        for name, compiler in self.special.items():
            if (value := getattr(f, name, None)) is not None:
                clauses.append(compiler(value))
        for name, relative in self.relative.items():
            if (value := getattr(f, name, None)) is not None:
                if now is None:
                    raise TypeError(f"filter term `{name}` needs the present: pass `now` to compile")
                clauses.append(relative(value, now))
        if f.and_:
            clauses += [self._compile(sub, depth + 1, now) for sub in f.and_]
        if f.or_:
            clauses.append(or_(*(self._compile(sub, depth + 1, now) for sub in f.or_)))
        if f.not_ is not None:
            clauses.append(not_(self._compile(f.not_, depth + 1, now)))
        return and_(true(), *clauses)


def _check_size(f) -> None:
    """Count the filter's objects breadth-first, stopping as soon as the limit is passed, and
    bound every text on the way (operator inputs such as `StringFilter` are walked too)."""
    pending, terms = [f], 0
    while pending:
        node = pending.pop()
        if hasattr(node, "and_"):
            terms += 1
            if terms > MAX_FILTER_TERMS:
                raise FilterTooComplex(f"a filter takes at most {MAX_FILTER_TERMS} terms (and/or/not members included)")
        for name, value in vars(node).items():
            members = value if isinstance(value, list) else [value]
            if any(hasattr(m, "__strawberry_definition__") for m in members):
                pending.extend(m for m in members if m is not None)
            else:
                check_filter_text(value, name.rstrip("_"))

"""Relay helpers: global ids, cursor connections with keyset pagination, and ordering.

Cursors carry the sort values of the row they point at, so paging stays correct and cheap while
rows are inserted, whatever the page depth (offset paging degrades with both)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache, partial
from operator import attrgetter
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import BindParameter, Select, and_, bindparam, column, func, or_, select, true
from sqlalchemy.dialects import postgresql

from enishi.errors import EnishiError, InputError, UserError
from enishi.graphql.loaders import then
from enishi.ids import global_id

T = TypeVar("T")


class InvalidArgument(EnishiError):
    """A query argument is out of range or malformed (a page size, a cursor, a filter); the
    request fails with code INVALID_ARGUMENT."""

    code = "INVALID_ARGUMENT"


# --- global ids ---------------------------------------------------------------------------------


def to_global_id(type_name: str, id: uuid.UUID | str) -> strawberry.ID:
    """The opaque global id of a record (`base64("TypeName:uuid")`), as `node(id:)` and every `id` field answer it."""
    return strawberry.ID(global_id(type_name, id))


def split_global_id(value: str, expected: str | tuple[str, ...], field: str) -> tuple[str, uuid.UUID]:
    """(type name, uuid) of a global id of one of the expected types, or a typed input error."""
    expected = (expected,) if isinstance(expected, str) else expected
    try:
        type_name, _, raw = base64.b64decode(str(value).encode(), validate=True).decode().partition(":")
        parsed = uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InputError(UserError(field, "is not a valid id", "INVALID_ID")) from None
    if type_name not in expected:
        raise InputError(UserError(field, f"must be the id of a {' or '.join(expected)}", "WRONG_ID_TYPE"))
    return type_name, parsed


def parse_global_id(value: str, expected: str | tuple[str, ...], field: str) -> uuid.UUID:
    """The uuid inside a global id of one of the expected types, or a typed input error."""
    return split_global_id(value, expected, field)[1]


# --- connection types ---------------------------------------------------------------------------


@strawberry.type
class Edge(Generic[T]):
    node: T
    _position: strawberry.Private[Callable[[], str]]

    @strawberry.field(description="Where this edge stands in the list, for `after` and `before`.")
    def cursor(self) -> str:
        return self._position()


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    _edges: strawberry.Private[list[Edge]]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return self._edges[0]._position() if self._edges else None

    @strawberry.field
    def end_cursor(self) -> str | None:
        return self._edges[-1]._position() if self._edges else None


@dataclass(frozen=True, slots=True)
class ConnectionPage:
    """The items of one page of a connection and where it stands."""

    edges: list[Edge]
    page_info: PageInfo


class LazyPage:
    """A page that is loaded only when a query selects `edges`, `nodes` or `pageInfo` (count-only
    connections, docs/architecture.md): `tickets { totalCount }` on a page of contacts runs the
    count and no page query. `load()` asks the request's loader (which gives every caller of a
    key the same future); `shape` builds the page from the rows, once."""

    __slots__ = ("load", "page", "shape")

    def __init__(self, load: Callable[[], Any], shape: Callable[[Any], ConnectionPage]) -> None:
        self.load, self.shape = load, shape
        self.page: ConnectionPage | None = None

    def part(self, pick: Callable[[ConnectionPage], Any]) -> Any:
        if self.page is not None:
            return pick(self.page)

        def shaped(rows: Any) -> Any:
            if self.page is None:
                self.page = self.shape(rows)
            return pick(self.page)

        return then(self.load(), shaped)


def _nodes(page: ConnectionPage) -> list:
    return [edge.node for edge in page.edges]


@strawberry.type
class Connection(Generic[T]):
    """A Relay connection: `Connection[MyNode]` as a field's type, built by `paginate` (and by
    `NestedConnection`, whose page is loaded only if selected)."""

    _page: strawberry.Private[ConnectionPage | LazyPage]
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    def _part(self, pick: Callable[[ConnectionPage], Any]) -> Any:
        page = self._page
        return pick(page) if isinstance(page, ConnectionPage) else page.part(pick)

    @strawberry.field
    def edges(self) -> list[Edge[T]]:
        return self._part(attrgetter("edges"))

    @strawberry.field
    def page_info(self) -> PageInfo:
        return self._part(attrgetter("page_info"))

    @strawberry.field(description="All items matching the filter, on every page. Costs one count query.", graphql_type=int)
    def total_count(self) -> Awaitable[int]:
        return self._count()

    @strawberry.field(description="The nodes of this page, without cursors.")
    def nodes(self) -> list[T]:
        return self._part(_nodes)


@strawberry.enum
class OrderDirection(Enum):
    """ASC or DESC, for a plugin's `orderBy` inputs."""

    ASC = "asc"
    DESC = "desc"


# --- keyset pagination --------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """One orderable column: a never-NULL expression (coalesce nullable columns) and the kind of
    value it holds, so a cursor can carry it as JSON and bring it back typed."""

    expression: Any
    kind: str  # text | int | float | datetime | uuid

    def dump(self, value: Any) -> Any:
        if self.kind == "datetime":
            return value.isoformat()
        if self.kind == "uuid":
            return str(value)
        return value

    def load(self, value: Any) -> Any:
        if self.kind == "datetime":
            parsed = dt.datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("naive datetime in cursor")
            return parsed
        if self.kind == "uuid":
            return uuid.UUID(value)
        if self.kind == "int" and not isinstance(value, int):
            raise ValueError("bad int in cursor")
        if self.kind == "float" and not isinstance(value, (int, float)):
            raise ValueError("bad number in cursor")
        if self.kind == "text" and not isinstance(value, str):
            raise ValueError("bad text in cursor")
        return value


def _encode_cursor(keys: Sequence[SortKey], values: Sequence[Any]) -> str:
    dumped = [key.dump(value) for key, value in zip(keys, values, strict=True)]
    return base64.urlsafe_b64encode(json.dumps(dumped, ensure_ascii=False, separators=(",", ":")).encode()).decode()


def _edge(keys: Sequence[SortKey], values: Sequence[Any], node: Any) -> Edge:
    """An edge whose cursor is encoded only if a query asks for it: most pages never do."""
    return Edge(node=node, _position=partial(_encode_cursor, keys, values))


def _page(edges: list[Edge], has_next_page: bool, has_previous_page: bool) -> ConnectionPage:
    return ConnectionPage(edges, PageInfo(has_next_page=has_next_page, has_previous_page=has_previous_page, _edges=edges))


def _decode_cursor(cursor: str, keys: Sequence[SortKey], field: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError
        return [key.load(value) for key, value in zip(keys, values, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(f"`{field}` is not a cursor of this list") from None


def _after(keys: Sequence[tuple[SortKey, bool]], values: list[Any]):
    """Rows strictly after `values` in the order (k1, k2, …): k1 > v1 OR (k1 = v1 AND k2 > v2) …"""
    clauses = []
    for i, (key, descending) in enumerate(keys):
        equal = [k.expression == v for (k, _), v in zip(keys[:i], values[:i], strict=True)]
        beyond = key.expression < values[i] if descending else key.expression > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


@dataclass
class PageRequest:
    """The `first`/`after`/`last`/`before` arguments of a connection field, for `paginate`."""

    first: int | None
    after: str | None
    last: int | None
    before: str | None

    def size(self, settings) -> int:
        if self.first is not None and self.last is not None:
            raise InvalidArgument("give `first` or `last`, not both")
        size = self.last if self.last is not None else self.first
        if size is None:
            return settings.default_page_size
        if size < 0 or size > settings.max_page_size:
            raise InvalidArgument(f"page size must be between 0 and {settings.max_page_size}")
        return size


async def paginate(
    ctx, statement: Select, order: Sequence[tuple[SortKey, bool]], page: PageRequest, to_node: Callable[[Any], Any]
) -> Connection:
    """Run `statement` (which selects an entity) as one page of a connection.

    `order` must end in a unique key (the id) so the order is total and cursors unambiguous."""
    size = page.size(ctx.settings)
    keys = [key for key, _ in order]
    backwards = page.last is not None or (page.before is not None and page.first is None)
    effective = [(key, descending != backwards) for key, descending in order]
    paged = statement
    if page.after is not None:
        paged = paged.where(_after(order, _decode_cursor(page.after, keys, "after")))
    if page.before is not None:
        paged = paged.where(_after([(k, not d) for k, d in order], _decode_cursor(page.before, keys, "before")))
    paged = paged.add_columns(*(key.expression for key in keys))
    paged = paged.order_by(*(key.expression.desc() if descending else key.expression.asc() for key, descending in effective))
    rows = list((await ctx.execute(paged.limit(size + 1))).all())
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    edges = [_edge(keys, row[1:], to_node(row[0])) for row in rows]
    count_statement = select(func.count()).select_from(statement.order_by(None).subquery())

    async def count() -> int:
        return (await ctx.execute(count_statement)).scalar_one()

    return Connection(
        _page=_page(
            edges,
            has_next_page=has_more if not backwards else page.before is not None,
            has_previous_page=has_more if backwards else page.after is not None,
        ),
        _count=count,
    )


# --- connections nested under a list, batched ----------------------------------------------------


# The owners a batch of nested connections is loaded for: one parameter, any number of ids.
_OWNER_IDS: BindParameter[Any] = bindparam("owner_ids", expanding=True)


@dataclass(frozen=True)
class NestedConnection:
    """A connection under each item of a list (`Account.contacts`, `Contact.timeline`).

    `pairs(owner_ids)` returns a select of (owner_id, item_id) rows. The first page of every
    owner in a request is fetched by one windowed query and the counts by one grouped query, so a
    page of 100 accounts with their first contacts costs two statements, not two hundred. Pages
    after a cursor are rarer and asked for one owner at a time; they use `paginate`.

    With `record` (a `lean_record` of the model), first pages are built of those records from
    the row's columns rather than of ORM objects (lean records, docs/architecture.md); `to_node`
    must take both."""

    name: str
    model: Any
    order: tuple[tuple[SortKey, bool], ...]
    pairs: Callable[..., Select]
    record: Any = None

    def _items(self) -> tuple:
        """What a first-page statement selects for each item."""
        return tuple(self.record.columns()) if self.record is not None else (self.model,)

    def _first_pages(self, ctx):
        async def load(keys: list[tuple[Any, int, Any]]) -> list[list[tuple[Any, list[Any]]]]:
            results: dict[tuple, list] = {key: [] for key in keys}
            groups: dict[tuple, list] = {}
            for owner_id, size, extra in keys:
                groups.setdefault((size, extra), []).append(owner_id)
            for (size, extra), owner_ids in groups.items():
                statement = self._first_pages_statement(size, extra, ctx.runtime.engine.dialect.name)
                rows = await ctx.execute(statement, {"owner_ids": owner_ids})
                width = len(self.record.names) if self.record is not None else 1
                for row in rows.all():
                    item = self.record(row[1 : 1 + width]) if self.record is not None else row[1]
                    results[(row[0], size, extra)].append((item, row[1 + width :]))
            return [results[key] for key in keys]

        return load

    @lru_cache(maxsize=64)  # noqa: B019 - every NestedConnection is a module constant: nothing to leak
    def _first_pages_statement(self, size: int, extra: Any, dialect: str) -> Select:
        """The first `size` (+1, to tell whether there is more) items of every owner in the
        `owner_ids` parameter, in one statement of rows (owner id, item, its sort values), by owner
        then page order. Built once per page size, `extra` and dialect: building it cost more than
        running it."""
        order = [key.expression.desc() if descending else key.expression.asc() for key, descending in self.order]
        sort_columns = [key.expression.label(f"sort_{i}") for i, (key, _) in enumerate(self.order)]
        if dialect == "postgresql":
            return self._first_pages_lateral(size, extra, order, sort_columns)
        # Elsewhere (SQLite) ranked with a window function: SQLite has no LATERAL, and plans this
        # through the pairs' index into the items' primary key.
        pairs = self.pairs(_OWNER_IDS, extra).subquery()
        rank = func.row_number().over(partition_by=pairs.c.owner_id, order_by=order)
        ranked = (
            select(pairs.c.owner_id, pairs.c.item_id, *sort_columns, rank.label("rank"))
            .join(self.model, self.model.id == pairs.c.item_id)
            .subquery()
        )
        return (
            select(ranked.c.owner_id, *self._items(), *(ranked.c[f"sort_{i}"] for i in range(len(self.order))))
            .join(self.model, self.model.id == ranked.c.item_id)
            .where(ranked.c.rank <= size + 1)
            .order_by(ranked.c.owner_id, ranked.c.rank)
        )

    def _first_pages_lateral(self, size: int, extra: Any, order: list, sort_columns: list) -> Select:
        """PostgreSQL: per owner, its pairs in page order with LIMIT (an index scan of a dozen rows
        each). Ranking every owner's pairs in one window made PostgreSQL hash-join the whole items
        table for a few hundred rows (25-40 ms a page at 10,000 contacts, against 8)."""
        owner_type = self.pairs(_OWNER_IDS, extra).selected_columns[0].type  # the owners' ids, whatever the items'
        owner_ids = bindparam("owner_ids", type_=postgresql.ARRAY(owner_type))
        owners = func.unnest(owner_ids).table_valued(column("owner_id", owner_type)).render_derived(name="owners")
        listed = func.unnest(owner_ids).table_valued(column("owner_id", owner_type)).render_derived(name="listed")
        pairs = self.pairs(select(listed.c.owner_id), extra).subquery()
        first = (
            select(pairs.c.item_id, *sort_columns)
            .join(self.model, self.model.id == pairs.c.item_id)
            .where(pairs.c.owner_id == owners.c.owner_id)
            .correlate(owners)
            .order_by(*order)
            .limit(size + 1)
            .lateral("first_page")
        )
        sorts = [first.c[f"sort_{i}"] for i in range(len(self.order))]
        return (
            select(owners.c.owner_id, *self._items(), *sorts)
            .select_from(owners)
            .join(first, true())
            .join(self.model, self.model.id == first.c.item_id)
            .order_by(
                owners.c.owner_id,
                *(sort.desc() if descending else sort.asc() for sort, (_, descending) in zip(sorts, self.order, strict=True)),
            )
        )

    def _counts(self, ctx):
        async def load(keys: list[tuple[Any, Any]]) -> list[int]:
            counts: dict[tuple, int] = {}
            groups: dict[Any, list] = {}
            for owner_id, extra in keys:
                groups.setdefault(extra, []).append(owner_id)
            for extra, owner_ids in groups.items():
                rows = await ctx.execute(self._counts_statement(extra), {"owner_ids": owner_ids})
                counts.update({(owner_id, extra): n for owner_id, n in rows})
            return [counts.get(key, 0) for key in keys]

        return load

    @lru_cache(maxsize=64)  # noqa: B019 - as above
    def _counts_statement(self, extra: Any) -> Select:
        pairs = self.pairs(_OWNER_IDS, extra).subquery()
        return select(pairs.c.owner_id, func.count()).group_by(pairs.c.owner_id)

    def resolve(
        self, ctx, owner_id, page: PageRequest, to_node: Callable[[Any], Any], extra: Any = None
    ) -> Awaitable[Connection]:
        """The owner's page, to be awaited (or returned by a resolver). A first page is a share of
        the request's windowed load, asked for only if the query selects the page's items (a
        `LazyPage`); a page after a cursor is paginated."""
        counter = ctx.loader((self.name, "count"), self._counts)

        def count() -> Awaitable[int]:
            return counter.load((owner_id, extra))

        if page.after is not None or page.before is not None or page.last is not None:
            return self._later_page(ctx, owner_id, page, to_node, extra, count)
        size = page.size(ctx.settings)
        keys = [key for key, _ in self.order]

        def first_page(rows: list) -> ConnectionPage:
            edges = [_edge(keys, values, to_node(item)) for item, values in rows[:size]]
            return _page(edges, has_next_page=len(rows) > size, has_previous_page=False)

        def load():
            return ctx.loader((self.name, "first"), self._first_pages).load((owner_id, size, extra))

        return self._ready(Connection(_page=LazyPage(load, first_page), _count=count))

    @staticmethod
    def _ready(connection: Connection) -> asyncio.Future[Connection]:
        """`resolve` answers an awaitable (callers may await it); the breadth-first executor takes
        a done future as it is."""
        future = asyncio.get_running_loop().create_future()
        future.set_result(connection)
        return future

    async def _later_page(self, ctx, owner_id, page: PageRequest, to_node, extra, count) -> Connection:
        pairs = self.pairs([owner_id], extra).subquery()
        statement = select(self.model).where(self.model.id.in_(select(pairs.c.item_id)))
        connection = await paginate(ctx, statement, self.order, page, to_node)
        connection._count = count
        return connection

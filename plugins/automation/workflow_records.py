"""What a workflow reads of the record its trigger names: a column (`status`), a key of a JSON
column (`custom_fields.segment`), a column of a record reached through a foreign key
(`deal.owner_id` follows `deal_id`), or `tags` (those workflows put on it). Any table's record,
a plugin's included; sealed columns (personal data at rest) and search keys are never read.

And the conditions a definition states on these values and on the event's payload."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, DateTime, LargeBinary, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import Base

from .workflow_models import AutomationRecordTag

HIDDEN = ("search_text", "match_name")
MISSING = object()
SEALED_CUSTOM_FIELDS = ("core_contact", "custom_fields")  # a contact's: sealed, not a column


def record_table(entity: str) -> Table | None:
    """The table of an event's entity: a plugin's events name theirs (`sales_quote`), the core's
    a short name (`contact` for `core_contact`)."""
    tables = Base.metadata.tables
    return tables[entity] if entity in tables else tables.get(f"core_{entity}")


@dataclass(frozen=True)
class DateField:
    """Where a trigger's dates are: `kind` is `date`, `datetime`, `json` (a key of a JSON column)
    or `sealed` (a contact's custom field)."""

    table: Table
    column: str
    key: str | None
    kind: str


def date_field(trigger: dict) -> DateField | None:
    """The trigger's field, or None when it names no date, datetime or JSON column (a custom
    field's type is checked apart: `workflow_definition`)."""
    table = record_table(trigger["entity"])
    if table is None:
        return None
    column, _, key = trigger["field"].partition(".")
    if key:
        if (table.name, column) == SEALED_CUSTOM_FIELDS:
            return DateField(table, column, key, "sealed")
        readable_json = _readable(table, column) and isinstance(table.c[column].type, JSON)
        return DateField(table, column, key, "json") if readable_json else None
    if not _readable(table, column):
        return None
    kind = getattr(table.c[column].type, "impl", table.c[column].type)  # UTCDateTime decorates DateTime
    if isinstance(kind, DateTime):
        return DateField(table, column, None, "datetime")
    return DateField(table, column, None, "date") if isinstance(kind, Date) else None


def _readable(table: Table, name: str) -> bool:
    if name not in table.c or name in HIDDEN or name.startswith("sealed_") or name.endswith("_index"):
        return False
    return not isinstance(table.c[name].type, LargeBinary)


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class Record:
    """The trigger's record, read lazily within one session: each row once, however many
    conditions and steps ask for its fields."""

    def __init__(self, session: AsyncSession, entity: str, record_id: uuid.UUID | None) -> None:
        self.session = session
        self.entity = entity
        self.record_id = record_id
        self.table = record_table(entity)
        self._rows: dict[tuple[str, uuid.UUID], dict | None] = {}

    async def _row(self, table: Table, row_id: uuid.UUID) -> dict | None:
        key = (table.name, row_id)
        if key not in self._rows:
            row = (await self.session.execute(select(table).where(table.c.id == row_id))).mappings().first()
            self._rows[key] = dict(row) if row is not None else None
        return self._rows[key]

    async def exists(self) -> bool:
        return self.table is not None and self.record_id is not None and await self._row(self.table, self.record_id) is not None

    async def get(self, path: str) -> Any:
        """The field's value (JSON-ready: ids and instants as text), or MISSING when the record, a
        record on the way or the field is not there. A field the table has no readable column for
        is MISSING without reading the row: a step asking a contact for its `account_id` (a
        contact has none: its accounts are links) costs no statement."""
        if path == "tags":
            return await self.tags()
        table, row_id = self.table, self.record_id
        parts = path.split(".")
        while table is not None and row_id is not None:
            head, rest = parts[0], parts[1:]
            follows = bool(rest) and _readable(table, f"{head}_id") and bool(table.c[f"{head}_id"].foreign_keys)
            if not follows and not _readable(table, head):
                return MISSING
            row = await self._row(table, row_id)
            if row is None:
                return MISSING
            if follows:
                target = next(iter(table.c[f"{head}_id"].foreign_keys)).column.table
                table, row_id, parts = target, row[f"{head}_id"], rest
                continue
            value = row[head]
            for key in rest:  # into a JSON column
                value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
            return jsonable(value)
        return MISSING

    async def fields(self) -> dict[str, Any]:
        """Every readable column of the record itself, JSON-ready; {} when there is none."""
        if self.table is None or self.record_id is None:
            return {}
        row = await self._row(self.table, self.record_id)
        return {} if row is None else {name: jsonable(value) for name, value in row.items() if _readable(self.table, name)}

    async def tags(self) -> list[str]:
        if self.record_id is None:
            return []
        rows = await self.session.scalars(
            select(AutomationRecordTag.tag)
            .where(AutomationRecordTag.entity == self.entity, AutomationRecordTag.record_id == self.record_id)
            .order_by(AutomationRecordTag.tag)
        )
        return list(rows)


def _compare(op: str, actual: Any, wanted: Any) -> bool:
    if op == "exists":
        return actual is not MISSING and actual is not None
    if op == "not_exists":
        return actual is MISSING or actual is None
    if actual is MISSING:
        return op in ("ne", "not_in")
    if op == "eq":
        return actual == wanted
    if op == "ne":
        return actual != wanted
    if op in ("in", "not_in"):
        found = actual in (wanted if isinstance(wanted, list) else [wanted])
        return found if op == "in" else not found
    if op == "contains":
        return isinstance(actual, list | str) and wanted in actual
    try:
        return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted, "lte": actual <= wanted}[op]
    except TypeError:  # a number against a text: never ordered
        return False


async def holds(conditions: list[dict], payload: dict, record: Record) -> bool:
    """Whether every condition holds (an `any` group: one of its own)."""
    for condition in conditions:
        if "any" in condition:
            results = [await holds([inner], payload, record) for inner in condition["any"]]
            if not any(results):
                return False
            continue
        if condition["source"] == "payload":
            actual = payload
            for key in condition["field"].split("."):
                actual = actual.get(key, MISSING) if isinstance(actual, dict) else MISSING
        else:
            actual = await record.get(condition["field"])
        if not _compare(condition["op"], actual, condition.get("value")):
            return False
    return True


async def resolve(reference: dict | None, record: Record) -> Any:
    """A step's `{"field": …}` or `{"value": …}`; None when absent or not found."""
    if reference is None:
        return None
    if "value" in reference:
        return reference["value"]
    value = await record.get(reference["field"])
    return None if value is MISSING else value

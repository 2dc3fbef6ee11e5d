"""Typed custom fields: an admin defines, per entity (contact, account), a key's type, its labels
and whether it is required; every write of custom fields (createContact, updateContact,
createAccount, updateAccount, an import's row) is then checked and coerced against the
definitions: `"１２０"` for a number field is stored as 120, `令和6年4月1日` for a date field as
`"2024-04-01"`, `"はい"` for a boolean as true; `"abc"` for a number is refused with
`INVALID_NUMBER` on `customFields.<key>`.

A key without a definition keeps working as before (any JSON value, stored as given): existing
data and integrations do not break when definitions are introduced, and deleting a definition
leaves the values in place, untyped. A definition's type is fixed once created (values already
stored were coerced to it); change it by deleting and defining the key again."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InputError, UserError
from ..models import CustomFieldDefinition
from ..normalize import nfkc
from ..unit_of_work import UnitOfWork
from . import contact_dates
from .common import Checker, load_for_update
from .import_values import parse_date

ENTITIES = ("contact", "account")
TYPES = ("text", "number", "integer", "date", "boolean", "choice")
# Any letters (ランク, points); no spaces, dots or colons, which `custom:<key>` and `custom_fields.<key>` use.
KEY = re.compile(r"[^\s.:\x00]{1,60}")
MAX_DEFINITIONS = 200
MAX_OPTIONS = 100
MAX_TEXT = 2000
TRUE = {"true", "yes", "y", "1", "on", "はい", "有", "あり", "○", "〇"}
FALSE = {"false", "no", "n", "0", "off", "いいえ", "無", "なし", "×", "✕"}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")


@dataclass(frozen=True)
class FieldRule:
    """What a write needs of a definition: a copy that outlives its session (an import's rows
    are written in many transactions)."""

    type: str
    options: tuple[str, ...] = ()
    required: bool = False
    label: str = ""


class Refused(ValueError):
    """A value a definition cannot take: `code` is the userError's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise Refused("INVALID_NUMBER", "must be a number")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise Refused("INVALID_NUMBER", "must be a number")
    text = _THOUSANDS.sub("", nfkc(value).strip().replace("−", "-"))  # 1,200 and full-width ￥-free digits
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Refused("INVALID_NUMBER", "must be a number") from None
    if not number.is_finite():
        raise Refused("INVALID_NUMBER", "must be a finite number")
    return number


def _as_json_number(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


def coerce(definition: FieldRule, value: Any) -> Any:
    """`value` as the definition's type stores it; None stays None. Raises Refused."""
    if value is None:
        return None
    kind = definition.type
    if kind == "text":
        if isinstance(value, (dict, list)):
            raise Refused("INVALID_TEXT", "must be text")
        text = value if isinstance(value, str) else _text_of_scalar(value)
        if len(text) > MAX_TEXT:
            raise Refused("TOO_LONG", f"must be at most {MAX_TEXT} characters")
        return text
    if kind == "number":
        return _as_json_number(_number(value))
    if kind == "integer":
        number = _number(value)
        if number != number.to_integral_value():
            raise Refused("INVALID_INTEGER", "must be a whole number")
        return int(number)
    if kind == "date":
        if isinstance(value, bool) or not isinstance(value, (str, int, float, dt.date)):
            raise Refused("INVALID_DATE", "must be a date")
        try:
            return parse_date(value).isoformat()
        except (ValueError, OverflowError):
            raise Refused("INVALID_DATE", "must be a date (2024-04-01, 2024/4/1, 令和6年4月1日)") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = nfkc(str(value)).strip().lower()
        if word in TRUE or word in FALSE:
            return word in TRUE
        raise Refused("INVALID_BOOLEAN", "must be true or false")
    # choice
    chosen = nfkc(str(value)).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    matching = [option for option in definition.options if chosen is not None and nfkc(option).strip() == chosen]
    if not matching:
        raise Refused("INVALID_CHOICE", f"must be one of: {', '.join(definition.options)}"[:300])
    return matching[0]


def _text_of_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


async def definition_rows(session: AsyncSession, entity: str) -> list[CustomFieldDefinition]:
    """The entity's definitions, in the order a frontend shows them."""
    rows = await session.execute(
        select(CustomFieldDefinition)
        .where(CustomFieldDefinition.entity == entity)
        .order_by(CustomFieldDefinition.position, CustomFieldDefinition.key)
    )
    return list(rows.scalars())


async def definitions(session: AsyncSession, entity: str) -> dict[str, FieldRule]:
    """The entity's definitions by key, as the rules a write checks."""
    return {
        row.key: FieldRule(row.type, tuple(row.options or ()), row.required, row.label_en or row.label_ja)
        for row in await definition_rows(session, entity)
    }


def check_values(
    check: Checker,
    defined: dict[str, FieldRule],
    values: dict | None,
    *,
    field: str = "custom_fields",
    whole: bool = True,
) -> dict | None:
    """`values` coerced against the definitions, each refusal a userError on `<field>.<key>`; a
    blank value of a defined key is left out. `whole`: `values` is the record's every custom field
    (a create, or an update that replaces them), so a required one missing is refused too."""
    if values is None and not whole:
        return None
    coerced = {}
    for key, value in (values or {}).items():
        definition = defined.get(key)
        if definition is None:
            coerced[key] = value  # undefined: kept as given, as before definitions existed
            continue
        if is_blank(value):
            continue
        try:
            coerced[key] = coerce(definition, value)
        except Refused as refused:
            check.fail(f"{field}.{key}", str(refused), refused.code)
    if whole:
        for key, definition in defined.items():
            if definition.required and key not in coerced and not any(e.field == f"{field}.{key}" for e in check.errors):
                check.fail(f"{field}.{key}", f"{definition.label} is required", "REQUIRED")
    return coerced


async def check_custom_field(session: AsyncSession, entity: str, key: str, value: Any) -> Any:
    """One custom field's value as a write of `entity` (`contact`, `account`) would store it:
    coerced against the key's definition, as given when none defines it. Raises InputError on
    `custom_fields.<key>` when the definition refuses it (a workflow checks a value it will write)."""
    check = Checker()
    coerced = check_values(check, await definitions(session, entity), {key: value}, whole=False)
    check.done()
    return (coerced or {}).get(key)


async def custom_field_type(session: AsyncSession, entity: str, key: str) -> str | None:
    """The type a definition gives custom field `key` of `entity` (`date`, `text`, …); None when
    none defines it."""
    return await session.scalar(
        select(CustomFieldDefinition.type).where(CustomFieldDefinition.entity == entity, CustomFieldDefinition.key == key)
    )


def _definition_input(check: Checker, data: dict, *, kind: str | None) -> dict:
    values: dict = {}
    for name, required in (("label_ja", kind is not None), ("label_en", False)):
        if name in data:
            values[name] = check.text(data, name, max_length=100, required=required)
    if "required" in data:
        values["required"] = bool(data["required"])
    if "position" in data and data["position"] is not None:
        values["position"] = check.non_negative(data, "position")
    if "options" in data:
        options = [nfkc(str(option)).strip() for option in data["options"] or []]
        if kind is not None and kind != "choice" and options:
            check.fail("options", "only a choice field has options", "INVALID_OPTIONS")
        if len(options) > MAX_OPTIONS or any(not o or len(o) > 100 for o in options) or len(set(options)) != len(options):
            check.fail("options", f"1 to {MAX_OPTIONS} distinct, non-blank options of at most 100 characters", "INVALID_OPTIONS")
        values["options"] = options
    return values


async def create_definition(uow: UnitOfWork, data: dict) -> CustomFieldDefinition:
    check = Checker()
    entity = check.choice(data, "entity", ENTITIES)
    kind = check.choice(data, "type", TYPES)
    key = nfkc(data.get("key") or "").strip()
    if not KEY.fullmatch(key):
        check.fail("key", "1 to 60 characters without spaces, dots or colons", "INVALID_KEY")
    values = _definition_input(check, data, kind=kind)
    if kind == "choice" and not values.get("options"):
        check.fail("options", "a choice field needs its options", "REQUIRED")
    existing = {row.key for row in await definition_rows(uow.session, entity)} if entity is not None else set()
    if key in existing:
        check.fail("key", "is defined already", "DUPLICATE")  # two at once: the unique constraint answers DUPLICATE
    if len(existing) >= MAX_DEFINITIONS:
        check.fail("entity", f"at most {MAX_DEFINITIONS} custom fields per entity", "TOO_MANY")
    check.done()
    now = uow.clock.now()
    definition = CustomFieldDefinition(
        entity=entity,
        key=key,
        type=kind,
        label_ja=values["label_ja"],
        label_en=values.get("label_en"),
        options=values.get("options") or [],
        required=values.get("required", False),
        position=values.get("position") or 0,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(definition)
    await uow.session.flush()
    return definition


async def update_definition(uow: UnitOfWork, definition_id: uuid.UUID, data: dict) -> CustomFieldDefinition:
    """Change labels, options, required or position; the key and type stay (see the module)."""
    definition = await load_for_update(uow, CustomFieldDefinition, definition_id)
    check = Checker()
    values = _definition_input(check, data, kind=definition.type)
    if definition.type == "choice" and "options" in values and not values["options"]:
        check.fail("options", "a choice field needs its options", "REQUIRED")
    check.done()
    for name, value in values.items():
        if value is not None or name == "label_en":
            setattr(definition, name, value)
    definition.updated_at = uow.clock.now()
    await uow.session.flush()
    return definition


async def delete_definition(uow: UnitOfWork, definition_id: uuid.UUID) -> uuid.UUID:
    """The values stay on the records, untyped from now on; a contact date field's month-day
    indexes go (only date fields are indexed)."""
    definition = await uow.session.get(CustomFieldDefinition, definition_id)
    if definition is None:
        raise InputError(UserError("id", "no such custom field", "NOT_FOUND"))
    if (definition.entity, definition.type) == ("contact", "date"):
        await contact_dates.forget_field(uow, definition.key)
    await uow.session.delete(definition)
    return definition_id

"""Pieces every core service uses: input checking that collects all problems at once, loading a
row for update, and custom-field rules."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal, Protocol, TypeVar, overload

from sqlalchemy import ARRAY, Table, Text, bindparam, select, text

from ..contributions import EventType
from ..errors import InputError, UserError
from ..models import User
from ..unit_of_work import UnitOfWork


class _Identified(Protocol):
    id: Any


Record = TypeVar("Record", bound=_Identified)
MAX_CUSTOM_FIELDS_BYTES = 16_384


class Checker:
    """Collects input problems so the caller hears about all of them in one answer."""

    def __init__(self) -> None:
        self.errors: list[UserError] = []

    def fail(self, field: str, message: str, code: str) -> None:
        self.errors.append(UserError(field, message, code))

    @overload
    def text(self, data: dict, field: str, *, max_length: int, required: Literal[True]) -> str: ...
    @overload
    def text(self, data: dict, field: str, *, max_length: int, required: bool = False) -> str | None: ...
    def text(self, data: dict, field: str, *, max_length: int, required: bool = False) -> str | None:
        """The trimmed text, or None when absent or refused; a required field refused is "" (as
        falsy), never used: `done()` raises first."""
        refused = "" if required else None
        value = data.get(field)
        if value is None:
            if required:
                self.fail(field, "is required", "REQUIRED")
            return refused
        value = value.strip()
        if "\x00" in value:
            self.fail(field, "must not contain NUL characters", "INVALID_CHARACTERS")
            return refused
        if not value:
            if required:
                self.fail(field, "must not be blank", "REQUIRED")
            return refused
        if len(value) > max_length:
            self.fail(field, f"must be at most {max_length} characters", "TOO_LONG")
        return value

    def choice(self, data: dict, field: str, choices: tuple[str, ...]) -> str | None:
        value = data.get(field)
        if value is not None and value not in choices:
            self.fail(field, f"must be one of: {', '.join(choices)}", "INVALID_CHOICE")
            return None
        return value

    def non_negative(self, data: dict, field: str) -> int | None:
        value = data.get(field)
        if value is not None and value < 0:
            self.fail(field, "must not be negative", "OUT_OF_RANGE")
        return value

    def custom_fields(self, data: dict, field: str = "custom_fields") -> dict | None:
        value = data.get(field)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
            self.fail(field, "must be a JSON object with non-empty string keys", "INVALID_CUSTOM_FIELDS")
            return None
        if len(json.dumps(value, ensure_ascii=False)) > MAX_CUSTOM_FIELDS_BYTES:
            self.fail(field, f"must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes of JSON", "TOO_LONG")
            return None
        return value

    def done(self) -> None:
        if self.errors:
            raise InputError(self.errors)


def record_kind(model: type | Table) -> str:
    """What a record of `model` (a model or its table) is called in an error message, such as
    NOT_FOUND's "no such workflow run": its table's name without the namespace every table's
    name starts with (`core_contact` → "contact", `automation_workflow_run` → "workflow run")."""
    name = model.name if isinstance(model, Table) else model.__tablename__  # type: ignore[attr-defined]  # every model names its table
    return name.split("_", 1)[1].replace("_", " ")


async def load_for_update(
    uow: UnitOfWork,
    model: type[Record],
    id: uuid.UUID,
    *,
    field: str = "id",
    include_deleted: bool = False,
    what: str | None = None,
) -> Record:
    """The row, locked for this transaction (FOR UPDATE on PostgreSQL; on SQLite the writer
    transaction already holds the database's write lock). Missing: a NOT_FOUND userError on
    `field` saying what was not found, as the API's other NOT_FOUND errors do: "no such
    workflow run", the model's `record_kind`, unless `what` names it otherwise ("no such
    scheduled report" for an `insights_report`)."""
    row = (await uow.session.execute(select(model).where(model.id == id).with_for_update())).scalar_one_or_none()
    if row is None or (not include_deleted and getattr(row, "deleted_at", None) is not None):
        raise InputError(UserError(field, f"no such {what or record_kind(model)}", "NOT_FOUND"))
    uow.locked_rows.append(row)
    return row


async def one_at_a_time(uow: UnitOfWork, *names: str, shared: bool = False) -> None:
    """Until this transaction ends, no other transaction passes `one_at_a_time(uow, name)`: for
    "read the last, write the next" sections (a ticket number, a hash chain) that no row lock
    covers. `shared`: any number of transactions pass together, but none while another holds it
    unshared, nor it while they do — many writers of one row each beside a job rewriting every
    row. A PostgreSQL advisory transaction lock; SQLite's writer transaction already is alone.

    Several `names` are taken in the order given (callers sort them, so that two transactions
    taking overlapping sets cannot deadlock) by one statement: `unnest` reads an array out in
    its order, so a batch's hundreds of locks (an import's customers) cost one round trip."""
    if names and uow.session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        statement = text(f"SELECT {function}(hashtext(name)) FROM unnest(:names) AS name")
        await uow.session.execute(statement.bindparams(bindparam("names", type_=ARRAY(Text))), {"names": list(names)})


async def live_ids(uow: UnitOfWork, model, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The live (not deleted) ones among `ids`, share-locked until commit: an erasure or deletion
    running at the same time (it locks the row for update first) either finishes before and is
    seen, or waits for this write. Every write naming a contact or an account checks it here,
    plugins' writes included, so none can slip a person's data in behind their erasure."""
    if not ids:
        return set()
    rows = await uow.session.execute(
        select(model.id).where(model.id.in_(ids), model.deleted_at.is_(None)).with_for_update(read=True)
    )
    return set(rows.scalars())


async def check_user(uow: UnitOfWork, checker: Checker, data: dict, field: str) -> None:
    user_id = data.get(field)
    if user_id is not None and await uow.session.get(User, user_id) is None:
        checker.fail(field, "no such user", "NOT_FOUND")


def changed_fields(row: Any, values: dict) -> list[str]:
    """Assign `values` to `row` and return the names that really changed (for event payloads)."""
    changed = []
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


async def soft_delete(uow: UnitOfWork, model, record_id: uuid.UUID, deleted: EventType):
    """Hide a record from lists; `restore` brings it back. Plugins hear `deleted`."""
    row = await load_for_update(uow, model, record_id)
    row.deleted_at = row.updated_at = uow.clock.now()
    await uow.session.flush()
    await uow.emit(deleted, row.id)
    return row


async def restore(uow: UnitOfWork, model, record_id: uuid.UUID, restored: EventType):
    row = await load_for_update(uow, model, record_id, include_deleted=True)
    if row.deleted_at is None:
        raise InputError(UserError("id", "is not deleted", "NOT_DELETED"))
    if row.merged_into_id is not None:
        raise InputError(UserError("id", f"was merged into another {restored.entity}", "MERGED"))
    row.deleted_at = None
    row.updated_at = uow.clock.now()
    await uow.session.flush()
    await uow.emit(restored, row.id)
    return row

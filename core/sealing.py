"""Personal data sealed at rest: AES-256-GCM under data keys that the key-encryption key wraps.

A model keeps a personal field as `Sealed()`: the column `sealed_<name>` holds ciphertext, the
attribute reads and writes plaintext. The data key lives in a key table (`DataKey`): the person's
own for what is only about them (`SubjectKey`), or a record's own for what may concern several
people (`ActivityKey`, the support plugin's ticket keys). Destroying a key (crypto-shredding)
makes everything sealed under it unreadable for good, in every copy and backup.

A plugin seals a field in three steps: a key table (`class NoteKey(DataKey, Base)` with the
record's id as primary key), the record as `Sealable` with `owns_key(Note, NoteKey)`, and the
field as `Sealed()`. Rows that belong to a record share its key (`shares_key`). See
docs/plugin-tutorial.md."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from sqlalchemy import LargeBinary, String, event, inspect, select
from sqlalchemy.orm import Mapped, Session, column_property, mapped_column, relationship

from . import crypto
from .db import UTCDateTime


class DataKey:
    """An AES-256 data key, wrapped by the key-encryption key. Destroying it (the wrapped key set
    to None) makes every ciphertext sealed under it unreadable for good (crypto-shredding).
    `enishi keys rotate` re-wraps every table made with this mixin."""

    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Which key-encryption key wrapped it (a fingerprint), so `enishi keys rotate` can resume.
    kek_id: Mapped[str | None] = mapped_column(String(16), info={"personal": False})
    # Dated when flushed, by the runtime's clock (`_date_new_keys`): a key is made deep inside an
    # assignment to a sealed field, where no clock is at hand.
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@event.listens_for(Session, "before_flush")
def _date_new_keys(session: Session, _flush_context, _instances) -> None:
    for record in session.new:
        if isinstance(record, DataKey) and record.created_at is None:
            record.created_at = session.info["clock"].now()


# What sealed fields were decrypted in the current request: a person's id, or (model, record id)
# for a record whose people the row does not name. The GraphQL view sets a set here and hands it
# to `enishi_request_finished`; the core's implementation resolves it with `people_read` for
# `enishi_personal_data_read` (the access log).
personal_reads: ContextVar[set | None] = ContextVar("enishi_personal_reads", default=None)


@contextmanager
def unrecorded_reads() -> Iterator[None]:
    """Decrypt within without it counting as the viewer's read of the people (not in the access
    log): for the system's own work done during someone's request, such as re-indexing every
    holder of a field just marked sensitive."""
    quiet = personal_reads.set(None)
    try:
        yield
    finally:
        personal_reads.reset(quiet)


_SUBJECTS_BATCH = 1000


class Sealed:
    """A personal field kept encrypted (AES-256-GCM, the row's data key) in the column
    `sealed_<name>`; reading the attribute decrypts, assigning encrypts. None once the key is
    destroyed. With `index` (a normaliser), assigning also sets `<name>_index`, the blind index of
    the normalised value, for exact-match filters. With `json`, the value is any JSON document
    (custom fields) instead of a string."""

    def __init__(self, index: Callable[[str], str] | None = None, *, json: bool = False) -> None:
        self.index, self.json = index, json

    def __set_name__(self, owner, name: str) -> None:
        self.name, self.column = name, f"sealed_{name}"
        self.context = f"{owner.__tablename__}.{name}".encode()

    def __get__(self, row, owner=None):
        if row is None:
            return self
        sealed = getattr(row, self.column)
        opened = row.__dict__.setdefault("_opened", {})
        hit = opened.get(self.name)
        if hit is not None and hit[0] is sealed:
            return hit[1]
        data_key = row.data_key() if sealed is not None else None
        value = None if data_key is None else crypto.decrypt(data_key, sealed, self.context)
        if value is not None and self.json:
            value = json.loads(value)
        opened[self.name] = (sealed, value)
        if value is not None and (reads := personal_reads.get()) is not None:
            subject = row.subject_id
            reads.add(subject if subject is not None else (row.sealed_model or type(row), row.id))
        return value

    def __set__(self, row, value) -> None:
        columns = self.columns(row.data_key(create=True) if value is not None else None, value)
        for column, stored in columns.items():
            setattr(row, column, stored)
        row.__dict__.setdefault("_opened", {})[self.name] = (columns[self.column], value)

    def columns(self, data_key: bytes | None, value) -> dict:
        """The stored columns for `value` sealed under `data_key`: what assigning sets, for bulk
        inserts that build rows as dicts."""
        plaintext = json.dumps(value, ensure_ascii=False) if self.json and value is not None else value
        columns: dict[str, bytes | str | None] = {self.column: None}
        if value is not None:
            assert data_key is not None, "a value is sealed under a data key"
            columns[self.column] = crypto.encrypt(data_key, plaintext, self.context)
        if self.index is not None:
            columns[self.index_column] = self.blind_index(value)
        return columns

    @property
    def index_column(self) -> str:
        return f"{self.name}_index"

    def blind_index(self, value: str | None) -> str | None:
        key = self.index(value) if value is not None and self.index is not None else ""
        return crypto.installed().blind_index(key) if key else None


class Sealable:
    """A row with `Sealed` fields. Its data key's stored columns (`wrapped_key`, `kek_id`) are
    read in the same statement as the row (`owns_key`, `shares_key`); a record with a key of its
    own gets one on its first sealed assignment (the `key` relationship names the key table); a
    row sealed under another's key gets it from `share_key_of`."""

    key: DataKey | None
    wrapped_key: bytes | None
    kek_id: str | None
    # The model whose record this is, when the row is not an instance of it (a `LeanRecord`).
    sealed_model: ClassVar[type[Sealable] | None] = None

    @property
    def subject_id(self) -> uuid.UUID | None:
        """The person whose data a decryption reveals (for the access log) when the row names one
        (its `contact_id`); otherwise `subjects_of` finds them."""
        return getattr(self, "contact_id", None)

    @classmethod
    def subjects_of(cls, ids: list[uuid.UUID]):
        """A query of the people (contact ids) whose data reading these records' sealed fields
        reveals, for records that do not name one person (an activity's targets, a message's
        ticket requester); None if nobody's."""
        return None

    def data_key(self, *, create: bool = False) -> bytes | None:
        data_key = self.__dict__.get("_data_key")
        if data_key is not None:
            return data_key
        if "wrapped_key" in self.__dict__ or "wrapped_key" in inspect(self).expired_attributes:
            if self.wrapped_key is None:  # destroyed, or a row stored without a key
                if create:
                    raise ValueError("this record's key was destroyed (erased): nothing can be stored under it")
                return None
            data_key = crypto.installed().unwrap(self.kek_id, self.wrapped_key)
        elif create:  # new in this session: no key row was read with it
            data_key = self._new_data_key()
        else:
            return None
        self.__dict__["_data_key"] = data_key
        return data_key

    def reindex(self) -> None:
        """Recompute the blind indexes of its sealed fields: they are keyed by the KEK, so
        `enishi keys rotate` calls this."""
        for sealed in _sealed_fields(type(self)):
            if sealed.index is not None:
                setattr(self, sealed.index_column, sealed.blind_index(getattr(self, sealed.name)))

    def share_key_of(self, owner: Sealable) -> None:
        """Seal this row under `owner`'s key (a contact's emails, a ticket's messages)."""
        self.__dict__["_data_key"] = owner.data_key(create=True)

    def reseal_under(self, owner: Sealable) -> None:
        """Move this row's sealed fields under `owner`'s key, for a row that changes owner (the
        messages of a ticket merged into another)."""
        values = {sealed.name: getattr(self, sealed.name) for sealed in _sealed_fields(type(self))}
        self.share_key_of(owner)
        for name, value in values.items():
            setattr(self, name, value)

    @classmethod
    def bulk_rows(cls, columns: dict, **sealed) -> dict:
        """Rows for a bulk insert of one new record with a key of its own (demo data, benchmarks),
        parents first: its plain `columns` (with its `id` and `created_at`, which dates the key
        too), and its `sealed` fields under a new key, as assigning them would."""
        data_key, key_row = cls.new_key_for(columns["id"], columns["created_at"])
        row = dict(columns)
        for name, value in sealed.items():
            row |= getattr(cls, name).columns(data_key, value)
        return {cls: [row], cls._key_model(): [key_row]}

    def new_key_row(self, created_at: dt.datetime) -> tuple[bytes, dict]:
        """Give this new record (its `id` set, nothing sealed yet) its data key now; the key, and
        its wrapped form as a row of the key table for the caller to insert once the record is
        flushed: keys as rows. A batch of new records (an import's contacts and notes) then costs
        no key object each — construction, attribute events and flush bookkeeping for a row
        nothing in the transaction reads back as an object (the record keeps its key in memory)."""
        data_key, key_row = self.new_key_for(self.id, created_at)  # type: ignore[attr-defined]  # every sealed model's primary key
        self.__dict__["_data_key"] = data_key
        return data_key, key_row

    @classmethod
    def new_key_for(cls, record_id: uuid.UUID, created_at: dt.datetime) -> tuple[bytes, dict]:
        """A new data key for the record `record_id` of this model (one with a key of its own), and
        its wrapped form as a row of the key table naming the record, dated `created_at`: for a
        bulk insert that builds the record as a row too and seals more than its own fields under
        the key (`Sealed.columns`), such as a contact's emails and phones. `bulk_rows` and
        `new_key_row` make their keys with it."""
        key_model, ring = cls._key_model(), crypto.installed()
        data_key, wrapped = ring.new_data_key()
        record_column = key_model.__table__.primary_key.columns[0].name
        return data_key, {record_column: record_id, "wrapped_key": wrapped, "kek_id": ring.current_id, "created_at": created_at}

    @classmethod
    def _key_model(cls):
        return cls.key.property.mapper.class_

    def _new_data_key(self) -> bytes:
        if "key" not in inspect(type(self)).relationships:  # `shares_key`: the key is the owner's
            raise ValueError(f"a new {type(self).__name__} is sealed under its owner's key: call share_key_of(owner) first")
        data_key, wrapped = crypto.installed().new_data_key()
        self.key = self._key_model()(wrapped_key=wrapped, kek_id=crypto.installed().current_id)
        return data_key


class LeanRecord(Sealable):
    """A read-only record of a sealed model built from a row of some of its columns, without an
    ORM object (identity map entry, instrumented attributes, change tracking) for each: what a
    long list shows, such as the timeline entries of a page of contacts (lean records,
    docs/architecture.md). Its `Sealed` fields decrypt and cache as the model's do, and their
    reads name the model, so the access log resolves them with the model's own. Made by
    `lean_record`; nothing is ever written through one."""

    names: ClassVar[tuple[str, ...]]
    id: uuid.UUID  # every sealed model's primary key

    def __init__(self, values: Sequence[Any]) -> None:
        self.__dict__.update(zip(self.names, values, strict=True))

    @classmethod
    def columns(cls) -> list:
        """What a statement selects to build these records, in `names` order (the data key's
        columns are the model's scalar subqueries: the same statement reads them)."""
        return [getattr(cls.sealed_model, name) for name in cls.names]


def lean_record(model: type[Sealable], *, leave_out: tuple[str, ...] = ()) -> type[LeanRecord]:
    """The `LeanRecord` class of `model`: every mapped column, less `leave_out` (a large sealed
    column a list seldom shows); a `Sealed` field whose column is left out is absent."""
    names = tuple(attribute.key for attribute in inspect(model).column_attrs if attribute.key not in leave_out)
    sealed = {field.name: copy.copy(field) for field in _sealed_fields(model) if field.column in names}
    namespace = {"sealed_model": model, "names": names, "__tablename__": getattr(model, "__tablename__"), **sealed}  # noqa: B009 - a mixin's model: mypy does not see its table
    return type(f"Lean{model.__name__}", (LeanRecord,), namespace)


async def people_read(session, reads: set) -> set[uuid.UUID]:
    """The people behind the reads `Sealed` recorded in `personal_reads`: ids as they are, records
    through their model's `subjects_of`, a query per model and batch."""
    people = {read for read in reads if not isinstance(read, tuple)}
    records: dict[type[Sealable], list[uuid.UUID]] = {}
    for model, record_id in (read for read in reads if isinstance(read, tuple)):
        records.setdefault(model, []).append(record_id)
    for model, ids in records.items():
        for start in range(0, len(ids), _SUBJECTS_BATCH):
            if (query := model.subjects_of(ids[start : start + _SUBJECTS_BATCH])) is not None:
                people.update(contact_id for contact_id in (await session.execute(query)).scalars() if contact_id is not None)
    return people


def _sealed_fields(model) -> list[Sealed]:
    return [value for cls in model.__mro__ for value in vars(cls).values() if isinstance(value, Sealed)]


def owns_key(model, key_model) -> None:
    """Seal `model`'s records under keys of their own, rows of `key_model` (a `DataKey` table
    whose primary key is the record's id). The key's columns are read with every record, as
    scalar subqueries of the same statement rather than a joined object (a page of records would
    otherwise build as many key objects); `key` is only written, when a record gets its key."""
    model.key = relationship(key_model, uselist=False, lazy="raise", passive_deletes=True)
    _read_key_with(model, model.__table__.primary_key.columns[0], key_model.__table__.primary_key.columns[0])


def shares_key(model, column: str, key_model, key_column: str) -> None:
    """Seal `model`'s rows under another record's key: `model.<column>` names the record, whose
    key row is `key_model.<key_column>`."""
    _read_key_with(model, model.__table__.c[column], key_model.__table__.c[key_column])


def _read_key_with(model, record_column, key_column) -> None:
    # expire_on_flush=False: a flush of the row does not change its key, and reading an expired
    # attribute would need a statement where none can run (outside the session's greenlet).
    for name in ("wrapped_key", "kek_id"):
        setattr(
            model,
            name,
            column_property(
                select(key_column.table.c[name])
                .where(key_column == record_column)
                .correlate_except(key_column.table)
                .scalar_subquery(),
                expire_on_flush=False,
            ),
        )

"""The access log: who read or exported whose personal data, when and why.

Append-only (the database refuses UPDATE and DELETE, see the migration) and hash-chained: each
entry's hash covers its fields and the previous entry's hash, so removing or editing a row
anywhere breaks `verify` from that row on. Entries hold ids and roles, never personal data."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import String, Uuid, bindparam, event, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from enishi.plugin import UnitOfWork, User, UTCDateTime, one_at_a_time

from .models import PrivacyAccessLog

GENESIS = "0" * 64


def _digest(entry: Mapping) -> str:
    fields = [
        entry["at"].astimezone(dt.UTC).isoformat(timespec="microseconds"),
        str(entry["user_id"] or ""),
        entry["roles"],
        str(entry["contact_id"]),
        entry["action"],
        entry["purpose"],
        entry["prev_hash"],
    ]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def _chained_entries(last: str, shared: dict, contact_ids) -> list[dict]:
    """One entry per person after the chain's `last` hash, each hashed exactly as `_digest` hashes
    it (`verify` checks them with `_digest`). A batch's entries share every field but the person
    and the previous hash, so the JSON text `_digest` hashes is put together from the shared
    fields' text, encoded once, around those two: both are plain hex and dashes, which JSON writes
    as they are. A first read hashes some 200 entries; this is a fifth of `_digest`'s cost."""
    at = shared["at"].astimezone(dt.UTC).isoformat(timespec="microseconds")
    before_person = json.dumps([at, str(shared["user_id"] or ""), shared["roles"]], ensure_ascii=False)[:-1] + ', "'
    after_person = '", ' + json.dumps([shared["action"], shared["purpose"]], ensure_ascii=False)[1:-1] + ', "'
    entries = []
    for contact_id in contact_ids:
        digest = hashlib.sha256(f'{before_person}{contact_id}{after_person}{last}"]'.encode()).hexdigest()
        entries.append({**shared, "contact_id": contact_id, "prev_hash": last, "hash": digest})
        last = digest
    return entries


async def append(uow: UnitOfWork, contact_id, action: str, purpose: str) -> None:
    await append_many(uow, [contact_id], action, purpose)


async def append_many(uow: UnitOfWork, contact_ids, action: str, purpose: str) -> int:
    """One entry per person, chained in order, by the unit of work's actor, in the caller's
    transaction. Returns how many."""
    await one_at_a_time(uow, "privacy_access_log")  # one writer at a time extends the chain
    return await _extend_chain(uow, contact_ids, action, purpose)


async def _extend_chain(uow: UnitOfWork, contact_ids, action: str, purpose: str) -> int:
    """`append_many` for a caller already holding the chain's lock. The chain's head and the
    actor's roles come in one statement, the entries go in one (`_insert_entries`)."""
    contact_ids = list(contact_ids)
    if not contact_ids:
        return 0
    session = uow.session
    head = select(PrivacyAccessLog.hash).order_by(PrivacyAccessLog.seq.desc()).limit(1).scalar_subquery()
    roles = select(User.roles).where(User.id == uow.actor_id).scalar_subquery()
    last, actor_roles = (await session.execute(select(head, roles))).one()
    shared = {
        "at": uow.clock.now(),
        "user_id": uow.actor_id,
        "roles": ",".join(sorted(actor_roles or ())),
        "action": action,
        "purpose": purpose,
    }
    entries = _chained_entries(last or GENESIS, shared, contact_ids)
    await _insert_entries(session, entries)
    return len(entries)


async def _insert_entries(session, entries: list[dict]) -> None:
    """A batch of entries in one statement. On PostgreSQL the per-person columns go as three
    arrays read out by `unnest`, one execution inserting every row (an executemany executes the
    INSERT once per row: twice the time for a page's 200 people); elsewhere an executemany, which
    SQLite runs in process."""
    table = PrivacyAccessLog.__table__
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(table.insert(), entries)  # type: ignore[attr-defined]  # a model's __table__ is typed as a FromClause; it is its Table
        return
    shared = entries[0]
    batch = (
        func.unnest(
            bindparam("contact_ids", [e["contact_id"] for e in entries], type_=ARRAY(Uuid)),
            bindparam("prev_hashes", [e["prev_hash"] for e in entries], type_=ARRAY(String)),
            bindparam("hashes", [e["hash"] for e in entries], type_=ARRAY(String)),
        )
        .table_valued("contact_id", "prev_hash", "hash", with_ordinality="position")
        .render_derived(name="batch")
    )
    rows = select(
        bindparam("at", shared["at"], type_=UTCDateTime),
        bindparam("user_id", shared["user_id"], type_=Uuid),
        bindparam("roles", shared["roles"], type_=String),
        batch.c.contact_id,
        bindparam("action", shared["action"], type_=String),
        bindparam("purpose", shared["purpose"], type_=String),
        batch.c.prev_hash,
        batch.c.hash,
    ).order_by(batch.c.position)  # the rows take their `seq` in the chain's order
    columns = ["at", "user_id", "roles", "contact_id", "action", "purpose", "prev_hash", "hash"]
    await session.execute(table.insert().from_select(columns, rows))  # type: ignore[attr-defined]  # as above


# (user, person) → the business day of their last logged read, in this process.
_logged_reads: dict[tuple, dt.date] = {}


async def record_reads(uow: UnitOfWork, contact_ids) -> int:
    """A `read` entry for each person the actor read, once per business day: paging through the
    same people again costs nothing after the first time (the volume stays bounded by people read
    per user and day, not by requests). Written in the caller's transaction, which commits before
    the response is sent. Returns how many entries were written."""
    day = uow.clock.now().astimezone(uow.settings.zone).date()
    fresh = [c for c in contact_ids if _logged_reads.get((uow.actor_id, c)) != day]
    if not fresh:
        return 0
    await one_at_a_time(uow, "privacy_access_log")  # before the check: two requests at once log once
    day_start = dt.datetime.combine(day, dt.time(), tzinfo=uow.settings.zone)
    logged = set(
        (
            await uow.session.execute(
                select(PrivacyAccessLog.contact_id).where(
                    PrivacyAccessLog.contact_id.in_(fresh),
                    PrivacyAccessLog.user_id == uow.actor_id,
                    PrivacyAccessLog.action == "read",
                    PrivacyAccessLog.at >= day_start,
                )
            )
        ).scalars()
    )
    written = await _extend_chain(uow, sorted(set(fresh) - logged), "read", "crm")
    if len(_logged_reads) > 100_000:  # bounded memory; forgetting only costs a lookup
        _logged_reads.clear()
    _logged_reads.update(((uow.actor_id, c), day) for c in logged)

    def remember_written(_session) -> None:
        _logged_reads.update(((uow.actor_id, c), day) for c in fresh)

    # What this transaction writes is remembered only once it is committed: rolled back, the
    # next read must log it again.
    event.listen(uow.session.sync_session, "after_commit", remember_written, once=True)
    return written


@dataclass
class Verification:
    valid: bool
    entries: int
    first_broken_seq: int | None = None


async def verify(session) -> Verification:
    previous, count = GENESIS, 0
    for entry in (await session.execute(select(PrivacyAccessLog.__table__).order_by(PrivacyAccessLog.seq))).mappings():
        if entry["prev_hash"] != previous or _digest(entry) != entry["hash"]:
            return Verification(False, count, entry["seq"])
        previous, count = entry["hash"], count + 1
    return Verification(True, count)

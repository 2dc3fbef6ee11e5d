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

from sqlalchemy import event, select

from enishi.plugin import UnitOfWork, User, one_at_a_time

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


async def append(uow: UnitOfWork, contact_id, action: str, purpose: str) -> None:
    await append_many(uow, [contact_id], action, purpose)


async def append_many(uow: UnitOfWork, contact_ids, action: str, purpose: str) -> int:
    """One entry per person, chained in order, by the unit of work's actor, all in one statement
    (an executemany, in the caller's transaction): a page's first read logs some 200 people, and
    as ORM rows each was an `INSERT … RETURNING` of its own on SQLite. Returns how many."""
    session = uow.session
    await one_at_a_time(uow, "privacy_access_log")  # one writer at a time extends the chain
    last = (
        await session.execute(select(PrivacyAccessLog.hash).order_by(PrivacyAccessLog.seq.desc()).limit(1))
    ).scalar() or GENESIS
    user = await session.get(User, uow.actor_id) if uow.actor_id else None
    roles, now, entries = ",".join(sorted(user.roles)) if user else "", uow.clock.now(), []
    for contact_id in contact_ids:
        entry = {
            "at": now,
            "user_id": uow.actor_id,
            "roles": roles,
            "contact_id": contact_id,
            "action": action,
            "purpose": purpose,
            "prev_hash": last,
        }
        entry["hash"] = last = _digest(entry)
        entries.append(entry)
    if entries:
        await session.execute(PrivacyAccessLog.__table__.insert(), entries)  # type: ignore[attr-defined]  # a model's __table__ is typed as a FromClause; it is its Table
    return len(entries)


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
    written = await append_many(uow, sorted(set(fresh) - logged), "read", "crm")
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

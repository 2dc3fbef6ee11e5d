"""The access log: who read or exported whose personal data, when and why.

Append-only (the database refuses UPDATE and DELETE, see the migration) and hash-chained: each
entry's hash covers its fields and the previous entry's hash, so removing or editing a row
anywhere breaks `verify` from that row on. Entries hold ids and roles, never personal data."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select

from enishi.models import User
from enishi.runtime import UnitOfWork
from enishi.services.common import one_at_a_time

from .models import PrivacyAccessLog

GENESIS = "0" * 64


def _digest(entry: PrivacyAccessLog) -> str:
    fields = [entry.at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"), str(entry.user_id or ""), entry.roles, str(entry.contact_id), entry.action, entry.purpose,
              entry.prev_hash]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


async def append(uow: UnitOfWork, contact_id, action: str, purpose: str) -> PrivacyAccessLog:
    session = uow.session
    await one_at_a_time(uow, "privacy_access_log")  # one writer at a time extends the chain
    last = (await session.execute(select(PrivacyAccessLog.hash).order_by(PrivacyAccessLog.seq.desc()).limit(1))).scalar()
    user = await session.get(User, uow.actor_id) if uow.actor_id else None
    entry = PrivacyAccessLog(at=uow.clock.now(), user_id=uow.actor_id, roles=",".join(sorted(user.roles)) if user else "",
                             contact_id=contact_id, action=action, purpose=purpose, prev_hash=last or GENESIS)
    entry.hash = _digest(entry)
    session.add(entry)
    await session.flush()
    return entry


@dataclass
class Verification:
    valid: bool
    entries: int
    first_broken_seq: int | None = None


async def verify(session) -> Verification:
    previous, count = GENESIS, 0
    for entry in (await session.execute(select(PrivacyAccessLog).order_by(PrivacyAccessLog.seq))).scalars():
        if entry.prev_hash != previous or _digest(entry) != entry.hash:
            return Verification(False, count, entry.seq)
        previous, count = entry.hash, count + 1
    return Verification(True, count)

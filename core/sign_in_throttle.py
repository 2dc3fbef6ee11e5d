"""Console sign-in throttling: attempts that did not sign someone in (a wrong password, a link
asked for, a link that does not work) are counted per account and per client address, and once
either count reaches its limit within the window, sign-in from that account or address is refused
until the window ends.

The counts live in the database (`SignInThrottle`), so every server process of a deployment counts
the same attempts; the rows are keyed by an HMAC under the key-encryption key (the key ring's blind
index), so neither an e-mail nor a client address can be read back from them — an unkeyed hash of
an IPv4 address is undone by trying all four billion. A key rotation starts the counts afresh."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .crypto import installed as key_ring
from .models import SignInThrottle
from .normalize import normalize_email
from .runtime import Runtime

WINDOW = dt.timedelta(minutes=15)
# One person mistyping gets five tries; one office behind a single address, twenty between them.
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20


@dataclass(frozen=True)
class ThrottleKey:
    key_hash: str
    limit: int


def account_key(email: str) -> ThrottleKey:
    return ThrottleKey(key_ring().blind_index(f"sign-in-account:{normalize_email(email)}"), ACCOUNT_LIMIT)


def address_key(address: str) -> ThrottleKey:
    return ThrottleKey(key_ring().blind_index(f"sign-in-address:{address}"), ADDRESS_LIMIT)


async def blocked_until(runtime: Runtime, keys: list[ThrottleKey]) -> dt.datetime | None:
    """When sign-in opens again for the first blocked of `keys`, or None if none is blocked."""
    limits = {key.key_hash: key.limit for key in keys}
    now = runtime.clock.now()
    async with runtime.read_session() as session:
        rows = (await session.execute(select(SignInThrottle).where(SignInThrottle.key_hash.in_(limits)))).scalars().all()
    ends = [
        row.window_started_at + WINDOW
        for row in rows
        if row.failures >= limits[row.key_hash] and row.window_started_at + WINDOW > now
    ]
    return max(ends, default=None)


async def record_failure(runtime: Runtime, keys: list[ThrottleKey]) -> None:
    """Count one more attempt against each key (a new window once the last one ended)."""
    try:
        await _count(runtime, keys)
    except IntegrityError:
        # Another process inserted the first row of one of these keys meanwhile: count again, now
        # as an update of its row.
        await _count(runtime, keys)


async def _count(runtime: Runtime, keys: list[ThrottleKey]) -> None:
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        for key in keys:
            statement = select(SignInThrottle).where(SignInThrottle.key_hash == key.key_hash).with_for_update()
            row = (await uow.session.execute(statement)).scalar_one_or_none()
            if row is None:
                uow.session.add(SignInThrottle(key_hash=key.key_hash, failures=1, window_started_at=now))
            elif row.window_started_at + WINDOW <= now:
                row.failures, row.window_started_at = 1, now
            else:
                row.failures += 1
        await uow.session.flush()


async def clear(runtime: Runtime, key: ThrottleKey) -> None:
    """Forget an account's attempts once it signed in."""
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(delete(SignInThrottle).where(SignInThrottle.key_hash == key.key_hash))

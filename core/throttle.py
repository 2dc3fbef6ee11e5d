"""Throttles: attempts counted per key (an account, a client address) in a window, and refused once
a key's count reaches its throttle's limit, until the window ends. Console sign-in counts the
attempts that did not sign someone in, per account and per client address; the privacy plugin
counts a data subject's requests per client address (through the kit's `Throttle`).

The counts live in the database (`ThrottleCount`), so every server process of a deployment counts
the same attempts; the rows are keyed by an HMAC under the key-encryption key (the key ring's blind
index), so neither an e-mail nor a client address can be read back from them — an unkeyed hash of
an IPv4 address is undone by trying all four billion. A key rotation starts the counts afresh. The
daily `core.purge_expired` job deletes the counts whose window ended."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .crypto import installed as key_ring
from .models import ThrottleCount
from .normalize import normalize_email

if TYPE_CHECKING:  # annotations only: the runtime imports the core's hooks, which run these
    from .runtime import Runtime, UnitOfWork


@dataclass(frozen=True)
class Throttle:
    """At most `limit` attempts per key within `window` (from the key's first attempt); `scope`
    names what is counted, so that two throttles never share a key's count."""

    scope: str
    limit: int
    window: dt.timedelta

    def _key(self, value: str) -> ThrottleKey:
        """The key of `value` (an account, a client address): only its blind index is stored."""
        return ThrottleKey(key_ring().blind_index(f"{self.scope}:{value}"), self)

    async def take(self, runtime: Runtime, value: str) -> dt.datetime | None:
        """Count one attempt for `value` unless its count is at the limit: then count nothing and
        answer when attempts open again (for a 429's Retry-After). Checking and counting are one
        transaction, so attempts made at once cannot all slip under the limit."""
        return await take(runtime, [self._key(value)])

    @staticmethod
    def retry_after(runtime: Runtime, until: dt.datetime) -> str:
        """The Retry-After header of a 429 answered because `take` said `until`."""
        return retry_after(until, runtime.clock.now())


@dataclass(frozen=True)
class ThrottleKey:
    key_hash: str
    throttle: Throttle


# Sign-in: one person mistyping gets five tries; one office behind a single address, twenty between them.
SIGN_IN_WINDOW = dt.timedelta(minutes=15)
SIGN_IN_ACCOUNT = Throttle("sign-in-account", 5, SIGN_IN_WINDOW)
SIGN_IN_ADDRESS = Throttle("sign-in-address", 20, SIGN_IN_WINDOW)


def account_key(email: str) -> ThrottleKey:
    return SIGN_IN_ACCOUNT._key(normalize_email(email))


def address_key(address: str) -> ThrottleKey:
    return SIGN_IN_ADDRESS._key(address)


def _blocked(row: ThrottleCount, key: ThrottleKey, now: dt.datetime) -> bool:
    return row.attempts >= key.throttle.limit and row.window_ends_at > now


async def blocked_until(runtime: Runtime, keys: list[ThrottleKey]) -> dt.datetime | None:
    """When attempts open again for the blocked ones of `keys` (the latest), or None if none is blocked."""
    by_hash = {key.key_hash: key for key in keys}
    now = runtime.clock.now()
    async with runtime.read_session() as session:
        rows = (await session.execute(select(ThrottleCount).where(ThrottleCount.key_hash.in_(by_hash)))).scalars().all()
    return max((row.window_ends_at for row in rows if _blocked(row, by_hash[row.key_hash], now)), default=None)


async def record(runtime: Runtime, keys: list[ThrottleKey]) -> None:
    """Count one more attempt against each key (in a new window once the last one ended)."""
    await _counting(runtime, keys, refuse_when_blocked=False)


async def take(runtime: Runtime, keys: list[ThrottleKey]) -> dt.datetime | None:
    """Count one attempt against each key, unless one of them is blocked: then count nothing and
    answer when it opens again."""
    return await _counting(runtime, keys, refuse_when_blocked=True)


async def _counting(runtime: Runtime, keys: list[ThrottleKey], *, refuse_when_blocked: bool) -> dt.datetime | None:
    async def count(uow: UnitOfWork) -> dt.datetime | None:
        now = runtime.clock.now()
        rows = {}
        for key in keys:
            statement = select(ThrottleCount).where(ThrottleCount.key_hash == key.key_hash).with_for_update()
            rows[key] = (await uow.session.execute(statement)).scalar_one_or_none()
        if refuse_when_blocked:
            ends = [row.window_ends_at for key, row in rows.items() if row is not None and _blocked(row, key, now)]
            if ends:
                return max(ends)
        for key, row in rows.items():
            if row is None:
                uow.session.add(ThrottleCount(key_hash=key.key_hash, attempts=1, window_ends_at=now + key.throttle.window))
            elif row.window_ends_at <= now:
                row.attempts, row.window_ends_at = 1, now + key.throttle.window
            else:
                row.attempts += 1
        await uow.session.flush()
        return None

    try:
        async with runtime.unit_of_work() as uow:
            return await count(uow)
    except IntegrityError:
        # Another process inserted the first row of one of these keys meanwhile: count again, now
        # as an update of its row (locked, so this time nothing can come between).
        async with runtime.unit_of_work() as uow:
            return await count(uow)


async def clear(runtime: Runtime, key: ThrottleKey) -> None:
    """Forget a key's attempts (an account's, once it signed in)."""
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(delete(ThrottleCount).where(ThrottleCount.key_hash == key.key_hash))


async def purge_expired(uow: UnitOfWork) -> None:
    """Delete the counts whose window ended: they count nothing any more."""
    await uow.session.execute(delete(ThrottleCount).where(ThrottleCount.window_ends_at <= uow.clock.now()))


def client_address(request) -> str:
    """A Starlette request's client address, as the ASGI server reports it (behind a proxy, run the
    server so that it trusts the proxy's forwarded address): what a throttle per client counts."""
    return request.client.host if request.client else "unknown"


def retry_after(until: dt.datetime, now: dt.datetime) -> str:
    """A Retry-After header's value: whole seconds until `until`, at least one."""
    return str(max(1, int((until - now).total_seconds())))

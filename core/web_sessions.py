"""Console sign-in: a password checked against its scrypt hash, and server-side sessions of which
only the SHA-256 of the id is kept, so a copy of the database signs no one in.

A session ends at sign-out, at its expiry, and at the first request after its user's roles changed
or the user was deactivated (the roles held at sign-in are kept with it and compared)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from .auth import check_password_strength, hash_password, hash_token, verify_password
from .models import ConsoleAccount, ConsoleSession, User
from .normalize import normalize_email

if TYPE_CHECKING:  # annotations only: the runtime imports the core's hooks, which run these
    from .runtime import Runtime, UnitOfWork

SESSION_LIFETIME = dt.timedelta(hours=8)


@dataclass(frozen=True)
class SignedIn:
    """The user of a live session, as of this request."""

    user_id: uuid.UUID
    display_name: str
    roles: frozenset[str]
    ui_locale: str | None
    japanese_era: bool


async def _account(session, user_id: uuid.UUID) -> ConsoleAccount:
    account = await session.get(ConsoleAccount, user_id)
    if account is None:
        account = ConsoleAccount(user_id=user_id)
        session.add(account)
    return account


async def set_password(session, user_id: uuid.UUID, password: str) -> None:
    """Give a user a console password (at least MIN_PASSWORD_LENGTH characters), replacing theirs."""
    check_password_strength(password)
    (await _account(session, user_id)).password_hash = hash_password(password)


async def check_password(runtime: Runtime, email: str, password: str) -> User | None:
    """The active user with this address and password, or None (in the same time either way)."""
    async with runtime.read_session() as session:
        row = (
            await session.execute(
                select(User, ConsoleAccount.password_hash)
                .outerjoin(ConsoleAccount, ConsoleAccount.user_id == User.id)
                .where(User.email == normalize_email(email))
            )
        ).first()
    matches = verify_password(password, row.password_hash if row is not None else None)
    return row.User if matches and row is not None and row.User.is_active else None


async def open_session(runtime: Runtime, user: User) -> str:
    """A new session of `user`; its id, which only the cookie will hold."""
    session_id = secrets.token_urlsafe(32)
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        uow.session.add(
            ConsoleSession(
                session_hash=hash_token(session_id),
                user_id=user.id,
                roles=sorted(user.roles),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return session_id


async def end_session(runtime: Runtime, session_id: str) -> None:
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(delete(ConsoleSession).where(ConsoleSession.session_hash == hash_token(session_id)))


async def purge_expired(uow: UnitOfWork) -> None:
    """Delete the sessions past their expiry that no request came to end."""
    await uow.session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= uow.clock.now()))


async def signed_in(runtime: Runtime, session_id: str) -> SignedIn | None:
    """The user of a live session, or None; a session that must end (expired, roles changed, user
    deactivated) is deleted here."""
    async with runtime.read_session() as session:
        row = (
            await session.execute(
                select(ConsoleSession, User, ConsoleAccount.ui_locale, ConsoleAccount.japanese_era)
                .join(User, User.id == ConsoleSession.user_id)
                .outerjoin(ConsoleAccount, ConsoleAccount.user_id == User.id)
                .where(ConsoleSession.session_hash == hash_token(session_id))
            )
        ).first()
    if row is None:
        return None
    stored, user, ui_locale, japanese_era = row
    if stored.expires_at <= runtime.clock.now() or not user.is_active or sorted(user.roles) != stored.roles:
        await end_session(runtime, session_id)
        return None
    return SignedIn(user.id, user.display_name, frozenset(user.roles), ui_locale, bool(japanese_era))


async def set_preferences(runtime: Runtime, user_id: uuid.UUID, locale: str, japanese_era: bool | None) -> None:
    """The console language, and the calendar of its dates unless `japanese_era` is None."""
    async with runtime.unit_of_work() as uow:
        account = await _account(uow.session, user_id)
        account.ui_locale = locale
        if japanese_era is not None:
            account.japanese_era = japanese_era

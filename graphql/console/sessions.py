"""Console sign-in and sessions: a password checked against its scrypt hash, a server-side session
whose id travels only in a Secure, HttpOnly, SameSite=Strict cookie, and a CSRF token on every form.

A session ends at sign-out, at its expiry, and at the first request after its user's roles changed
or the user was deactivated (the roles held at sign-in are kept with it and compared)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.responses import Response

from enishi.auth import Viewer, hash_token, verify_password
from enishi.models import ConsoleSession, User
from enishi.normalize import normalize_email
from enishi.runtime import Runtime

CONSOLE_ROLES = frozenset({"compliance", "admin"})
SESSION_COOKIE = "enishi_console"
# Before sign-in there is no session to bind a CSRF token to: the sign-in form's token is also set
# as a cookie and both must match (the double-submit pattern), so no other site can sign someone in.
SIGN_IN_COOKIE = "enishi_console_signin"
SESSION_LIFETIME = dt.timedelta(hours=8)
COOKIE_PATH = "/console"


@dataclass(frozen=True)
class Staff:
    """The signed-in user of a console request."""

    session_id: str
    user_id: object
    display_name: str
    ui_locale: str | None
    viewer: Viewer

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.session_id)


def csrf_token_for(session_id: str) -> str:
    """Derived from the session id, which only the browser holding the cookie knows."""
    return hmac.new(session_id.encode(), b"console-csrf", hashlib.sha256).hexdigest()


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")


async def check_password(runtime: Runtime, email: str, password: str) -> User | None:
    """The active user with this address and password, or None (in the same time either way)."""
    async with runtime.read_session() as session:
        user = (await session.execute(select(User).where(User.email == normalize_email(email)))).scalar_one_or_none()
    matches = verify_password(password, user.password_hash if user is not None else None)
    return user if matches and user is not None and user.is_active else None


async def open_session(runtime: Runtime, user: User) -> str:
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


async def current_staff(runtime: Runtime, request: Request) -> Staff | None:
    """The request's signed-in user, or None; a session that must end (expired, roles changed,
    user deactivated) is deleted here."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or len(session_id) > 100:
        return None
    async with runtime.read_session() as session:
        row = (
            await session.execute(
                select(ConsoleSession, User)
                .join(User, User.id == ConsoleSession.user_id)
                .where(ConsoleSession.session_hash == hash_token(session_id))
            )
        ).first()
    if row is None:
        return None
    stored, user = row
    if stored.expires_at <= runtime.clock.now() or not user.is_active or sorted(user.roles) != stored.roles:
        await end_session(runtime, session_id)
        return None
    roles = frozenset(user.roles)
    viewer = Viewer(user_id=user.id, roles=roles, permissions=runtime.permissions.for_roles(roles))
    return Staff(session_id, user.id, user.display_name, user.ui_locale, viewer)


async def set_locale(runtime: Runtime, staff: Staff, locale: str) -> None:
    async with runtime.unit_of_work() as uow:
        user = await uow.session.get(User, staff.user_id)
        if user is not None:
            user.ui_locale = locale


def may_use_console(roles) -> bool:
    return bool(CONSOLE_ROLES & set(roles))


def same_token(sent: object, expected: str | None) -> bool:
    return isinstance(sent, str) and expected is not None and hmac.compare_digest(sent.encode(), expected.encode())

"""The console's side of sign-in (enishi.web_sessions keeps the sessions): the session cookie
(HttpOnly, SameSite=Strict, Secure when served over HTTPS) and the CSRF token every form carries."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from enishi.auth import Viewer
from enishi.runtime import Runtime
from enishi.web_sessions import signed_in

CONSOLE_ROLES = frozenset({"compliance", "admin"})
SESSION_COOKIE = "enishi_console"
# Before sign-in there is no session to bind a CSRF token to: the sign-in form's token is also set
# as a cookie and both must match (the double-submit pattern), so no other site can sign someone in.
SIGN_IN_COOKIE = "enishi_console_signin"
COOKIE_PATH = "/console"


@dataclass(frozen=True)
class Staff:
    """The signed-in user of a console request."""

    session_id: str
    user_id: uuid.UUID
    display_name: str
    ui_locale: str | None
    japanese_era: bool
    viewer: Viewer

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.session_id)


def csrf_token_for(session_id: str) -> str:
    """Derived from the session id, which only the browser holding the cookie knows."""
    return hmac.new(session_id.encode(), b"console-csrf", hashlib.sha256).hexdigest()


def secure_cookies(request: Request) -> bool:
    """Whether the cookies set are `Secure` (sent back over HTTPS only): when the server's public
    address (ENISHI_PUBLIC_URL) is https, or this request came over https. A server reached over
    plain HTTP (a development box on the office network) sets them without it: a browser would drop
    a Secure cookie from a plain-HTTP answer, and no form could be sent."""
    public_url = request.app.state.runtime.settings.public_url
    return request.url.scheme == "https" or public_url.lower().startswith("https://")


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None = None, path: str = COOKIE_PATH
) -> None:
    """An HttpOnly, SameSite=Strict cookie for `path` (until the browser closes, without `max_age`),
    Secure as `secure_cookies` says."""
    secure = secure_cookies(request)
    response.set_cookie(name, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="strict")


def delete_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=secure_cookies(request), httponly=True, samesite="strict")


async def current_staff(runtime: Runtime, request: Request) -> Staff | None:
    """The request's signed-in user, or None."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or len(session_id) > 100:
        return None
    user = await signed_in(runtime, session_id)
    if user is None:
        return None
    viewer = Viewer(user_id=user.user_id, roles=user.roles, permissions=runtime.permissions.for_roles(user.roles))
    return Staff(session_id, user.user_id, user.display_name, user.ui_locale, user.japanese_era, viewer)


def may_use_console(roles) -> bool:
    return bool(CONSOLE_ROLES & set(roles))


def same_token(sent: object, expected: str | None) -> bool:
    return isinstance(sent, str) and expected is not None and hmac.compare_digest(sent.encode(), expected.encode())

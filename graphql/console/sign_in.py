"""Signing in to the console: by password, or by a one-time link sent by mail (enishi.sign_in_links),
both throttled per account and per client address (enishi.throttle), both ending in the same
kind of session (enishi.web_sessions).

Before sign-in there is no session to bind a CSRF token to: each sign-in form's token is also set as
a cookie and both must match (the double-submit pattern), so no other site can sign someone in."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from enishi.settings import ConfigError
from enishi.sign_in_links import LINK_LIFETIME, IssuedLink, issue_link, redeem_link, send_link
from enishi.throttle import ThrottleKey, account_key, address_key, blocked_until, clear, client_address, record, retry_after
from enishi.web_sessions import SESSION_LIFETIME, check_password, open_session

from .app import SECURITY_HEADERS, Console, read_form
from .sessions import COOKIE_PATH, SESSION_COOKIE, SIGN_IN_COOKIE, delete_cookie, may_use_console, same_token, set_cookie

if TYPE_CHECKING:  # a type only: the console reaches users through the core's session services
    from enishi.models import User

log = logging.getLogger("enishi.http")
LINK_PATH = f"{COOKIE_PATH}/sign-in/link"
MAX_FIELD = 1000


class SignIn:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.runtime = console.runtime

    def form(
        self, request: Request, template: str = "sign_in.html", status: int = 200, headers: dict | None = None, **values
    ) -> Response:
        """A sign-in page with a fresh double-submit token (`sign_in_token`) in its forms and cookie."""
        token = secrets.token_urlsafe(32)
        response = self.console.render(request, template, None, status=status, sign_in_token=token, **values)
        response.headers.update(headers or {})
        set_cookie(response, request, SIGN_IN_COOKIE, token, max_age=3600)
        return response

    async def page(self, request: Request) -> Response:
        return self.form(request)

    async def _fields(self, request: Request) -> dict[str, str] | Response:
        """The form's text fields, or the refusal: 400 for a form Starlette will not read (over
        1,000 fields), 403 when its CSRF token is not the sign-in cookie's."""
        fields = await read_form(request)
        if fields is None:
            return self.console.refuse(request, None, 400, "unreadable-form")
        if not same_token(fields.get("csrf"), request.cookies.get(SIGN_IN_COOKIE)):
            return self.console.refuse(request, None, 403, "csrf")
        return {name: value for name, value in fields.items() if isinstance(value, str) and len(value) <= MAX_FIELD}

    async def _too_many(self, request: Request, keys: list[ThrottleKey]) -> Response | None:
        """The 429 page while any of `keys` is blocked, saying when to try again."""
        until = await blocked_until(self.runtime, keys)
        if until is None:
            return None
        headers = {"Retry-After": retry_after(until, self.runtime.clock.now())}
        return self.form(request, status=429, headers=headers, error="too-many", retry_at=until)

    def _address(self, request: Request) -> ThrottleKey:
        return address_key(client_address(request))

    async def password(self, request: Request) -> Response:
        fields = await self._fields(request)
        if isinstance(fields, Response):
            return fields
        email, password = fields.get("email", ""), fields.get("password")
        if not email or password is None:
            return self.form(request, status=400, error="bad-credentials")
        keys = [account_key(email), self._address(request)]
        if refused := await self._too_many(request, keys):
            return refused
        user = await check_password(self.runtime, email, password)
        if user is None:
            await record(self.runtime, keys)
            return await self._too_many(request, keys) or self.form(request, status=401, error="bad-credentials")
        return await self._signed_in(request, user)

    async def ask_link(self, request: Request) -> Response:
        """Mail a link to a console user's address: the same answer for any address, the mail sent
        after it (the time to answer tells nothing either)."""
        fields = await self._fields(request)
        if isinstance(fields, Response):
            return fields
        email = fields.get("email", "").strip()
        if not email:
            return self.form(request, status=400, error="no-email")
        # Asking counts as an attempt: links cannot be sent to one address, or from one client, without end.
        keys = [account_key(email), self._address(request)]
        if refused := await self._too_many(request, keys):
            return refused
        await record(self.runtime, keys)
        issued = await issue_link(self.runtime, email, may_use_console)
        response = self.form(request, notice="link-sent", minutes=int(LINK_LIFETIME.total_seconds() // 60))
        if issued is not None:
            response.background = BackgroundTask(self._mail, issued)
        return response

    async def _mail(self, issued: IssuedLink) -> None:
        try:
            await send_link(self.runtime, issued, LINK_PATH)
        except (OSError, ConfigError) as error:  # answered already: the log is where a failure can go
            # The type only: an SMTP refusal's text names the recipient.
            log.error("console sign-in link %s not sent: %s", issued.link_id, type(error).__name__)

    async def link_page(self, request: Request) -> Response:
        """The page a mailed link opens: a button, so a mail scanner that fetches links uses none up."""
        token = request.query_params.get("token", "")
        return self.form(request, "sign_in_link.html", link_token=token[:MAX_FIELD])

    async def use_link(self, request: Request) -> Response:
        fields = await self._fields(request)
        if isinstance(fields, Response):
            return fields
        keys = [self._address(request)]
        if refused := await self._too_many(request, keys):
            return refused
        user = await redeem_link(self.runtime, fields.get("token", ""))
        if user is None:
            await record(self.runtime, keys)
            return self.form(request, status=400, error="bad-link")
        return await self._signed_in(request, user)

    async def _signed_in(self, request: Request, user: User) -> Response:
        if not may_use_console(user.roles):
            return self.console.refuse(request, None, 403, "forbidden-role")
        if user.email:
            await clear(self.runtime, account_key(user.email))
        session_id = await open_session(self.runtime, user)
        response = RedirectResponse(f"{COOKIE_PATH}/requests", status_code=303, headers=SECURITY_HEADERS)
        set_cookie(response, request, SESSION_COOKIE, session_id, max_age=int(SESSION_LIFETIME.total_seconds()))
        delete_cookie(response, request, SIGN_IN_COOKIE)
        return response

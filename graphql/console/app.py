"""The console's frame: rendering, the signed-in guard, sign-out and the preferences (language,
calendar); sign-in is sign_in.py's, the pages are pages.py's.

Every answer carries a strict Content-Security-Policy (nothing but the console's own stylesheet
may load; no script at all), refuses framing and caching; every POST carries the CSRF token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from enishi.runtime import Runtime
from enishi.web_sessions import end_session, set_preferences

from . import i18n
from .sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    Staff,
    current_staff,
    delete_cookie,
    may_use_console,
    same_token,
)

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
CALENDARS = ("gregorian", "japanese")
Handler = Callable[[Request, Staff], Awaitable[Response]]


async def read_form(request: Request) -> FormData | None:
    """The posted form, or None when Starlette refuses to read it (over 1,000 fields, a broken
    multipart body): its own refusal would be a plain-text 400 rather than a page."""
    try:
        return await request.form()
    except HTTPException:
        return None


class Console:
    def __init__(self, runtime: Runtime, schema) -> None:
        self.runtime, self.schema = runtime, schema
        templates = FileSystemLoader(HERE / "templates")
        self.templates = Environment(loader=templates, autoescape=select_autoescape(), auto_reload=False)

    def locale_for(self, request: Request, staff: Staff | None = None) -> str:
        if staff is not None and staff.ui_locale in i18n.LOCALES:
            return staff.ui_locale
        return i18n.from_accept_language(request.headers.get("accept-language", ""))

    def gettext(self, request: Request, staff: Staff | None):
        return i18n.translations(self.locale_for(request, staff)).gettext

    def render(self, request: Request, template: str, staff: Staff | None, status: int = 200, **values) -> HTMLResponse:
        """The page in the reader's language, with the console's security headers."""
        locale = self.locale_for(request, staff)
        html = self.templates.get_template(template).render(
            _=i18n.translations(locale).gettext,
            locale=locale,
            fmt=i18n.Formatter(locale, self.runtime.settings.zone, staff is not None and staff.japanese_era),
            staff=staff,
            csrf=staff.csrf_token if staff else None,
            request=request,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def refuse(self, request: Request, staff: Staff | None, status: int, message: str) -> HTMLResponse:
        return self.render(request, "refused.html", staff, status=status, message=message)

    def page(self, handler: Handler):
        """A handler for signed-in console users: others go to the sign-in page (a GET) or are
        refused (a POST); a POST without the session's CSRF token is refused with 403."""

        async def endpoint(request: Request) -> Response:
            staff = await current_staff(self.runtime, request)
            if staff is None:
                if request.method == "GET":
                    return RedirectResponse(f"{COOKIE_PATH}/sign-in", status_code=303, headers=SECURITY_HEADERS)
                return self.refuse(request, None, 401, "sign-in required")
            if not may_use_console(staff.viewer.roles):
                return self.refuse(request, staff, 403, "forbidden-role")
            if request.method == "POST":
                # Read once here: the handler's own `request.form()` gets the same, already parsed.
                fields = await read_form(request)
                if fields is None:
                    return self.refuse(request, staff, 400, "unreadable-form")
                if not same_token(fields.get("csrf"), staff.csrf_token):
                    return self.refuse(request, staff, 403, "csrf")
            return await handler(request, staff)

        return endpoint

    async def sign_out(self, request: Request, staff: Staff) -> Response:
        await end_session(self.runtime, staff.session_id)
        response = RedirectResponse(f"{COOKIE_PATH}/sign-in", status_code=303, headers=SECURITY_HEADERS)
        delete_cookie(response, request, SESSION_COOKIE)
        return response

    async def language(self, request: Request, staff: Staff) -> Response:
        """The language and, when the form has it, the calendar of dates (`gregorian`, `japanese`)."""
        fields = await request.form()
        locale, calendar = fields.get("locale"), fields.get("calendar")
        if locale not in i18n.LOCALES:
            return self.refuse(request, staff, 400, "bad-locale")
        if calendar not in (None, *CALENDARS):
            return self.refuse(request, staff, 400, "bad-calendar")
        assert isinstance(locale, str)  # one of i18n.LOCALES, checked above
        await set_preferences(self.runtime, staff.user_id, locale, None if calendar is None else calendar == "japanese")
        # Back to the page the switch was on: a path of the console only, never another site.
        back = fields.get("next")
        target = back if isinstance(back, str) and back.startswith(COOKIE_PATH + "/") and "//" not in back else COOKIE_PATH
        return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)

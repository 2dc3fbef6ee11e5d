"""Pages for people who do not sign in — a plugin's data subjects — in the console's look: its
base template and stylesheet, its two languages, its security headers (no script at all).

A plugin keeps its own templates (extending "public.html") and its own gettext catalog; the
console's catalog is the fallback for the strings of the shared base and for the names of purposes
(`purpose_name` in the templates). The language is the page's
`lang` parameter (the switch in the header sets it) or else the browser's Accept-Language. Forms
carry a CSRF token that must match a cookie set with the page (double submit, as the console's
sign-in form does: there is no session to bind it to)."""

from __future__ import annotations

import datetime as dt
import secrets
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from enishi.throttle import client_address, retry_after

from . import i18n
from .app import HERE, SECURITY_HEADERS, read_form
from .sessions import same_token, set_cookie
from .values import PURPOSE_LABELS

PUBLIC_CSRF_COOKIE = "enishi_public_csrf"
_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_FIELD = 20_000


class PublicPages:
    """`templates`: the plugin's template folder; `locale_dir`: its catalogs (`<locale>/LC_MESSAGES/
    messages.mo`); `cookie_path`: the path its pages live under (the CSRF cookie's scope);
    `site_name`: the header's title, a message of the plugin's catalog. Templates get `_`, `locale`,
    `fmt` (dates), `csrf` and `purpose_name(code)`: a purpose of processing or consent by its name in
    the reader's language (the console's names), or as stored when it has none."""

    def __init__(self, templates: Path, locale_dir: Path, cookie_path: str, site_name: str) -> None:
        loader = ChoiceLoader([FileSystemLoader(templates), FileSystemLoader(HERE / "templates")])
        self.templates = Environment(loader=loader, autoescape=select_autoescape(), auto_reload=False)
        self.locale_dir, self.cookie_path, self.site_name = locale_dir, cookie_path, site_name
        self.translations = cache(self._translations)

    def _translations(self, locale: str) -> NullTranslations:
        if locale == "en":  # the source language: the messages are their own English
            return NullTranslations()
        own = Translations.load(str(self.locale_dir), [locale], domain="messages")
        own.add_fallback(i18n.translations(locale))
        return own

    def locale(self, request: Request, form: dict[str, str] | None = None) -> str:
        chosen = (form or {}).get("lang") or request.query_params.get("lang")
        if chosen is not None and chosen in i18n.LOCALES:
            return chosen
        return i18n.from_accept_language(request.headers.get("accept-language", ""))

    def render(
        self, request: Request, template: str, *, status: int = 200, form: dict[str, str] | None = None, **values
    ) -> HTMLResponse:
        """The page in the reader's language, with a CSRF token for its forms (`csrf`) and the
        console's security headers; `form`, when the page answers one, keeps its language."""
        locale = self.locale(request, form)
        sent = request.cookies.get(PUBLIC_CSRF_COOKIE)
        token = sent if sent and len(sent) <= 100 else secrets.token_urlsafe(32)
        _ = self.translations(locale).gettext
        html = self.templates.get_template(template).render(
            _=_,
            locale=locale,
            fmt=i18n.Formatter(locale, request.app.state.runtime.settings.zone),
            staff=None,
            csrf=token,
            request=request,
            site_name=_(self.site_name),
            purpose_name=lambda purpose: _(PURPOSE_LABELS[purpose]) if purpose in PURPOSE_LABELS else purpose,
            languages=[(code, name, _same_page(request, code)) for code, name in LANGUAGE_NAMES],
            **values,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if token != sent:
            set_cookie(response, request, PUBLIC_CSRF_COOKIE, token, path=self.cookie_path)
        return response

    def too_many(self, request: Request, template: str, until: dt.datetime, **values) -> HTMLResponse:
        """`template` answered with 429 Too Many Requests and a Retry-After header, the answer of a
        throttle (`Throttle.take`) blocked until `until`, which the template gets as `retry_at`."""
        response = self.render(request, template, status=429, retry_at=until, **values)
        response.headers["Retry-After"] = retry_after(until, request.app.state.runtime.clock.now())
        return response

    @staticmethod
    def client(request: Request) -> str:
        """The client's address, for a throttle per client (`Throttle.take`): the connection's, as
        the ASGI server reports it (behind a proxy, run the server so that it trusts the proxy's
        forwarded address)."""
        return client_address(request)

    def redirect(self, url: str) -> RedirectResponse:
        """On to another page after a form (303: the browser GETs it), with the same headers."""
        return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

    async def from_page(self, request: Request) -> bool:
        """Whether a POST came from a form of these pages (the only ones to carry a `csrf` field),
        rather than from an API client at the same address; a form too odd to read counts, so
        that `form` refuses it with a page."""
        if not _is_form(request):
            return False
        fields = await read_form(request)
        return fields is None or "csrf" in fields

    async def form(self, request: Request) -> dict[str, str] | None:
        """The fields of a form one of these pages served (the first value of each name), or None
        when it is not: another content type, a field too long, or a CSRF token not the cookie's."""
        posted = await read_form(request) if _is_form(request) else None
        if posted is None:
            return None
        fields: dict[str, str] = {}
        for name, value in posted.multi_items():
            if not isinstance(value, str) or len(value) > _MAX_FIELD:
                return None
            fields.setdefault(name, value)
        if not same_token(fields.get("csrf"), request.cookies.get(PUBLIC_CSRF_COOKIE)):
            return None
        return fields


def _same_page(request: Request, locale: str) -> str:
    """This page's address (path and query, no host) in `locale`."""
    url = request.url.include_query_params(lang=locale)
    return f"{url.path}?{url.query}"


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == _FORM_TYPE


# Each language named in itself, so a reader who cannot read the page's can find theirs.
LANGUAGE_NAMES = (("ja", "日本語"), ("en", "English"))

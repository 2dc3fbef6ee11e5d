"""Pages answering a survey through a mailed single-use link (support's CSAT, the insights plugin's
NPS, CSAT and CES): plain HTML, Japanese and English side by side, a form that works without
JavaScript, nothing loaded from anywhere else. Opening the page answers nothing (mail scanners
open links); the form posts back to the same address, which also takes JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from html import escape
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from .errors import InputError

_PAGE = """<!doctype html><html lang="ja"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title><body style="font-family:sans-serif;max-width:32em;margin:2em auto">
{content}</body></html>"""
_FORM = """<h1>{heading}</h1><form method="post">
<p>{choices}</p>{hint}
<p><label>ご意見（任意） / Comment (optional)<br><textarea name="comment" rows="4" cols="40"></textarea></label></p>
<p><button type="submit">送信 / Send</button></p></form>"""
SURVEY_TITLE = "ご意見をお聞かせください / We would like your opinion"
SURVEY_MESSAGES = {
    200: "ありがとうございました。 / Thank you for your answer.",
    400: "選択肢から一つ選んでください。 / Choose one of the values.",
    404: "このリンクは無効です。 / This link is not valid.",
    409: "このアンケートには回答済みです。 / This survey was already answered.",
    410: "このリンクは有効期限が切れています。 / This link has expired.",
}
# The statuses of the typed errors a survey's `submit` raises about its link.
TOKEN_STATUSES = {"INVALID_TOKEN": 404, "ALREADY_ANSWERED": 409, "EXPIRED": 410}


def survey_form(
    heading: Sequence[str], scale: range, *, field: str = "score", hint: str = "", page_title: str = SURVEY_TITLE
) -> HTMLResponse:
    """The answer page: the heading's lines, one radio button per value of `scale` (named
    `field`), an optional hint line under them, a comment box. Texts are escaped here."""
    choices = " ".join(f'<label><input type="radio" name="{escape(field)}" value="{n}" required> {n}</label>' for n in scale)
    content = _FORM.format(
        heading="<br>".join(escape(line) for line in heading),
        choices=choices,
        hint=f"<p><small>{escape(hint)}</small></p>" if hint else "",
    )
    return HTMLResponse(_PAGE.format(title=escape(page_title), content=content))


def _message(page_title: str, message: str, status: int) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(page_title), content=f"<p>{escape(message)}</p>"), status_code=status)


def survey_refusal(code: str, *, page_title: str = SURVEY_TITLE) -> HTMLResponse:
    """The page a link opens when it cannot be answered: `code` is `INVALID_TOKEN` (404),
    `ALREADY_ANSWERED` (409) or `EXPIRED` (410)."""
    status = TOKEN_STATUSES[code]
    return _message(page_title, SURVEY_MESSAGES[status], status)


async def survey_answer_response(
    request: Request,
    submit: Callable[[int, str | None], Awaitable[object]],
    *,
    field: str = "score",
    page_title: str = SURVEY_TITLE,
    messages: dict[int, str] | None = None,
) -> Response:
    """POST to a survey link: reads `{field: n, "comment": "…"}` from the page's form or a JSON
    body, calls `submit(score, comment)` (which raises InputError: `INVALID_TOKEN` → 404,
    `ALREADY_ANSWERED` → 409, `EXPIRED` → 410, anything else → 400) and answers the form with a
    page, JSON with `{"accepted": true}` or `{"error", "code"}`."""
    is_form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    status, code, message = await _submit(request, submit, field, is_form)
    if is_form:
        return _message(page_title, {**SURVEY_MESSAGES, **(messages or {})}[status], status)
    return JSONResponse({"accepted": True} if status == 200 else {"error": message, "code": code}, status_code=status)


async def _submit(request: Request, submit, field: str, is_form: bool) -> tuple[int, str | None, str | None]:
    try:
        raw = await request.body()  # BodyLimit bounds it
        body = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()} if is_form else json.loads(raw or b"{}")
        value, comment = body.get(field, ""), body.get("comment")
        if isinstance(value, bool | float):
            raise TypeError(value)
        score = int(value)
    except (ValueError, TypeError, AttributeError):  # UnicodeDecodeError is a ValueError
        return 400, "BAD_REQUEST", f'send {{"{field}": a whole number}}'
    try:
        await submit(score, comment if isinstance(comment, str) and comment else None)
    except InputError as error:
        code = error.errors[0].code
        return TOKEN_STATUSES.get(code, 400), code, error.errors[0].message
    return 200, None, None

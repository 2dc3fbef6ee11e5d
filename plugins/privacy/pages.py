"""The data subject's own pages, in the console's look (the kit's `PublicPages`), Japanese and
English, no script: making a request and confirming it with the mailed code, the landing of a
consent withdrawal link, and the landing of an export link.

They call the same service functions as the GraphQL mutations and the JSON routes beside them
(intake, consent, export delivery): no other path to the data. They show nothing about anyone:
not whether an address is known, not whose link it is (the purpose or the file's size at most)."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from enishi.plugin import InputError, PublicPages, UserError, parse_global_id, to_global_id

from . import export_delivery, intake, service
from .models import REQUEST_TYPES

HERE = Path(__file__).parent
BASE = "/privacy"


def N_(message: str) -> str:
    """Marks a message for the plugin's catalog (`make catalogs`); the page translates it."""
    return message


PAGES = PublicPages(HERE / "templates", HERE / "locale", BASE, N_("Your personal data"))

# The request types a person may ask for (models.REQUEST_TYPES, by regime), said the way they would say it.
REQUEST_CHOICES = {
    "GDPR": {
        "access": N_("Access: a copy of the data you hold about me"),
        "portability": N_("Portability: my data in a machine-readable file"),
        "rectification": N_("Rectification: correct data about me"),
        "erasure": N_("Erasure: delete the data about me"),
        "restriction": N_("Restriction: stop using my data for now"),
        "objection": N_("Objection: no more direct marketing to me"),
    },
    "APPI": {
        "appi_disclosure": N_("Disclosure of my personal data (APPI Art. 33)"),
        "appi_stop_use": N_("Stop of use or erasure (APPI Art. 35)"),
        "appi_stop_provision": N_("Stop of provision to third parties (APPI Art. 35)"),
    },
}
assert sorted(t for group in REQUEST_CHOICES.values() for t in group) == sorted(REQUEST_TYPES)
REGIME_NAMES = {"GDPR": N_("EU General Data Protection Regulation (GDPR)"), "APPI": N_("Japan's APPI (個人情報保護法)")}

# A service's refusals (userError codes) as a person reads them; the field says where.
PROBLEMS = {
    "REQUIRED": N_("Please fill this in."),
    "INVALID_EMAIL": N_("This is not an email address."),
    "TOO_LONG": N_("This is too long."),
    "INVALID_CHOICE": N_("Choose one of the options."),
    "INVALID_CHARACTERS": N_("This contains characters that cannot be accepted."),
    "RATE_LIMITED": N_("There have been too many requests for this address today. Please try again tomorrow."),
    "INVALID_CODE": N_("This code is not right for this request. Check the mail and try again."),
    "TOO_MANY_ATTEMPTS": N_("Too many wrong codes were entered, so the request was closed. Please make it again."),
    "CODE_EXPIRED": N_("The code has expired. Please make the request again."),
}
OTHER_PROBLEM = N_("This could not be accepted.")
# The per-client throttle's answer (intake.REQUESTS_PER_CLIENT); `%(time)s`: when to try again.
TOO_MANY = N_("Too many requests were sent from your network in the last hour. Please try again after %(time)s.")
# Where a refusal shows on the form: the service's field names, mapped to the form's.
FORM_FIELDS = {"type": "type", "regime": "type", "email": "email", "details": "details", "code": "code"}

REFUSALS = {
    "form": (
        403,
        N_("This form was not sent from this page, or its security token has expired. Go back, reload the page and try again."),
    ),
    "request": (404, N_("This confirmation address is not valid. Please use the address shown when you made the request.")),
    "withdrawal": (404, N_("This withdrawal link is not valid any more.")),
    "export": (410, N_("This download link is not valid, has expired or was already used. Please ask us for a new one.")),
}


def _problems(errors: list[UserError]) -> dict[str, str]:
    """The first refusal of each form field, as a message id."""
    found: dict[str, str] = {}
    for error in errors:
        found.setdefault(FORM_FIELDS.get(error.field or "", "form"), PROBLEMS.get(error.code, OTHER_PROBLEM))
    return found


def _refuse(request: Request, why: str, form: dict[str, str] | None = None) -> Response:
    status, message = REFUSALS[why]
    return PAGES.render(request, "subject_refused.html", status=status, form=form, message=message)


# --- making a request ------------------------------------------------------------------------------


async def new_request(request: Request) -> Response:
    """GET: the request form. POST: the request made; on to the page that takes the mailed code."""
    if request.method == "GET":
        return _request_form(request, {}, {})
    form = await PAGES.form(request)
    if form is None:
        return _refuse(request, "form")
    if until := await intake.REQUESTS_PER_CLIENT.take(request.app.state.runtime, PAGES.client(request)):
        return PAGES.too_many(request, "subject_request.html", until, **_request_form_values(form, {"form": TOO_MANY}))
    values = {name: form.get(name) or None for name in ("type", "email", "details")}
    try:
        async with request.app.state.runtime.unit_of_work() as uow:
            submitted = await intake.submit(uow, values)
    except InputError as error:
        status = 429 if error.errors[0].code == "RATE_LIMITED" else 422
        return _request_form(request, form, _problems(error.errors), status)
    target = {"request": to_global_id("DataSubjectRequest", submitted.id), "lang": PAGES.locale(request, form)}
    return PAGES.redirect(f"{BASE}/requests/confirm?{urlencode(target)}")


def _request_form(request: Request, form: dict[str, str], problems: dict[str, str], status: int = 200) -> Response:
    return PAGES.render(request, "subject_request.html", status=status, **_request_form_values(form, problems))


def _request_form_values(form: dict[str, str], problems: dict[str, str]) -> dict:
    return {"form": form or None, "values": form, "problems": problems, "choices": REQUEST_CHOICES, "regimes": REGIME_NAMES}


async def confirm_request(request: Request) -> Response:
    """GET: the form for the mailed code. POST: the code checked, the request confirmed. The page
    is the same whether or not the address was known: only a right code confirms."""
    if request.method == "GET":
        request_id = request.query_params.get("request", "")
        if not _is_request_id(request_id):
            return _refuse(request, "request")
        return _code_form(request, request_id, None, {})
    form = await PAGES.form(request)
    if form is None:
        return _refuse(request, "form")
    request_id = form.get("request", "")
    if not _is_request_id(request_id):
        return _refuse(request, "request", form)
    # The code as typed on a Japanese keyboard too: full-width digits, spaces between groups.
    code = unicodedata.normalize("NFKC", form.get("code", "")).replace(" ", "")
    try:
        request_uuid = parse_global_id(request_id, "DataSubjectRequest", "request")
        confirmed = await intake.confirm(request.app.state.runtime, request_uuid, code)
    except InputError as error:
        return _code_form(request, request_id, form, _problems(error.errors), 422)
    return PAGES.render(request, "subject_confirmed.html", form=form, executed=confirmed.status != "pending_review")


def _is_request_id(value: str) -> bool:
    try:
        parse_global_id(value, "DataSubjectRequest", "request")
    except InputError:
        return False
    return True


def _code_form(request: Request, request_id: str, form: dict[str, str] | None, problems: dict[str, str], status: int = 200):
    return PAGES.render(request, "subject_confirm.html", status=status, form=form, request_id=request_id, problems=problems)


# --- the links in mails ----------------------------------------------------------------------------


async def withdrawal(request: Request) -> Response:
    """GET: what the link withdraws, and the button that does it (opening a link changes
    nothing: mail scanners open links). POST: withdrawn."""
    try:
        contact_id, purpose = service.read_withdrawal_token(request.app.state.runtime.settings, request.path_params["token"])
    except InputError:
        return _refuse(request, "withdrawal")
    if request.method == "GET":
        return PAGES.render(request, "subject_withdraw.html", purpose=purpose, done=False)
    form = await PAGES.form(request)
    if form is None:
        return _refuse(request, "form")
    try:
        async with request.app.state.runtime.unit_of_work() as uow:
            await service.record_consent(
                uow, contact_id, {"purpose": purpose, "state": "withdrawn", "source": "link", "method": "one_click"}
            )
    except InputError:  # the person was erased since the mail went out
        return _refuse(request, "withdrawal", form)
    return PAGES.render(request, "subject_withdraw.html", form=form, purpose=purpose, done=True)


EXPORT_FILES = {
    "json": ("application/json; charset=utf-8", "personal-data.json"),
    "zip": ("application/zip", "personal-data.zip"),
}


def export_file(fmt: str, content: bytes) -> Response:
    media, name = EXPORT_FILES[fmt]
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    )


async def export(request: Request) -> Response:
    """GET: what the link hands out, and the button that downloads it (the link works once, so
    opening it must not use it up). POST: the file, once."""
    runtime, token = request.app.state.runtime, request.path_params["token"]
    if request.method == "GET":
        async with runtime.read_session() as session:
            found = await export_delivery.describe(session, token, runtime.clock.now())
        if found is None:
            return _refuse(request, "export")
        fmt, size, expires_at = found
        size_kb = max(1, round(size / 1024))
        return PAGES.render(request, "subject_export.html", file_format=fmt, size_kb=size_kb, expires_at=expires_at)
    form = await PAGES.form(request)
    if form is None:
        return _refuse(request, "form")
    async with runtime.unit_of_work() as uow:
        downloaded = await export_delivery.download(uow, token)
    if downloaded is None:
        return _refuse(request, "export", form)
    return export_file(*downloaded)

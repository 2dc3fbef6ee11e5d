"""Data-subject requests (GDPR Arts. 15–21, APPI Arts. 33–35): intake, deadlines, review, and
execution across every installed plugin with one report per plugin.

Modelled on ethyca/fides (request → per-system runs → report) and going further where it falls
short: calendar-month deadlines with one extension, legal holds that keep records through an
erasure and a nightly job that finishes it when they end, retries of only the failed plugins, and
status history kept as proof.

Execution is resumable by construction: every plugin's part is its own transaction that records
its report, so a crash midway leaves finished parts finished, and running the request again
(an expired lease lets another worker take it) completes the rest. Erasure hooks are idempotent."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import secrets
import uuid

from sqlalchemy import LargeBinary, func, or_, select, update

from enishi.plugin import (
    Base,
    Checker,
    Contact,
    ContactEmail,
    DataSubject,
    InputError,
    Sealable,
    UnitOfWork,
    UserError,
    blind_indexes,
    checkpoint,
    decrypt,
    decrypt_bytes,
    delete_contact,
    encrypt,
    is_valid_email,
    normalize_email,
    send_for_event,
    subject_key,
    token_hash,
)

from . import access_log, export, service
from .events import (
    LEGAL_HOLD_PLACED,
    LEGAL_HOLD_RELEASED,
    REQUEST_STATUS_CHANGED,
    RESTRICTED,
    RESTRICTION_LIFTED,
    VERIFICATION_CODE_ISSUED,
)
from .models import (
    OPEN_STATUSES,
    REGIMES,
    REQUEST_TYPES,
    PrivacyExport,
    PrivacyLegalHold,
    PrivacyProvision,
    PrivacyRequest,
    PrivacyRequestEvent,
    PrivacyRequestRun,
    PrivacyRestriction,
)

log = logging.getLogger("enishi.privacy")

COLLECTING = ("access", "portability", "appi_disclosure")
APPI_TYPES = ("appi_disclosure", "appi_stop_use", "appi_stop_provision")
AGENT_CHANNELS = ("phone", "letter", "email", "in_person", "web")
CODE_TTL = dt.timedelta(hours=24)
MAX_CODE_ATTEMPTS = 5
MAX_REQUESTS_PER_ADDRESS_PER_DAY = 3
DEFAULT_LEASE_SECONDS = 15 * 60
LINK_TTL = dt.timedelta(days=7)
DEFAULT_APPI_DAYS = 14
MAX_EXTENSION_MONTHS = 2
# Privacy erases last: its part destroys the subject's key, which the others' parts may still need.
ERASE_LAST = ("core", "privacy")


def _fail(field: str | None, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


# --- deadlines ---------------------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day if it has no such day (31 Jan → 28 Feb),
    as EU Regulation 1182/71 counts periods in months."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def appi_days(settings) -> int:
    return int(settings.extra.get("privacy_appi_response_days", DEFAULT_APPI_DAYS))


def lease(settings) -> dt.timedelta:
    """How long a worker holds a request it runs: longer than any execution takes, since another
    worker may take the request once it ran out (`extra.privacy_request_lease_seconds`)."""
    return dt.timedelta(seconds=int(settings.extra.get("privacy_request_lease_seconds", DEFAULT_LEASE_SECONDS)))


def due_date(settings, regime: str, received_at: dt.datetime, extension_months: int = 0) -> dt.date:
    """GDPR: one calendar month from receipt (Art. 12(3)), plus an extension of up to two months.
    APPI requires answers "without delay"; the working deadline is configurable (14 days by default)."""
    received = received_at.astimezone(settings.zone).date()
    if regime == "gdpr":
        return add_months(received, 1 + extension_months)
    return received + dt.timedelta(days=appi_days(settings))


def _end_of(settings, day: dt.date) -> dt.datetime:
    """The instant a due day ends, in the business's time zone."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=settings.zone).astimezone(dt.UTC)


def local_due_date(settings, request: PrivacyRequest) -> dt.date:
    return (request.due_at.astimezone(settings.zone) - dt.timedelta(microseconds=1)).date()


def days_left(settings, request: PrivacyRequest, now: dt.datetime) -> int:
    return (local_due_date(settings, request) - now.astimezone(settings.zone).date()).days


def is_overdue(request: PrivacyRequest, now: dt.datetime) -> bool:
    return request.status in OPEN_STATUSES and now >= request.due_at


# --- intake ------------------------------------------------------------------------------------


async def _transition(uow: UnitOfWork, request: PrivacyRequest, status: str, note: str | None = None) -> None:
    request.status = status
    uow.session.add(
        PrivacyRequestEvent(request_id=request.id, status=status, note=note, actor_id=uow.actor_id, at=uow.clock.now())
    )
    await uow.session.flush()
    await uow.emit(REQUEST_STATUS_CHANGED, request.id, {"type": request.type, "status": status})


def _regime(check: Checker, data: dict, request_type: str | None) -> str:
    regime = check.choice(data, "regime", REGIMES)
    if request_type in APPI_TYPES:
        if regime == "gdpr":
            check.fail("regime", "APPI request types are answered under the APPI", "INVALID_CHOICE")
        return "appi"
    return regime or "gdpr"


async def _encrypt_details(uow: UnitOfWork, contact_id, details: dict) -> bytes | None:
    details = {k: v for k, v in details.items() if v}
    if not details or contact_id is None:
        return None
    key = await subject_key(uow, contact_id)
    return None if key is None else encrypt(key, json.dumps(details, ensure_ascii=False), b"privacy-request")


async def details_of(uow: UnitOfWork, request: PrivacyRequest) -> dict:
    if request.details is None or request.contact_id is None:
        return {}
    key = await subject_key(uow, request.contact_id)
    return {} if key is None else json.loads(decrypt(key, request.details, b"privacy-request"))


def _new_request(uow: UnitOfWork, request_type: str, regime: str, received_at: dt.datetime, **values) -> PrivacyRequest:
    request = PrivacyRequest(
        type=request_type,
        regime=regime,
        received_at=received_at,
        created_by=uow.actor_id,
        due_at=_end_of(uow.settings, due_date(uow.settings, regime, received_at)),
        **values,
    )
    uow.session.add(request)
    return request


async def submit(uow: UnitOfWork, data: dict) -> PrivacyRequest:
    """A subject's own request. The answer is the same whether or not the address is known: a code
    goes to the address only if it belongs to a contact, and only that code verifies the request."""
    check = Checker()
    request_type = check.choice(data, "type", REQUEST_TYPES)
    address = check.text(data, "email", max_length=320, required=True)
    if address and not is_valid_email(address):
        check.fail("email", "is not an email address", "INVALID_EMAIL")
    details = check.text(data, "details", max_length=5000)
    regime = _regime(check, data, request_type)
    if data.get("type") is None:  # an unknown type was reported as INVALID_CHOICE already
        check.fail("type", "is required", "REQUIRED")
    check.done()
    assert request_type is not None  # refused above when missing
    indexes = blind_indexes(normalize_email(address))
    now = uow.clock.now()
    recent = (
        await uow.session.execute(
            select(func.count())
            .select_from(PrivacyRequest)
            .where(PrivacyRequest.address_index.in_(indexes), PrivacyRequest.received_at > now - dt.timedelta(days=1))
        )
    ).scalar_one()
    if recent >= MAX_REQUESTS_PER_ADDRESS_PER_DAY:
        raise _fail("email", "too many requests for this address today; try again tomorrow", "RATE_LIMITED")
    match = (
        await uow.session.execute(
            select(ContactEmail.id, ContactEmail.contact_id)
            .join(Contact, Contact.id == ContactEmail.contact_id)
            .where(ContactEmail.address_index.in_(indexes), Contact.deleted_at.is_(None))
            .order_by(ContactEmail.is_primary.desc())
            .limit(1)
        )
    ).first()
    code = f"{secrets.randbelow(1_000_000):06d}"
    request = _new_request(
        uow,
        request_type,
        regime,
        now,
        status="identity_unverified",
        channel="web",
        address_index=indexes[0],
        contact_id=match.contact_id if match else None,
        code_expires_at=now + CODE_TTL,
    )
    await uow.session.flush()
    request.code_hash = token_hash(f"{request.id}:{code}")
    request.details = await _encrypt_details(uow, request.contact_id, {"details": details})
    await _transition(uow, request, "identity_unverified", "received from the subject")
    if match:
        # Sent by the outbox (send_verification_code) to this address; `_code` is forgotten once it is.
        await uow.emit(VERIFICATION_CODE_ISSUED, request.id, {"email_id": str(match.id), "_code": code})
    return request


SUBMITTED_MESSAGE = "If we hold data under this address, a confirmation code is on its way to it."


async def confirm(runtime, request_id, code: str) -> PrivacyRequest:
    """The subject's code, checked (InputError if wrong, expired or spent); the attempt counts even
    then. An objection to direct marketing needs no review: it is carried out at once."""
    if not code:
        raise _fail("code", "is required", "REQUIRED")
    async with runtime.unit_of_work() as uow:
        verified, error = await verify(uow, request_id, code)
    if error is not None:
        raise InputError(error)
    assert verified is not None  # verify() returns the request or the error
    if verified.status == "approved":
        await execute(runtime, verified.id)
    return verified


async def send_verification_code(runtime, event) -> None:
    """Mail the one-time code to the address the request matched (the outbox delivers the event)."""
    code = event.payload.get("_code")
    async with runtime.read_session() as session:
        row = await session.get(ContactEmail, uuid.UUID(event.payload["email_id"]))
    address = row.address if row is not None else None
    if code is None or address is None:  # delivered before, or the address is gone since
        return
    body = (
        f"データ主体の請求（個人情報の開示・削除等）について、本人確認コードをお送りします。\n\n    {code}\n\n"
        f"有効期限は24時間です。お心当たりのない場合は、このメールを破棄してください。\n\n"
        f"Your verification code for your data request: {code}\n"
        f"It is valid for 24 hours. If you did not make a request, ignore this message.\n"
    )
    await send_for_event(runtime.settings, event, to=address, subject="本人確認コード / Your verification code", body=body)


async def verify(uow: UnitOfWork, request_id, code: str) -> tuple[PrivacyRequest | None, UserError | None]:
    """Check a subject's one-time code. Returns the error instead of raising it: a wrong attempt
    must be counted, so this transaction commits either way."""
    request = (
        await uow.session.execute(select(PrivacyRequest).where(PrivacyRequest.id == request_id).with_for_update())
    ).scalar_one_or_none()
    invalid = UserError("code", "the code is not valid for this request", "INVALID_CODE")
    if request is None or request.status != "identity_unverified" or request.code_hash is None:
        return None, invalid
    if request.code_attempts >= MAX_CODE_ATTEMPTS:
        return None, UserError("code", "too many wrong codes; submit the request again", "TOO_MANY_ATTEMPTS")
    if request.code_expires_at is None or uow.clock.now() >= request.code_expires_at:
        return None, UserError("code", "the code has expired; submit the request again", "CODE_EXPIRED")
    if request.contact_id is None or not secrets.compare_digest(token_hash(f"{request.id}:{code}"), request.code_hash):
        request.code_attempts += 1
        if request.code_attempts >= MAX_CODE_ATTEMPTS:
            await _transition(uow, request, "canceled", "too many wrong verification codes")
        return None, invalid
    request.code_hash = None
    await _accept(uow, request, "identity verified by one-time code")
    return request, None


async def _accept(uow: UnitOfWork, request: PrivacyRequest, note: str) -> None:
    """A verified request waits for review, except an objection to direct marketing: that one is
    absolute (GDPR Art. 21(3)), so it is approved at once."""
    if request.type == "objection":
        await _transition(uow, request, "approved", f"{note}; objection to direct marketing needs no review")
    else:
        await _transition(uow, request, "pending_review", note)


async def create(uow: UnitOfWork, data: dict) -> PrivacyRequest:
    """A request taken by an agent (phone, letter): the real date of receipt starts the clock."""
    check = Checker()
    request_type = check.choice(data, "type", REQUEST_TYPES)
    if request_type is None:
        check.fail("type", "is required", "REQUIRED")
    channel = check.choice(data, "channel", AGENT_CHANNELS)
    if channel is None:
        check.fail("channel", "is required", "REQUIRED")
    note = check.text(data, "verification_note", max_length=2000, required=True)
    details = check.text(data, "details", max_length=5000)
    regime = _regime(check, data, request_type)
    received_at = data.get("received_at") or uow.clock.now()
    if received_at > uow.clock.now():
        check.fail("receivedAt", "must not be in the future", "OUT_OF_RANGE")
    contact = await uow.session.get(Contact, data["contact_id"])
    if contact is None or contact.deleted_at is not None:
        check.fail("contactId", "no such contact", "NOT_FOUND")
    check.done()
    assert request_type is not None and channel is not None  # refused above when missing
    request = _new_request(
        uow, request_type, regime, received_at, status="received", channel=channel, contact_id=data["contact_id"]
    )
    await uow.session.flush()
    request.details = await _encrypt_details(uow, data["contact_id"], {"details": details, "verification_note": note})
    await _transition(uow, request, "received", f"taken by an agent ({channel})")
    await _accept(uow, request, "identity verified by the agent")
    return request


async def _load(uow: UnitOfWork, request_id, statuses: tuple[str, ...], action: str) -> PrivacyRequest:
    request = (
        await uow.session.execute(select(PrivacyRequest).where(PrivacyRequest.id == request_id).with_for_update())
    ).scalar_one_or_none()
    if request is None:
        raise _fail("id", "no such request", "NOT_FOUND")
    if request.status not in statuses:
        raise _fail("id", f"a request that is {request.status} cannot be {action}", "INVALID_STATUS")
    return request


async def approve(uow: UnitOfWork, request_id) -> PrivacyRequest:
    request = await _load(uow, request_id, ("pending_review",), "approved")
    await _transition(uow, request, "approved")
    return request


async def deny(uow: UnitOfWork, request_id, reason: str | None) -> PrivacyRequest:
    check = Checker()
    reason = check.text({"reason": reason}, "reason", max_length=1000, required=True)
    check.done()
    request = await _load(uow, request_id, ("received", "pending_review", "approved"), "denied")
    if request.type == "objection":
        raise _fail("id", "an objection to direct marketing cannot be refused (GDPR Art. 21(3))", "NOT_ALLOWED")
    request.decision_reason, request.completed_at = reason, uow.clock.now()
    await _transition(uow, request, "denied", reason)
    return request


async def cancel(uow: UnitOfWork, request_id, reason: str | None) -> PrivacyRequest:
    request = await _load(
        uow, request_id, ("received", "identity_unverified", "pending_review", "approved", "awaiting_manual"), "canceled"
    )
    request.decision_reason = (reason or "").strip()[:1000] or None
    await _transition(uow, request, "canceled", request.decision_reason)
    return request


async def extend(uow: UnitOfWork, request_id, months: int, reason: str | None) -> PrivacyRequest:
    """GDPR Art. 12(3): once, by up to two further months, with the reason told to the subject."""
    check = Checker()
    reason = check.text({"reason": reason}, "reason", max_length=1000, required=True)
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        check.fail("months", f"must be 1 to {MAX_EXTENSION_MONTHS}", "OUT_OF_RANGE")
    check.done()
    request = await _load(uow, request_id, OPEN_STATUSES, "extended")
    if request.regime != "gdpr":
        raise _fail("id", "only GDPR deadlines can be extended", "NOT_ALLOWED")
    if request.extended:
        raise _fail("id", "the deadline was already extended once", "ALREADY_EXTENDED")
    request.extended, request.extension_reason = True, reason
    request.due_at = _end_of(uow.settings, due_date(uow.settings, request.regime, request.received_at, months))
    await _transition(uow, request, request.status, f"deadline extended by {months} month(s): {reason}")
    return request


async def complete_manual(uow: UnitOfWork, request_id, note: str | None) -> PrivacyRequest:
    """Close a request that needed a person's work (a rectification applied by hand)."""
    request = await _load(uow, request_id, ("awaiting_manual",), "completed")
    request.completed_at = uow.clock.now()
    await _transition(uow, request, "completed", (note or "").strip()[:1000] or "done by hand")
    return request


# --- execution ---------------------------------------------------------------------------------


def _plan(runtime, request_type: str) -> list[tuple[str, str]]:
    """(plugin, action) in the order they run."""
    if request_type in COLLECTING:
        return [(impl.plugin_name, "collect") for impl in runtime.plugins.implementations("enishi_subject_collect")]
    if request_type == "erasure":
        names = [impl.plugin_name for impl in runtime.plugins.implementations("enishi_subject_erase")]
        return [(name, "erase") for name in sorted(names, key=lambda n: ERASE_LAST.index(n) + 1 if n in ERASE_LAST else 0)]
    return []


async def active_holds(session, contact_id, today: dt.date) -> list[PrivacyLegalHold]:
    return list(
        (
            await session.execute(
                select(PrivacyLegalHold).where(
                    PrivacyLegalHold.contact_id == contact_id,
                    PrivacyLegalHold.released_at.is_(None),
                    (PrivacyLegalHold.until.is_(None)) | (PrivacyLegalHold.until >= today),
                )
            )
        ).scalars()
    )


async def _subject(uow: UnitOfWork, contact_id) -> DataSubject:
    holds = await active_holds(uow.session, contact_id, uow.clock.now().astimezone(uow.settings.zone).date())
    return DataSubject(
        contact_id,
        held={
            (h.entity, h.record_id): {
                "basis": h.basis,
                "reference": h.reference,
                "until": h.until.isoformat() if h.until else None,
            }
            for h in holds
        },
    )


async def _claim(runtime, request_id, actor_id, statuses: tuple[str, ...]) -> bool:
    """Take the request for this worker: one conditional UPDATE, so two callers never run it at once.
    An in-progress request whose lease ran out was left by a crash and may be taken again."""
    now = runtime.clock.now()
    async with runtime.unit_of_work(actor_id) as uow:
        taken = (
            await uow.session.execute(
                update(PrivacyRequest)
                .where(
                    PrivacyRequest.id == request_id,
                    PrivacyRequest.status.in_(statuses)
                    | ((PrivacyRequest.status == "in_progress") & (PrivacyRequest.lease_until < now)),
                )
                .values(lease_until=now + lease(runtime.settings))
                .execution_options(synchronize_session=False)
            )
        ).rowcount
        if not taken:
            return False
        request = await uow.session.get(PrivacyRequest, request_id)
        if request.status != "in_progress":
            await _transition(uow, request, "in_progress")
        if request.type == "erasure":
            await _take_out_of_use(uow, request.contact_id)
        known = {
            (r.plugin, r.action)
            for r in (
                await uow.session.execute(select(PrivacyRequestRun).where(PrivacyRequestRun.request_id == request_id))
            ).scalars()
        }
        for position, (plugin, action) in enumerate(_plan(runtime, request.type)):
            if (plugin, action) not in known:
                uow.session.add(PrivacyRequestRun(request_id=request_id, plugin=plugin, action=action, position=position))
    return True


async def _take_out_of_use(uow: UnitOfWork, contact_id) -> None:
    """Before any part of an erasure runs, the person leaves circulation: locked (so writes that
    share-locked them commit first, and the parts see what they wrote), then soft-deleted, so every
    later write naming them finds no one. Otherwise a ticket created after the support part ran
    and before the core part would outlive the erasure."""
    contact = (await uow.session.execute(select(Contact).where(Contact.id == contact_id).with_for_update())).scalar_one_or_none()
    if contact is not None and contact.deleted_at is None:
        await delete_contact(uow, contact_id)


async def execute(runtime, request_id, actor_id=None, *, statuses: tuple[str, ...] = ("approved",)) -> None:
    """Run an approved request (or continue one). Raises InputError when it cannot be run now."""
    if not await _claim(runtime, request_id, actor_id, statuses):
        async with runtime.unit_of_work(actor_id) as uow:
            await _load(uow, request_id, statuses, "run now")  # raises, saying why: not found, or its status
    async with runtime.read_session() as session:
        runs = (
            (
                await session.execute(
                    select(PrivacyRequestRun)
                    .where(PrivacyRequestRun.request_id == request_id, PrivacyRequestRun.status != "done")
                    .order_by(PrivacyRequestRun.position)
                )
            )
            .scalars()
            .all()
        )
    for run in runs:
        await _run_one(runtime, request_id, run, actor_id)
    async with runtime.unit_of_work(actor_id) as uow:
        request = await uow.session.get(PrivacyRequest, request_id, with_for_update=True)
        await _finish(uow, request)
    if request.type == "erasure" and request.status != "failed":
        # The erased rows were zeroed (secure_delete); now the WAL copy of them goes too.
        await checkpoint(runtime.engine)


async def _run_one(runtime, request_id, planned: PrivacyRequestRun, actor_id) -> None:
    hook = {"collect": "enishi_subject_collect", "erase": "enishi_subject_erase"}
    try:
        async with runtime.unit_of_work(actor_id) as uow:
            run = await uow.session.get(PrivacyRequestRun, planned.id, with_for_update=True)
            request = await uow.session.get(PrivacyRequest, request_id)
            impl = next((i for i in runtime.plugins.implementations(hook[run.action]) if i.plugin_name == run.plugin), None)
            if impl is None:
                raise LookupError("the plugin is no longer installed")
            result = await runtime.plugins.call_one(impl, uow=uow, subject=await _subject(uow, request.contact_id))
            if run.action == "collect":
                if result:
                    if (key := await subject_key(uow, request.contact_id)) is None:
                        raise LookupError("the subject's key was destroyed")
                    run.section = encrypt(key, json.dumps(result, ensure_ascii=False, default=str), b"privacy-section")
            else:
                affected = dict(run.affected or {})
                for name, count in result.affected.items():
                    affected[name] = affected.get(name, 0) + count
                run.affected, run.retained = affected, list(result.retained)
            run.status, run.attempts, run.error, run.finished_at = "done", run.attempts + 1, None, uow.clock.now()
    except Exception as exc:  # noqa: BLE001 - one plugin's failure is recorded and retried, never lost
        log.error(
            "data-subject request part failed",
            extra={"request": str(request_id), "plugin": planned.plugin, "error": type(exc).__name__},
        )
        async with runtime.unit_of_work(actor_id) as uow:
            run = await uow.session.get(PrivacyRequestRun, planned.id, with_for_update=True)
            run.status, run.attempts, run.error, run.finished_at = "failed", run.attempts + 1, type(exc).__name__, uow.clock.now()


async def _finish(uow: UnitOfWork, request: PrivacyRequest) -> None:
    runs = (
        (
            await uow.session.execute(
                select(PrivacyRequestRun).where(PrivacyRequestRun.request_id == request.id).order_by(PrivacyRequestRun.position)
            )
        )
        .scalars()
        .all()
    )
    request.lease_until = None
    failed = [r.plugin for r in runs if r.status != "done"]
    if failed:
        # Nothing is released: no export, no "completed", until a retry finishes the failed parts.
        await _transition(uow, request, "failed", f"failed in: {', '.join(failed)}")
        return
    if request.type in COLLECTING:
        await _prepare_exports(uow, request, runs)
    elif request.type in ("restriction", "appi_stop_use"):
        await restrict(uow, request.contact_id, "stop_use" if request.type == "appi_stop_use" else "restriction", request.id)
    elif request.type in ("objection", "appi_stop_provision"):
        purpose = "marketing" if request.type == "objection" else "third_party_provision"
        await service.record_consent(
            uow, request.contact_id, {"purpose": purpose, "state": "withdrawn", "source": "dsr", "method": request.type}
        )
    elif request.type == "rectification":
        await _transition(uow, request, "awaiting_manual", "apply the corrections, then complete the request")
        return
    if request.type == "erasure":
        expected = {item["entity"] for r in runs for item in (r.retained or [])}
        if left := {table: rows for table, rows in (await leftovers(uow, request.contact_id)).items() if table not in expected}:
            # Every plugin said it erased, yet personal data is still linked to the person: not done.
            await _transition(
                uow,
                request,
                "failed",
                "verification found personal data left in: "
                + ", ".join(f"{table} ({rows})" for table, rows in sorted(left.items())),
            )
            return
    kept = [item for r in runs for item in (r.retained or []) if item.get("legal_hold")]
    request.completed_at = uow.clock.now()
    await _transition(
        uow,
        request,
        "completed_with_exceptions" if kept else "completed",
        "kept under legal hold: " + "; ".join(f"{k['entity']} ({k['basis']})" for k in kept) if kept else None,
    )


EMPTY: tuple[object, ...] = (None, "", {}, [])


async def leftovers(uow: UnitOfWork, contact_id) -> dict[str, int]:
    """The erasure's proof, from the catalog rather than from the plugins' word: every table linked
    to the contact by a foreign key, and the contact row itself, is read for declared personal
    fields still holding something. A sealed field (binary) counts while the key it is sealed
    under is alive: a message the person wrote on someone else's ticket is readable under that
    ticket's key. The privacy plugin's own binary columns are sealed under the person's key."""
    declared: dict[str, list[str]] = {}
    for _, field in uow.runtime.plugins.contributions("enishi_personal_data"):
        declared.setdefault(field.entity, []).append(field.field)
    sealable = {mapper.local_table.name: mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, Sealable)}  # type: ignore[attr-defined]  # a mapper's local_table is typed FromClause; ours are Tables
    found = {}
    for table in Base.metadata.sorted_tables:
        links = [c for c in table.columns if any(fk.target_fullname == "core_contact.id" for fk in c.foreign_keys)]
        if table.name == "core_contact":
            links = [table.c.id]
        fields = [table.c[name] for name in declared.get(table.name, ()) if name in table.c]
        plain = [c for c in fields if not isinstance(c.type, LargeBinary)]
        sealed = [c for c in fields if isinstance(c.type, LargeBinary)] if table.name in sealable else []
        if not links or not (plain or sealed):
            continue
        linked = or_(*(link == contact_id for link in links))
        if sealed:
            rows = (
                (await uow.session.execute(select(sealable[table.name]).where(linked).execution_options(populate_existing=True)))
                .scalars()
                .all()
            )
            count = sum(
                1
                for row in rows
                if any(getattr(row, c.name) not in EMPTY for c in plain)
                or (_key_alive(row) and any(getattr(row, c.name) is not None for c in sealed))
            )
        else:
            count = sum(
                1 for row in (await uow.session.execute(select(*plain).where(linked))).all() if any(v not in EMPTY for v in row)
            )
        if count:
            found[table.name] = count
    return found


def _key_alive(row) -> bool:
    """From the key row as stored (read again with the row), not a data key the session may still hold."""
    return row.wrapped_key is not None


async def restrict(uow: UnitOfWork, contact_id, kind: str, request_id=None) -> None:
    if await uow.session.get(PrivacyRestriction, contact_id) is None:
        uow.session.add(PrivacyRestriction(contact_id=contact_id, kind=kind, request_id=request_id, since=uow.clock.now()))
        await uow.session.flush()
        await uow.emit(RESTRICTED, contact_id, {"kind": kind})


async def lift_restriction(uow: UnitOfWork, contact_id) -> None:
    row = await uow.session.get(PrivacyRestriction, contact_id)
    if row is None:
        raise _fail("contactId", "this contact is not restricted", "NOT_RESTRICTED")
    await uow.session.delete(row)
    await uow.session.flush()
    await uow.emit(RESTRICTION_LIFTED, contact_id, {"kind": row.kind})


async def retry(runtime, request_id, actor_id=None) -> None:
    """Run again only the parts that failed."""
    await execute(runtime, request_id, actor_id, statuses=("failed",))


async def finish_held_erasures(runtime) -> int:
    """Nightly: erasures that kept records under a legal hold are finished once no hold stands,
    and requests left in progress by a crash are picked up again."""
    now = runtime.clock.now()
    async with runtime.read_session() as session:
        waiting = (
            await session.execute(
                select(PrivacyRequest.id, PrivacyRequest.contact_id).where(
                    PrivacyRequest.type == "erasure", PrivacyRequest.status == "completed_with_exceptions"
                )
            )
        ).all()
        stalled = (
            (
                await session.execute(
                    select(PrivacyRequest.id).where(PrivacyRequest.status == "in_progress", PrivacyRequest.lease_until < now)
                )
            )
            .scalars()
            .all()
        )
        today = now.astimezone(runtime.settings.zone).date()
        ready = [request_id for request_id, contact_id in waiting if not await active_holds(session, contact_id, today)]
    for request_id in ready:
        async with runtime.unit_of_work() as uow:
            await uow.session.execute(
                update(PrivacyRequestRun)
                .where(PrivacyRequestRun.request_id == request_id)
                .values(status="pending")
                .execution_options(synchronize_session=False)
            )
        await execute(runtime, request_id, statuses=("completed_with_exceptions",))
    for request_id in stalled:
        await execute(runtime, request_id, statuses=())
    return len(ready) + len(stalled)


# --- exports -----------------------------------------------------------------------------------


async def _prepare_exports(uow: UnitOfWork, request: PrivacyRequest, runs) -> None:
    if (key := await subject_key(uow, request.contact_id)) is None:
        raise LookupError("the subject's key was destroyed")
    sections = {r.plugin: json.loads(decrypt(key, r.section, b"privacy-section")) if r.section else None for r in runs}
    recipients = (
        (await uow.session.execute(select(PrivacyProvision.recipient).where(PrivacyProvision.contact_id == request.contact_id)))
        .scalars()
        .all()
    )
    doc = export.document(
        request, sections, uow.runtime.plugins.contributions("enishi_personal_data"), list(recipients), uow.clock.now()
    )
    for fmt, content in (("json", export.to_json(doc)), ("zip", export.to_csv_zip(doc))):
        uow.session.add(
            PrivacyExport(
                request_id=request.id,
                format=fmt,
                size=len(content),
                created_at=uow.clock.now(),
                content=encrypt(key, content, f"privacy-export:{request.id}".encode()),
            )
        )
    await uow.session.flush()
    await access_log.append(uow, request.contact_id, "dsr_export_prepared", f"data-subject request {request.id} ({request.type})")


async def issue_link(uow: UnitOfWork, request_id, fmt: str) -> str:
    """A fresh single-use link to an export; the token is shown once and stored hashed."""
    row = (
        await uow.session.execute(
            select(PrivacyExport).where(PrivacyExport.request_id == request_id, PrivacyExport.format == fmt).with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise _fail("requestId", "this request has no export in that format (yet)", "NOT_FOUND")
    if row.downloaded_at is not None:
        raise _fail("requestId", "the export was already downloaded and wiped", "ALREADY_DOWNLOADED")
    token = secrets.token_urlsafe(32)
    row.token_hash, row.link_expires_at = token_hash(token), uow.clock.now() + LINK_TTL
    await uow.session.flush()
    return token


async def download(uow: UnitOfWork, token: str) -> tuple[str, bytes] | None:
    """Hand out an export once. The conditional UPDATE that marks it downloaded and wipes it is what
    decides: of two clicks racing, one wins and the other finds nothing."""
    now = uow.clock.now()
    row = (
        await uow.session.execute(
            select(PrivacyExport).where(
                PrivacyExport.token_hash == token_hash(token),
                PrivacyExport.downloaded_at.is_(None),
                PrivacyExport.link_expires_at > now,
            )
        )
    ).scalar_one_or_none()
    if row is None or row.content is None:
        return None
    fmt, content, request_id = row.format, row.content, row.request_id
    won = (
        await uow.session.execute(
            update(PrivacyExport)
            .where(PrivacyExport.id == row.id, PrivacyExport.downloaded_at.is_(None))
            .values(downloaded_at=now, content=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
    request = await uow.session.get_one(PrivacyRequest, request_id)
    key = await subject_key(uow, request.contact_id)
    if not won or key is None:
        return None
    await access_log.append(uow, request.contact_id, "dsr_export_downloaded", f"data-subject request {request.id} ({fmt})")
    return fmt, decrypt_bytes(key, content, f"privacy-export:{request.id}".encode())


# --- legal holds -------------------------------------------------------------------------------


async def place_hold(uow: UnitOfWork, contact_id, entity: str, record_id, data: dict) -> PrivacyLegalHold:
    """Keep the record `record_id` of the holdable table `entity` through erasure."""
    check = Checker()
    basis = check.text(data, "basis", max_length=300, required=True)
    reference = check.text(data, "reference", max_length=200)
    until = data.get("until")
    if until is not None and until < uow.clock.now().astimezone(uow.settings.zone).date():
        check.fail("until", "must not be in the past", "OUT_OF_RANGE")
    if await uow.session.get(Contact, contact_id) is None:
        check.fail("contactId", "no such contact", "NOT_FOUND")
    check.done()
    hold = PrivacyLegalHold(
        contact_id=contact_id,
        entity=entity,
        record_id=record_id,
        basis=basis,
        reference=reference,
        until=until,
        created_by=uow.actor_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(hold)
    await uow.session.flush()
    await uow.emit(LEGAL_HOLD_PLACED, contact_id, {"entity": entity, "record_id": str(record_id)})
    return hold


async def release_hold(uow: UnitOfWork, hold_id) -> PrivacyLegalHold:
    hold = (
        await uow.session.execute(select(PrivacyLegalHold).where(PrivacyLegalHold.id == hold_id).with_for_update())
    ).scalar_one_or_none()
    if hold is None or hold.released_at is not None:
        raise _fail("id", "no such active hold", "NOT_FOUND")
    hold.released_at = uow.clock.now()
    await uow.emit(LEGAL_HOLD_RELEASED, hold.contact_id, {"hold_id": str(hold.id)})
    return hold


# --- the subject's own data in the privacy plugin ----------------------------------------------


async def record_provision(uow: UnitOfWork, contact_ids, recipient: str, purpose: str) -> None:
    now = uow.clock.now()
    uow.session.add_all(
        [
            PrivacyProvision(
                contact_id=c, recipient=recipient[:300], purpose=purpose[:200], actor_id=uow.actor_id, provided_at=now
            )
            for c in contact_ids
        ]
    )
    await uow.session.flush()


async def erase_exports(uow: UnitOfWork, contact_id) -> int:
    requests = select(PrivacyRequest.id).where(PrivacyRequest.contact_id == contact_id)
    return (
        await uow.session.execute(
            update(PrivacyExport)
            .where(PrivacyExport.request_id.in_(requests), PrivacyExport.content.is_not(None))
            .values(content=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult

"""How data-subject requests come in: from the subject through a one-time code mailed to an
address we know them by, or from an agent who checked their identity. Separate from the review
and execution that follow, because only this part faces the public."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid

from sqlalchemy import func, select

from enishi.plugin import (
    Checker,
    Contact,
    ContactEmail,
    InputError,
    Throttle,
    UnitOfWork,
    UserError,
    blind_indexes,
    decrypt,
    encrypt,
    is_valid_email,
    normalize_email,
    send_for_event,
    subject_key,
    token_hash,
)

from . import deadlines, requests
from .events import VERIFICATION_CODE_ISSUED
from .execution import execute
from .models import REGIMES, REQUEST_TYPES, PrivacyRequest
from .service import fail

APPI_TYPES = ("appi_disclosure", "appi_stop_use", "appi_stop_provision")
AGENT_CHANNELS = ("phone", "letter", "email", "in_person", "web")
CODE_TTL = dt.timedelta(hours=24)
MAX_CODE_ATTEMPTS = 5
MAX_REQUESTS_PER_ADDRESS_PER_DAY = 3
# Requests from one client (its network address), whatever the addresses they name: each may send a
# code, so one client cannot mail every customer or fill the queue; an office behind one address still
# has room for its people. The form and the JSON route count together; a GraphQL client is a token.
REQUESTS_PER_CLIENT = Throttle("privacy-request-client", 10, dt.timedelta(hours=1))


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
        due_at=deadlines.end_of(uow.settings, deadlines.due_date(uow.settings, regime, received_at)),
        **values,
    )
    uow.session.add(request)
    return request


async def retention_erasure(uow: UnitOfWork, contact_id, note: str) -> PrivacyRequest:
    """The erasure a retention rule calls for: no one asked, so there is no identity to verify and
    nothing to review; it runs as any approved erasure does (`channel` `retention`)."""
    request = _new_request(uow, "erasure", "gdpr", uow.clock.now(), status="approved", channel="retention", contact_id=contact_id)
    await uow.session.flush()
    await requests.transition(uow, request, "approved", note)
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
        raise fail("email", "too many requests for this address today; try again tomorrow", "RATE_LIMITED")
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
    await requests.transition(uow, request, "identity_unverified", "received from the subject")
    if match:
        # Sent by the outbox (send_verification_code) to this address; `_code` is forgotten once it is.
        await uow.emit(VERIFICATION_CODE_ISSUED, request.id, {"email_id": str(match.id), "_code": code})
    return request


SUBMITTED_MESSAGE = "If we hold data under this address, a confirmation code is on its way to it."


async def confirm(runtime, request_id, code: str) -> PrivacyRequest:
    """The subject's code, checked (InputError if wrong, expired or spent); the attempt counts even
    then. An objection to direct marketing needs no review: it is carried out at once."""
    if not code:
        raise fail("code", "is required", "REQUIRED")
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
    if code is None or row is None or row.address is None:  # delivered before, or the address is gone since
        return
    body = (
        f"データ主体の請求（個人情報の開示・削除等）について、本人確認コードをお送りします。\n\n    {code}\n\n"
        f"有効期限は24時間です。お心当たりのない場合は、このメールを破棄してください。\n\n"
        f"Your verification code for your data request: {code}\n"
        f"It is valid for 24 hours. If you did not make a request, ignore this message.\n"
    )
    await send_for_event(
        runtime.settings,
        event,
        to=row.address,
        subject="本人確認コード / Your verification code",
        body=body,
        data_subject=row.contact_id,
    )


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
            await requests.transition(uow, request, "canceled", "too many wrong verification codes")
        return None, invalid
    request.code_hash = None
    await _accept(uow, request, "identity verified by one-time code")
    return request, None


async def _accept(uow: UnitOfWork, request: PrivacyRequest, note: str) -> None:
    """A verified request waits for review, except an objection to direct marketing: that one is
    absolute (GDPR Art. 21(3)), so it is approved at once."""
    if request.type == "objection":
        await requests.transition(uow, request, "approved", f"{note}; objection to direct marketing needs no review")
    else:
        await requests.transition(uow, request, "pending_review", note)


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
    await requests.transition(uow, request, "received", f"taken by an agent ({channel})")
    await _accept(uow, request, "identity verified by the agent")
    return request

"""Privacy rules for consent: the consent ledger with `check`, the service other plugins reach
through the `enishi_consent_check` hook; the restriction of processing that `check` honours
(provision records: `provisions.py`).
Data-subject requests live in `requests.py` (status and review), `intake.py`, `execution.py`,
`deadlines.py`, `legal_holds.py` and `export_delivery.py`; the access log in `access_log.py`."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from enishi.plugin import (
    Checker,
    Contact,
    InputError,
    UnitOfWork,
    UserError,
    decrypt,
    encrypt,
    sign,
    subject_key,
    verify,
)

from .events import CONSENT_EVENTS, RESTRICTED, RESTRICTION_LIFTED
from .models import CONSENT_SOURCES, CONSENT_STATES, PrivacyConsent, PrivacyRestriction

PURPOSE_MAX = 60


def fail(field: str, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


async def record_consent(uow: UnitOfWork, contact_id, data: dict) -> PrivacyConsent:
    check = Checker()
    purpose = check.text(data, "purpose", max_length=PURPOSE_MAX, required=True)
    state = check.choice(data, "state", CONSENT_STATES)
    if state is None:
        check.fail("state", "must be granted or withdrawn", "REQUIRED")
    source = check.choice(data, "source", CONSENT_SOURCES) or "api"
    contact = await uow.session.get(Contact, contact_id)
    if contact is None or contact.deleted_at is not None:
        check.fail("contactId", "no such contact", "NOT_FOUND")
    evidence = check.text(data, "evidence", max_length=20_000)
    check.done()
    assert state is not None  # refused above when missing
    ciphertext = None
    if evidence:
        key = await subject_key(uow, contact_id)
        if key is None:
            raise fail("contactId", "this subject was erased", "ERASED")
        ciphertext = encrypt(key, evidence, f"consent:{contact_id}".encode())
    record = PrivacyConsent(
        contact_id=contact_id,
        purpose=purpose,
        state=state,
        notice_id=data.get("notice_id"),
        notice_version=data.get("notice_version"),
        source=source,
        method=data.get("method"),
        actor_id=uow.actor_id,
        captured_at=uow.clock.now(),
        evidence=ciphertext,
    )
    uow.session.add(record)
    await uow.session.flush()
    await uow.emit(CONSENT_EVENTS[state], contact_id, {"purpose": purpose, "source": source})
    return record


async def current(session, contact_ids, purpose: str | None = None) -> dict:
    """(contact id, purpose) → the latest consent record."""
    latest = (
        select(PrivacyConsent.contact_id, PrivacyConsent.purpose, func.max(PrivacyConsent.seq).label("seq"))
        .where(PrivacyConsent.contact_id.in_(list(contact_ids)))
        .group_by(PrivacyConsent.contact_id, PrivacyConsent.purpose)
    )
    if purpose is not None:
        latest = latest.where(PrivacyConsent.purpose == purpose)
    seqs = [row.seq for row in (await session.execute(latest)).all()]
    if not seqs:
        return {}
    rows = (await session.execute(select(PrivacyConsent).where(PrivacyConsent.seq.in_(seqs)))).scalars()
    return {(r.contact_id, r.purpose): r for r in rows}


async def check(session, contact_ids, purpose: str) -> dict:
    """`privacy.check`: may each contact be processed for `purpose`? Only with consent granted and
    not withdrawn since (no record means no), and never while processing is restricted."""
    states = await current(session, contact_ids, purpose)
    held_back = await restricted(session, contact_ids)
    return {
        c: c not in held_back and (record := states.get((c, purpose))) is not None and record.state == "granted"
        for c in contact_ids
    }


async def restricted(session, contact_ids) -> set[uuid.UUID]:
    """The contacts whose processing is restricted (GDPR Art. 18) or stopped (APPI)."""
    return set(
        (
            await session.execute(
                select(PrivacyRestriction.contact_id).where(PrivacyRestriction.contact_id.in_(list(contact_ids)))
            )
        ).scalars()
    )


async def restrict(uow: UnitOfWork, contact_id, kind: str, request_id=None) -> None:
    if await uow.session.get(PrivacyRestriction, contact_id) is None:
        uow.session.add(PrivacyRestriction(contact_id=contact_id, kind=kind, request_id=request_id, since=uow.clock.now()))
        await uow.session.flush()
        await uow.emit(RESTRICTED, contact_id, {"kind": kind})


async def lift_restriction(uow: UnitOfWork, contact_id) -> None:
    row = await uow.session.get(PrivacyRestriction, contact_id)
    if row is None:
        raise fail("contactId", "this contact is not restricted", "NOT_RESTRICTED")
    await uow.session.delete(row)
    await uow.session.flush()
    await uow.emit(RESTRICTION_LIFTED, contact_id, {"kind": row.kind})


@dataclass
class Denial:
    contact_id: uuid.UUID
    purpose: str
    reason: str  # no_consent | withdrawn | restricted


async def require(session, contact_id, purpose: str) -> Denial | None:
    """A typed denial for callers that process one subject: None means go ahead."""
    if await restricted(session, [contact_id]):
        return Denial(contact_id, purpose, "restricted")
    record = (await current(session, [contact_id], purpose)).get((contact_id, purpose))
    if record is None:
        return Denial(contact_id, purpose, "no_consent")
    return None if record.state == "granted" else Denial(contact_id, purpose, "withdrawn")


def withdrawal_token(settings, contact_id, purpose: str) -> str:
    """A link token that withdraws one consent without a login: the subject and purpose, signed."""
    message = f"{contact_id}|{purpose}"
    return base64.urlsafe_b64encode(message.encode()).decode().rstrip("=") + "." + sign(settings, message)


def withdrawal_path(settings, contact_id, purpose: str) -> str:
    """The path of the one-click withdrawal link (POST withdraws; GET shows the subject's page)."""
    return f"/privacy/withdraw/{withdrawal_token(settings, contact_id, purpose)}"


def read_withdrawal_token(settings, token: str) -> tuple[uuid.UUID, str]:
    try:
        body, signature = token.split(".", 1)
        message = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        contact, purpose = message.split("|", 1)
        if not verify(settings, message, signature):
            raise ValueError
        return uuid.UUID(contact), purpose
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise fail("token", "is not a valid withdrawal link", "INVALID_TOKEN") from None


async def evidence_of(uow: UnitOfWork, record: PrivacyConsent) -> str | None:
    if record.evidence is None:
        return None
    key = await subject_key(uow, record.contact_id)
    return None if key is None else decrypt(key, record.evidence, f"consent:{record.contact_id}".encode())

"""The prepared exports of an access or portability request: sealed under the subject's key,
handed out once through a single-use link, then wiped. Separate from `export.py`, which only
renders the document, because this part stores personal data and decides who gets it."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from sqlalchemy import select, update

from enishi.plugin import UnitOfWork, decrypt, decrypt_bytes, encrypt, subject_key, token_hash

from . import access_log, export
from .models import PrivacyExport, PrivacyProvision, PrivacyRequest
from .service import fail

LINK_TTL = dt.timedelta(days=7)


async def prepare_exports(uow: UnitOfWork, request: PrivacyRequest, runs) -> None:
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
        raise fail("requestId", "this request has no export in that format (yet)", "NOT_FOUND")
    if row.downloaded_at is not None:
        raise fail("requestId", "the export was already downloaded and wiped", "ALREADY_DOWNLOADED")
    token = secrets.token_urlsafe(32)
    row.token_hash, row.link_expires_at = token_hash(token), uow.clock.now() + LINK_TTL
    await uow.session.flush()
    return token


async def _waiting(session, token: str, now: dt.datetime) -> PrivacyExport | None:
    """The export a link leads to while it can still be downloaded: not yet, and not expired."""
    if len(token) > 100:
        return None
    row = (
        await session.execute(
            select(PrivacyExport).where(
                PrivacyExport.token_hash == token_hash(token),
                PrivacyExport.downloaded_at.is_(None),
                PrivacyExport.link_expires_at > now,
            )
        )
    ).scalar_one_or_none()
    return None if row is None or row.content is None else row


async def describe(session, token: str, now: dt.datetime) -> tuple[str, int, dt.datetime] | None:
    """What a link would hand out — `(format, size, link expiry)` — without handing it out: the
    subject's landing page, which a mail scanner may open without using the link up."""
    row = await _waiting(session, token, now)
    return None if row is None or row.link_expires_at is None else (row.format, row.size, row.link_expires_at)


async def download(uow: UnitOfWork, token: str) -> tuple[str, bytes] | None:
    """Hand out an export once. The conditional UPDATE that marks it downloaded and wipes it is what
    decides: of two clicks racing, one wins and the other finds nothing."""
    now = uow.clock.now()
    row = await _waiting(uow.session, token, now)
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

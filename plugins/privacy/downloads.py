"""Single-use download links for the documents compliance takes out of the system: reports for
regulators (records of processing, consent records) and extracts. The core's export links
(`core/downloads.py`) serve only the core's own export kinds and are not part of the kit, so the
plugin keeps links of the same design: the token is shown once and only its hash is stored; the
document is made when the link is issued (so its counts are exactly those reported) and kept
sealed under a key derived from the token, unreadable without the link; using the link wipes it;
it works once, within `LINK_LIFETIME`, and only while its creator is active and still holds the
permission it was issued under."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from enishi.plugin import UnitOfWork, User, decrypt_bytes, encrypt, token_hash

from .extract_models import PrivacyDownload
from .service import fail

LINK_LIFETIME = dt.timedelta(minutes=15)
LINK_PREFIX = "enishi_privacy_"
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json; charset=utf-8",
}


def _key(token: str) -> bytes:
    return hashlib.sha256(b"enishi privacy download\x00" + token.encode()).digest()


async def issue(uow: UnitOfWork, kind: str, format: str, permission: str, content: bytes) -> str:
    """A link to `content` (a `kind` document in `format`) for the unit of work's actor; the token is
    returned once."""
    if uow.actor_id is None:
        raise fail("input", "a download link belongs to a user", "FORBIDDEN")
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    now = uow.clock.now()
    uow.session.add(
        PrivacyDownload(
            token_hash=token_hash(token),
            kind=kind,
            format=format,
            permission=permission,
            content=encrypt(_key(token), content, f"privacy-download:{kind}".encode()),
            created_by=uow.actor_id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    await uow.session.flush()
    return token


async def claim(uow: UnitOfWork, token: str) -> tuple[str, str, bytes] | None:
    """The document behind a link, once: `(kind, format, bytes)`, or None when the link is unknown,
    used, expired, or its creator may no longer have it. Of two downloads racing, the conditional
    UPDATE lets one win."""
    if not token.startswith(LINK_PREFIX) or len(token) > 200:
        return None
    now = uow.clock.now()
    link = (
        await uow.session.execute(select(PrivacyDownload).where(PrivacyDownload.token_hash == token_hash(token)))
    ).scalar_one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= now or link.content is None:
        return None
    creator = await uow.session.get(User, link.created_by)
    if creator is None or not creator.is_active or link.permission not in uow.runtime.permissions.for_roles(creator.roles):
        return None
    kind, format, sealed = link.kind, link.format, link.content
    won = (
        await uow.session.execute(
            update(PrivacyDownload)
            .where(PrivacyDownload.id == link.id, PrivacyDownload.used_at.is_(None))
            .values(used_at=now, content=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
    if not won:
        return None
    return kind, format, decrypt_bytes(_key(token), sealed, f"privacy-download:{kind}".encode())


async def route(request: Request) -> Response:
    """GET /privacy/downloads/{token}: the document, once."""
    runtime = request.app.state.runtime
    async with runtime.unit_of_work() as uow:
        found = await claim(uow, request.path_params["token"])
    if found is None:
        return JSONResponse({"error": "this link is not valid, has expired or was already used", "code": "GONE"}, status_code=410)
    kind, format, content = found
    return Response(
        content,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{kind}.{format}"', "Cache-Control": "no-store"},
    )

"""Outgoing mail for plugins' deliveries: `ENISHI_MAIL_URL` is `smtp://user:password@host:587`
(STARTTLS when the server offers it), `smtps://user:password@host:465`, or `file:///directory`
(one `.eml` per message, named by its id: development and tests). In development with no URL,
mail goes to ./enishi-data/mail; in production a missing URL is a configuration error, and the
delivery is retried once it is set.

Every message names the data subject it concerns (or None). The file transport is the only one
that keeps what it sent, so it files a person's messages in a folder named by their contact id
(an id, not their address), and erasure (the core's part, `forget`) deletes that folder: nothing
of an erased person stays in the mail it kept. SMTP keeps nothing here.

A delivery may have read the person's address before their erasure committed and write the file
after it deleted the folder. So the file transport writes a person's message holding a lock per
person (`.locks/<id>`, an advisory `flock`), and `forget` takes the same lock, deletes the folder
and leaves a marker (`.erased/<id>`, empty): a delivery holding the lock finishes before the
folder goes, and one that comes after finds the marker and keeps nothing."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import smtplib
import ssl
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .settings import ConfigError, Settings

DEV_MAIL_DIR = Path("enishi-data/mail")


@dataclass(frozen=True)
class MailAttachment:
    """A file sent with a message. With `inline_id` it is an image the HTML part shows
    (`<img src="cid:{inline_id}">`) rather than a file offered for download."""

    filename: str
    content_type: str  # "text/csv", "image/png", …
    data: bytes
    inline_id: str | None = None


async def send_for_event(
    settings: Settings,
    event,
    *,
    to: str,
    subject: str,
    body: str,
    data_subject: uuid.UUID | None,
    html: str | None = None,
    attachments: Sequence[MailAttachment] = (),
    unsubscribe: str | None = None,
) -> None:
    """`send` from an `enishi_deliver_event` hook: off the event loop (SMTP blocks), with the
    event's id as Message-ID, so a retried delivery is recognisably the same message.
    `data_subject` is the contact the message concerns, so that their erasure removes it.
    `html` is an alternative to the plain-text `body`, showing the inline `attachments`.
    `unsubscribe`: a link that withdraws the recipient's consent by a POST (see `send`)."""
    await asyncio.to_thread(
        send,
        settings,
        to=to,
        subject=subject,
        body=body,
        message_id=str(event.id),
        data_subject=data_subject,
        html=html,
        attachments=attachments,
        unsubscribe=unsubscribe,
    )


def _configured_url(settings: Settings) -> str:
    return settings.mail_url or ("" if settings.is_production else DEV_MAIL_DIR.resolve().as_uri())


def _folder(directory: Path, data_subject: uuid.UUID | None) -> Path:
    return directory / str(data_subject) if data_subject is not None else directory


def _erased_marker(directory: Path, data_subject: uuid.UUID) -> Path:
    return directory / ".erased" / str(data_subject)


@contextmanager
def _person_locked(directory: Path, data_subject: uuid.UUID) -> Iterator[None]:
    """Hold the person's mail lock (blocking): their delivery and their erasure, one at a time."""
    locks = directory / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / str(data_subject), "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _keep(directory: Path, data_subject: uuid.UUID | None, message: EmailMessage, message_id: str) -> None:
    """The file transport: write the message, unless its person was erased meanwhile."""
    if data_subject is None:
        directory.mkdir(parents=True, exist_ok=True)
        _write_whole(directory / f"{message_id}.eml", bytes(message))
        return
    with _person_locked(directory, data_subject):
        if _erased_marker(directory, data_subject).exists():
            return  # erased after this delivery read their address: nothing of them is kept
        folder = _folder(directory, data_subject)
        folder.mkdir(parents=True, exist_ok=True)
        _write_whole(folder / f"{message_id}.eml", bytes(message))


def _write_whole(path: Path, data: bytes) -> None:
    """Write beside `path`, then rename: whoever reads the mail folder (a mail client, a test
    waiting for a message) sees the whole message or none of it, never its first bytes."""
    partial = path.with_name(f"{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _compose(body: str, html: str | None, attachments: Sequence[MailAttachment]) -> EmailMessage:
    """Plain text; with `html`, multipart/alternative whose HTML part holds the inline images
    (multipart/related); then the files (multipart/mixed)."""
    message = EmailMessage()
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
        shown = message.get_body(preferencelist=("html",))
        assert shown is not None  # just added
        for image in (a for a in attachments if a.inline_id is not None):
            maintype, subtype = image.content_type.split("/", 1)
            shown.add_related(image.data, maintype, subtype, cid=f"<{image.inline_id}>", filename=image.filename)
    for file in (a for a in attachments if a.inline_id is None):
        maintype, subtype = file.content_type.split("/", 1)
        message.add_attachment(file.data, maintype, subtype, filename=file.filename)
    return message


def send(
    settings: Settings,
    *,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    data_subject: uuid.UUID | None = None,
    html: str | None = None,
    attachments: Sequence[MailAttachment] = (),
    unsubscribe: str | None = None,
) -> None:
    """Send one UTF-8 message: `body` as plain text, optionally an `html` alternative, and
    `attachments`. `message_id` (the event's id) makes a repeated delivery recognisable as the
    same message; the file transport simply overwrites it. With `unsubscribe` (an https link
    that unsubscribes by a POST), the `List-Unsubscribe` headers of RFC 8058 let the mail client
    offer a one-click unsubscribe."""
    message = _compose(body, html, attachments)
    message["From"], message["To"], message["Subject"] = settings.mail_from, to, subject
    message["Message-ID"] = f"<{message_id}@enishi>"
    if unsubscribe is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    url = _configured_url(settings)
    if not url:
        raise ConfigError("no mail server configured: set ENISHI_MAIL_URL")
    parts = urlsplit(url)
    if parts.scheme == "file":
        _keep(Path(unquote(parts.path)), data_subject, message, message_id)
        return
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError("ENISHI_MAIL_URL must start with smtp://, smtps:// or file://")
    secure = parts.scheme == "smtps"
    connect = smtplib.SMTP_SSL if secure else smtplib.SMTP
    with connect(parts.hostname or "localhost", parts.port or (465 if secure else 25), timeout=30) as server:
        server.ehlo()
        if not secure and server.has_extn("starttls"):
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(message)


def forget(settings: Settings, data_subject: uuid.UUID) -> int:
    """Delete the messages the file transport kept for this person, and keep none sent later; how
    many there were. Blocks while a delivery to them is being written (call it off the event loop)."""
    parts = urlsplit(_configured_url(settings))
    if parts.scheme != "file":
        return 0
    directory = Path(unquote(parts.path))
    with _person_locked(directory, data_subject):
        folder = _folder(directory, data_subject)
        kept = len(list(folder.glob("*.eml"))) if folder.is_dir() else 0
        shutil.rmtree(folder, ignore_errors=True)
        marker = _erased_marker(directory, data_subject)
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
    return kept

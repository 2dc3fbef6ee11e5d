"""Console sign-in by a one-time link sent by mail: a 256-bit random token of which only the SHA-256
is kept, that signs in once, within LINK_LIFETIME. Asking for one answers the same whether or not
the address is a console user's (the console sends the mail after answering)."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from . import mail
from .auth import hash_token
from .models import ConsoleSignInLink, User
from .normalize import normalize_email

if TYPE_CHECKING:  # annotations only: the runtime imports the core's hooks, which run these
    from .runtime import Runtime, UnitOfWork

LINK_LIFETIME = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class IssuedLink:
    """A link to mail: its row's id (the message's id), the token and where it goes."""

    link_id: uuid.UUID
    token: str
    to: str


async def issue_link(runtime: Runtime, email: str, may_sign_in: Callable[[Iterable[str]], bool]) -> IssuedLink | None:
    """A new link for the active user with this address whose roles `may_sign_in`, or None."""
    token = secrets.token_urlsafe(32)
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        user = (await uow.session.execute(select(User).where(User.email == normalize_email(email)))).scalar_one_or_none()
        if user is None or not user.is_active or not may_sign_in(user.roles) or not user.email:
            return None
        link = ConsoleSignInLink(token_hash=hash_token(token), user_id=user.id, created_at=now, expires_at=now + LINK_LIFETIME)
        uow.session.add(link)
        await uow.session.flush()
        return IssuedLink(link.id, token, user.email)


async def send_link(runtime: Runtime, issued: IssuedLink, path: str) -> None:
    """Mail the link (`path` on this server, the token appended) through the configured transport."""
    link = runtime.settings.public_link(f"{path}?token={issued.token}")
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    body = (
        "Enishi コンソールにサインインするには、次のリンクを開いてください。\n"
        "To sign in to the Enishi console, open this link:\n\n"
        f"    {link}\n\n"
        f"このリンクは一度だけ、{minutes}分間使えます。 / The link works once, for {minutes} minutes.\n"
        "心当たりがなければ、このメールは無視してください。 / If you did not ask for it, ignore this mail.\n"
    )
    await asyncio.to_thread(
        mail.send,
        runtime.settings,
        to=issued.to,
        subject="Enishi コンソールへのサインイン / Sign in to the Enishi console",
        body=body,
        message_id=str(issued.link_id),
    )


async def redeem_link(runtime: Runtime, token: str) -> User | None:
    """The user a live, unused link signs in, the link used up in the same statement (so two
    requests with one link sign in once); None for a used, expired or unknown link."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        user_id = (
            await uow.session.execute(
                update(ConsoleSignInLink)
                .where(
                    ConsoleSignInLink.token_hash == hash_token(token),
                    ConsoleSignInLink.used_at.is_(None),
                    ConsoleSignInLink.expires_at > now,
                )
                .values(used_at=now)
                .returning(ConsoleSignInLink.user_id)
            )
        ).scalar_one_or_none()
        user = await uow.session.get(User, user_id) if user_id is not None else None
    return user if user is not None and user.is_active else None


async def purge_expired(uow: UnitOfWork) -> None:
    """Delete the links past their expiry, used or not: they sign no one in any more."""
    await uow.session.execute(delete(ConsoleSignInLink).where(ConsoleSignInLink.expires_at <= uow.clock.now()))

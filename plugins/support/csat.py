"""Customer satisfaction surveys: scheduled a while after a ticket is solved, mailed with a
single-use link, answered once. Separate from the ticket rules, which only schedule or cancel a
survey when a ticket is solved or reopened. Each answer is also reported as the core's
`survey.answered` (kind `csat`), so that the insights plugin, when installed, counts it with every
other survey answer: one place computes CSAT across the business."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from enishi.plugin import (
    SURVEY_ANSWERED,
    Checker,
    ContactEmail,
    UnitOfWork,
    send_for_event,
    token_hash,
)

from .events import CSAT_RECEIVED, CSAT_REQUESTED
from .models import SupportCsat, SupportTicket
from .service import input_error


async def send_surveys(runtime) -> int:
    """Surveys due (a day after solving) are sent: the single-use token travels only in the outbox
    event (`_token`, forgotten once `mail_survey` has delivered it); the table keeps its hash."""
    sent = 0
    async with runtime.unit_of_work() as uow:
        due = (
            (
                await uow.session.execute(
                    select(SupportCsat)
                    .where(SupportCsat.status == "scheduled", SupportCsat.send_at <= runtime.clock.now())
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for survey in due:
            token = secrets.token_urlsafe(24)
            survey.token_hash, survey.status = token_hash(token), "sent"
            await uow.emit(CSAT_REQUESTED, survey.ticket_id, {"_token": token})
            sent += 1
    return sent


async def mail_survey(runtime, event) -> None:
    """Mail the survey link to the requester's primary address (the outbox delivers the event)."""
    token = event.payload.get("_token")
    async with runtime.read_session() as session:
        number, email = (
            await session.execute(
                select(SupportTicket.number, ContactEmail)
                .join(ContactEmail, ContactEmail.contact_id == SupportTicket.requester_id)
                .where(SupportTicket.id == event.entity_id, ContactEmail.is_primary.is_(True))
            )
        ).first() or (None, None)
    if token is None or email is None or email.address is None:  # delivered before, or nobody to ask any more
        return
    link = runtime.settings.public_link(f"/support/csat/{token}")
    body = (
        f"お問い合わせ（#{number}）への対応はいかがでしたか。1〜5でご評価ください（1分ほどで終わります）。\n\n    {link}\n\n"
        f"How did we do with your request #{number}? Rate us from 1 to 5 (takes a minute):\n\n    {link}\n\n"
        f"このリンクは一度だけ使えます。 / The link works once.\n"
    )
    await send_for_event(
        runtime.settings,
        event,
        to=email.address,
        subject=f"[#{number}] ご意見をお聞かせください / How did we do?",
        body=body,
        data_subject=email.contact_id,
    )


async def csat_status(session, token: str) -> str | None:
    """The status of the survey a link belongs to: "sent" can be answered (the page shows the form)."""
    return (await session.execute(select(SupportCsat.status).where(SupportCsat.token_hash == token_hash(token)))).scalar()


async def submit_csat(uow: UnitOfWork, token: str, rating: int, comment: str | None) -> SupportCsat:
    check = Checker()
    if not 1 <= rating <= 5:
        check.fail("rating", "must be between 1 and 5", "OUT_OF_RANGE")
    comment = check.text({"comment": comment}, "comment", max_length=5000)
    check.done()
    survey = (
        await uow.session.execute(select(SupportCsat).where(SupportCsat.token_hash == token_hash(token or "")).with_for_update())
    ).scalar_one_or_none()
    if survey is None or survey.status in ("scheduled", "cancelled"):
        raise input_error("token", "is not a valid survey link", "INVALID_TOKEN")
    if survey.status == "answered":
        raise input_error("token", "this survey was already answered", "ALREADY_ANSWERED")
    survey.status, survey.rating, survey.comment, survey.answered_at = "answered", rating, comment, uow.clock.now()
    await uow.session.flush()
    await uow.emit(CSAT_RECEIVED, survey.ticket_id, {"rating": rating})
    requester = await uow.session.scalar(select(SupportTicket.requester_id).where(SupportTicket.id == survey.ticket_id))
    await uow.emit(
        SURVEY_ANSWERED,
        survey.id,
        {"kind": "csat", "score": rating, "contact_id": str(requester) if requester else None, "source": "support"},
    )
    return survey

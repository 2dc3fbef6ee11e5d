"""Surveys: NPS, CSAT and CES questions sent to a contact through a single-use link, answered
once, each answer a timeline activity. The link's token is random (192 bits), travels only in the
outbox event that mails it (`_token`, forgotten once delivered) and is stored hashed; it expires
after `insights_survey_valid_days`. Answers other plugins collect (support's CSAT) arrive through
the core's `survey.answered` event and count in the same figures (survey_scores.py)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import select

from enishi.plugin import (
    SURVEY_ANSWERED,
    Checker,
    Contact,
    ContactEmail,
    EventType,
    InputError,
    PayloadField,
    UnitOfWork,
    UserError,
    live_ids,
    log_activity,
    send_for_event,
    token_hash,
)

from . import config
from .survey_models import SURVEY_KINDS, InsightsSurvey, InsightsSurveyAnswer

SCALES = {"nps": range(11), "csat": range(1, 6), "ces": range(1, 8)}
LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
ACTIVITY_TYPE = "insights.survey_answer"
CONSENT_PURPOSE = "surveys"
MAX_QUESTION_LENGTH = 1000

SURVEY_REQUESTED = EventType(
    "insights.survey_requested",
    "insights_survey_answer",
    "A survey was sent to a contact: delivery mails its link to their primary address.",
    (PayloadField("_token", str, "the link's single-use token (delivery only: forgotten once delivered)"),),
    fires="in `sendSurvey`'s transaction, after the answer row is created; the mail goes out from the outbox after commit",
)


def _error(field: str, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


async def create_survey(uow: UnitOfWork, data: dict) -> InsightsSurvey:
    """A survey of a kind (`nps`, `csat`, `ces`) with its question in Japanese and English."""
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    kind = check.choice(data, "kind", SURVEY_KINDS)
    question_ja = check.text(data, "question_ja", max_length=MAX_QUESTION_LENGTH, required=True)
    question_en = check.text(data, "question_en", max_length=MAX_QUESTION_LENGTH, required=True)
    if kind is None:
        check.fail("kind", "is required", "REQUIRED")
    if name and (await uow.session.execute(select(InsightsSurvey.id).where(InsightsSurvey.name == name))).first():
        check.fail("name", "another survey has this name", "DUPLICATE")
    check.done()
    survey = InsightsSurvey(name=name, kind=kind, question_ja=question_ja, question_en=question_en, created_at=uow.clock.now())
    uow.session.add(survey)
    await uow.session.flush()
    return survey


async def _primary_email(session, contact_id: uuid.UUID) -> ContactEmail | None:
    return (
        await session.execute(
            select(ContactEmail).where(ContactEmail.contact_id == contact_id, ContactEmail.is_primary.is_(True))
        )
    ).scalar_one_or_none()


async def _consented(uow: UnitOfWork, contact_id: uuid.UUID) -> bool:
    """With a consent ledger installed (the privacy plugin), the person must have agreed to be
    asked (purpose `surveys`); without one, sending proceeds."""
    plugins = uow.runtime.plugins
    if not plugins.implementations("enishi_consent_check"):
        return True
    answers = await plugins.call("enishi_consent_check", uow=uow, contact_ids=[contact_id], purpose=CONSENT_PURPOSE)
    return all((answer or {}).get(contact_id) is True for _, answer in answers)


async def send_survey(uow: UnitOfWork, contact_id: uuid.UUID, survey_id: uuid.UUID) -> InsightsSurveyAnswer:
    """A new single-use link for the contact, mailed from the outbox. Refused without a primary
    address, without consent, or within `insights_survey_min_days_between` of the last survey sent
    to the same person (a rate limit per contact, whatever the survey)."""
    survey = await uow.session.get(InsightsSurvey, survey_id)
    if survey is None:
        raise _error("surveyId", "no such survey", "NOT_FOUND")
    # The contact's row is locked: two sends to one person cannot both pass the rate limit.
    contact = (
        await uow.session.execute(
            select(Contact.id).where(Contact.id == contact_id, Contact.deleted_at.is_(None)).with_for_update()
        )
    ).first()
    if contact is None:
        raise _error("contactId", "no such contact", "NOT_FOUND")
    if await _primary_email(uow.session, contact_id) is None:
        raise _error("contactId", "the contact has no primary e-mail address", "NO_EMAIL")
    if not await _consented(uow, contact_id):
        raise _error("contactId", f"the contact has not consented to `{CONSENT_PURPOSE}`", "NO_CONSENT")
    now = uow.clock.now()
    last = (
        await uow.session.execute(
            select(InsightsSurveyAnswer.sent_at)
            .where(InsightsSurveyAnswer.contact_id == contact_id, InsightsSurveyAnswer.source == "insights")
            .order_by(InsightsSurveyAnswer.sent_at.desc())
            .limit(1)
        )
    ).scalar()
    gap = config.survey_min_gap(uow.runtime.settings)
    if last is not None and now < last + gap:
        message = f"the contact was sent a survey on {last.date()}; the next may go from {(last + gap).date()}"
        raise _error("contactId", message, "RATE_LIMITED")
    token = secrets.token_urlsafe(24)
    answer = InsightsSurveyAnswer(
        survey_id=survey.id,
        kind=survey.kind,
        source="insights",
        contact_id=contact_id,
        token_hash=token_hash(token),
        status="sent",
        sent_at=now,
        expires_at=now + config.survey_validity(uow.runtime.settings),
    )
    uow.session.add(answer)
    await uow.session.flush()
    await uow.emit(SURVEY_REQUESTED, answer.id, {"_token": token})
    return answer


async def mail_survey(runtime, event) -> None:
    """Mail the link to the contact's primary address, the question in Japanese and English."""
    token = event.payload.get("_token")
    async with runtime.read_session() as session:
        found = (
            await session.execute(
                select(InsightsSurveyAnswer.contact_id, InsightsSurvey)
                .join(InsightsSurvey, InsightsSurvey.id == InsightsSurveyAnswer.survey_id)
                .where(InsightsSurveyAnswer.id == event.entity_id)
            )
        ).first()
        email = await _primary_email(session, found[0]) if found and found[0] else None
    if token is None or email is None or email.address is None:  # delivered before, or nobody to ask any more
        return
    survey = found[1]
    link = runtime.settings.public_link(f"/insights/surveys/{token}")
    days = config.survey_validity(runtime.settings).days
    body = (
        f"{survey.question_ja}\n\n    {link}\n\n{survey.question_en}\n\n    {link}\n\n"
        f"このリンクは一度だけ、{days}日間使えます。 / The link works once, for {days} days.\n"
    )
    await send_for_event(
        runtime.settings,
        event,
        to=email.address,
        subject="ご意見をお聞かせください / We would like your opinion",
        body=body,
        data_subject=email.contact_id,
    )


async def _link(session, token: str, now: dt.datetime, *, lock: bool = False):
    """(answer row, survey) of a link, or raises the typed error saying why it cannot be answered:
    `INVALID_TOKEN`, `ALREADY_ANSWERED`, `EXPIRED`. Locked, two answers through one link queue."""
    statement = (
        select(InsightsSurveyAnswer, InsightsSurvey)
        .join(InsightsSurvey, InsightsSurvey.id == InsightsSurveyAnswer.survey_id)
        .where(InsightsSurveyAnswer.token_hash == token_hash(token or ""))
    )
    found = (await session.execute(statement.with_for_update(of=InsightsSurveyAnswer) if lock else statement)).first()
    if found is None:
        problem = "INVALID_TOKEN"
    elif found[0].status == "answered":
        problem = "ALREADY_ANSWERED"
    elif found[0].expires_at is not None and now >= found[0].expires_at:
        problem = "EXPIRED"
    else:
        return found[0], found[1]
    raise _error("token", TOKEN_MESSAGES[problem], problem)


TOKEN_MESSAGES = {
    "INVALID_TOKEN": "is not a valid survey link",
    "ALREADY_ANSWERED": "this survey was already answered",
    "EXPIRED": "this survey link has expired",
}


async def open_link(session, token: str, now: dt.datetime) -> InsightsSurvey:
    """The survey a link asks (for its page); raises InputError like `answer_survey`."""
    return (await _link(session, token, now))[1]


async def answer_survey(uow: UnitOfWork, token: str, score: int, comment: str | None) -> InsightsSurveyAnswer:
    """Record the answer once: the score on the row, the score and comment on the contact's
    timeline (unless the contact was deleted since the link was sent)."""
    answer, survey = await _link(uow.session, token, uow.clock.now(), lock=True)
    check = Checker()
    scale = SCALES[answer.kind]
    if score not in scale:
        check.fail("score", f"must be between {scale.start} and {scale.stop - 1}", "OUT_OF_RANGE")
    comment = check.text({"comment": comment}, "comment", max_length=5000)
    check.done()
    answer.status, answer.score, answer.answered_at = "answered", score, uow.clock.now()
    if answer.contact_id is not None and await live_ids(uow, Contact, [answer.contact_id]):
        activity = await log_activity(
            uow,
            {
                "type": ACTIVITY_TYPE,
                "summary": f"{survey.name}: {LABELS[answer.kind]} {score}",
                "body": comment,
                "direction": "inbound",
                "contact_ids": [answer.contact_id],
            },
            source_plugin="insights",
        )
        answer.activity_id = activity.id
    await uow.session.flush()
    contact = str(answer.contact_id) if answer.contact_id else None
    await uow.emit(SURVEY_ANSWERED, answer.id, {"kind": answer.kind, "score": score, "contact_id": contact, "source": "insights"})
    return answer


async def record_reported(uow: UnitOfWork, event) -> None:
    """Another plugin's answer (support's CSAT) joins the figures: a row without survey or token.
    Out-of-scale scores from a faulty emitter are left out rather than skewing the figures."""
    kind, score = event.payload["kind"], event.payload["score"]
    if event.payload["source"] == "insights" or kind not in SCALES or score not in SCALES[kind]:
        return
    contact = event.payload.get("contact_id")
    now = uow.clock.now()
    uow.session.add(
        InsightsSurveyAnswer(
            kind=kind,
            source=event.payload["source"],
            contact_id=uuid.UUID(contact) if contact else None,
            status="answered",
            sent_at=now,
            score=score,
            answered_at=now,
        )
    )
    await uow.session.flush()

"""The register of processors (委託先) and recipients of personal data: who they are, where
(country and transfer route, 法第28条), why, under which contract and DPA (GDPR Art. 28), with
which safeguards and sub-processors; and the review reminder, a task raised once per review date
by a scheduled job."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import or_, select, update

from enishi.plugin import Checker, InputError, UnitOfWork, User, UserError, create_task, load_for_update

from .models import PrivacyProvision
from .provision_models import RECIPIENT_KINDS, TRANSFER_ROUTES, PrivacyCrossBorderConsent, PrivacyRecipient

HOME_COUNTRY = "JP"
# Countries with a regime the PPC recognises as equivalent (規則第15条, 平成31年個人情報保護委員会告示
# 第1号 and its 2023 amendment): the EU and EEA member states and the United Kingdom.
_EEA_AND_UK = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK IS LI NO GB"
ADEQUATE_COUNTRIES = frozenset(_EEA_AND_UK.split())
DEFAULT_REVIEW_NOTICE_DAYS = 30
MAX_SUB_PROCESSORS = 50
EDITABLE = (
    "name",
    "kind",
    "country",
    "transfer_route",
    "purpose",
    "contract_date",
    "dpa_date",
    "review_date",
    "security_measures",
    "sub_processors",
    "reviewer_id",
)


def review_notice_days(settings) -> int:
    """How many days before its review date a recipient's reminder is raised (`[extra] privacy_review_notice_days`)."""
    return int(settings.extra.get("privacy_review_notice_days", DEFAULT_REVIEW_NOTICE_DAYS))


def abroad(recipient: PrivacyRecipient) -> bool:
    return recipient.country != HOME_COUNTRY


async def _check(uow: UnitOfWork, data: dict, current: PrivacyRecipient | None) -> dict:
    """The recipient's fields as they will be after the change, checked together: the route must
    fit the country whichever of the two changes."""
    check = Checker()
    values = {field: getattr(current, field) for field in EDITABLE} if current else {}
    values.update({field: data[field] for field in EDITABLE if field in data})
    values["name"] = check.text(values, "name", max_length=200, required=True)
    values["purpose"] = check.text(values, "purpose", max_length=500, required=True)
    values["security_measures"] = check.text(values, "security_measures", max_length=4000)
    if values.get("kind") not in RECIPIENT_KINDS:
        check.fail("kind", f"must be one of: {', '.join(RECIPIENT_KINDS)}", "INVALID_CHOICE")
    country = (values.get("country") or "").strip().upper()
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        check.fail("country", "must be an ISO 3166-1 alpha-2 code such as JP, US or DE", "INVALID_COUNTRY")
    values["country"] = country
    route = values.get("transfer_route")
    if country == HOME_COUNTRY:
        values["transfer_route"] = "domestic"
    elif route not in TRANSFER_ROUTES or route == "domestic":
        check.fail(
            "transferRoute", "a recipient abroad needs ADEQUACY, EQUIVALENT_MEASURES or CONSENT", "TRANSFER_ROUTE_REQUIRED"
        )
    elif route == "adequacy" and country not in ADEQUATE_COUNTRIES:
        check.fail("transferRoute", "the PPC recognises only the EEA and the UK as adequate", "NOT_ADEQUATE")
    elif route == "equivalent_measures" and not values["security_measures"]:
        check.fail("securityMeasures", "name the measures equivalent to the APPI's (基準適合体制)", "REQUIRED")
    subs = values.get("sub_processors") or []
    if len(subs) > MAX_SUB_PROCESSORS:
        check.fail("subProcessors", f"at most {MAX_SUB_PROCESSORS}", "TOO_MANY")
    for i, sub in enumerate(subs):
        if not (sub.get("name") or "").strip() or len(sub["name"]) > 200:
            check.fail(f"subProcessors.{i}.name", "is required (at most 200 characters)", "REQUIRED")
        if len(sub.get("country") or "") != 2:
            check.fail(f"subProcessors.{i}.country", "must be an ISO 3166-1 alpha-2 code", "INVALID_COUNTRY")
    values["sub_processors"] = [{"name": s["name"].strip(), "country": (s.get("country") or "").upper()} for s in subs]
    if values.get("reviewer_id") is not None and await uow.session.get(User, values["reviewer_id"]) is None:
        check.fail("reviewerId", "no such user", "NOT_FOUND")
    taken = select(PrivacyRecipient.id).where(PrivacyRecipient.name == values["name"])
    if current is not None:
        taken = taken.where(PrivacyRecipient.id != current.id)
    if values["name"] and (await uow.session.execute(taken)).first() is not None:
        check.fail("name", "a recipient of this name is registered already", "DUPLICATE")
    check.done()
    return values


async def register(uow: UnitOfWork, data: dict) -> PrivacyRecipient:
    values = await _check(uow, data, None)
    now = uow.clock.now()
    recipient = PrivacyRecipient(**values, created_by=uow.actor_id, created_at=now, updated_at=now)
    uow.session.add(recipient)
    await uow.session.flush()
    return recipient


def refuse_retired(recipient: PrivacyRecipient, field: str = "recipientId") -> None:
    if recipient.retired_at is not None:
        raise InputError(UserError(field, "this recipient was deleted: it receives nothing more", "RECIPIENT_RETIRED"))


async def delete_recipient(uow: UnitOfWork, recipient_id: uuid.UUID) -> PrivacyRecipient | None:
    """Delete a recipient from the register; one that provision records or cross-border consents
    name is retired instead (kept for them, refused for any new provision or consent, no more
    review reminders) and returned."""
    recipient = await load_for_update(uow, PrivacyRecipient, recipient_id, field="id")
    refuse_retired(recipient, "id")
    named = [
        select(model.seq).where(model.recipient_id == recipient.id).limit(1)
        for model in (PrivacyProvision, PrivacyCrossBorderConsent)
    ]
    if any([(await uow.session.execute(statement)).first() is not None for statement in named]):
        recipient.retired_at = recipient.updated_at = uow.clock.now()
        await uow.session.flush()
        return recipient
    await uow.session.delete(recipient)
    await uow.session.flush()
    return None


async def update_recipient(uow: UnitOfWork, recipient_id: uuid.UUID, data: dict) -> PrivacyRecipient:
    recipient = await load_for_update(uow, PrivacyRecipient, recipient_id, field="id")
    refuse_retired(recipient, "id")
    for field, value in (await _check(uow, data, recipient)).items():
        setattr(recipient, field, value)
    recipient.updated_at = uow.clock.now()
    await uow.session.flush()
    return recipient


async def by_name(uow: UnitOfWork, name: str) -> PrivacyRecipient:
    """The registered recipient a plugin names (`enishi_record_provision`), or a typed refusal: a
    provision to someone not in the register cannot be judged, so it is not made."""
    recipient = (await uow.session.execute(select(PrivacyRecipient).where(PrivacyRecipient.name == name.strip()))).scalar()
    if recipient is None:
        raise InputError(
            UserError("recipient", "register the recipient first (registerRecipient): its country decides", "UNKNOWN_RECIPIENT")
        )
    refuse_retired(recipient, "recipient")
    return recipient


def _due(runtime):
    """Recipients whose review date is within the notice days (or past) and not reminded for it."""
    today = runtime.clock.now().astimezone(runtime.settings.zone).date()
    horizon = today + dt.timedelta(days=review_notice_days(runtime.settings))
    return (
        (PrivacyRecipient.review_date <= horizon)
        & PrivacyRecipient.retired_at.is_(None)
        & or_(PrivacyRecipient.reminded_for.is_(None), PrivacyRecipient.reminded_for != PrivacyRecipient.review_date)
    )


async def due_recipients(runtime) -> list[uuid.UUID]:
    async with runtime.read_session() as session:
        return list(await session.scalars(select(PrivacyRecipient.id).where(_due(runtime)).order_by(PrivacyRecipient.id)))


async def remind_reviews(runtime) -> int:
    """The scheduled job: a task for each recipient whose review date is within the notice days
    (or past), once per review date."""
    return await remind(runtime, await due_recipients(runtime))


async def remind(runtime, recipient_ids: list[uuid.UUID]) -> int:
    """Raise the reminders of `recipient_ids` (a list that may be stale: another worker may have
    raised some since). Each is claimed by a conditional update that succeeds in one transaction
    only, which then creates the task: reruns and several workers raise each once."""
    raised = 0
    for recipient_id in recipient_ids:
        async with runtime.unit_of_work() as uow:
            claimed = await uow.session.execute(
                update(PrivacyRecipient)
                .where(PrivacyRecipient.id == recipient_id, _due(runtime))
                .values(reminded_for=PrivacyRecipient.review_date)
            )
            if not claimed.rowcount:
                continue  # another worker raised it
            recipient = await uow.session.get_one(PrivacyRecipient, recipient_id, populate_existing=True)
            assert recipient.review_date is not None  # the claim required one
            task = await create_task(
                uow,
                {
                    "title": f"委託先・提供先の見直し: {recipient.name} (期限 {recipient.review_date.isoformat()})",
                    "assignee_id": recipient.reviewer_id or recipient.created_by,
                    "due_at": dt.datetime.combine(recipient.review_date, dt.time(), tzinfo=uow.settings.zone),
                },
            )
            recipient.reminder_task_id = task.id
            await uow.session.flush()
            raised += 1
    return raised

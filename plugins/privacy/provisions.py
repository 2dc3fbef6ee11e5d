"""Provision records (法第29条): what was provided to whom, about whom, on which basis, and how
long the record is kept; the cross-border check (法第28条) and the consents it relies on.

A provision is judged before anything is written, and refused whole: to a recipient not in the
register (`UNKNOWN_RECIPIENT`); abroad, outside an adequate country or equivalent measures, to
anyone without a consent that snapshots the recipient's country and measures as they are now
(`CROSS_BORDER_CONSENT_REQUIRED`); to a third party in Japan (or an adequate country, or one with
equivalent measures) on consent, to anyone without the `third_party_provision` consent
(`PROVISION_CONSENT_REQUIRED`). Provision to a processor (委託), a joint user (共同利用) or a
successor (事業承継), or on a legal ground (法第27条第1項各号), needs no consent and its record
is flagged `exempt` (法第29条第1項ただし書: kept anyway, as proof).

Retention (規則第21条, and the PPC's Q&A 13-35 on where the count starts): a record made per
provision is kept 3 years from the day it was made; records made in bulk for repeated
provision to one recipient (規則第19条第2項ただし書) 3 years from the last provision they cover,
and those kept as a contract or similar document for provision in connection with goods or
services for the person (規則第19条第3項) 1 year from the last provision. `keep_until` is that
day (in the business's time zone)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update

from enishi.plugin import Checker, Contact, InputError, UnitOfWork, UserError, live_ids

from . import access_log, recipients, service
from .models import PrivacyProvision
from .provision_models import RECORD_METHODS, PrivacyCrossBorderConsent, PrivacyRecipient

THIRD_PARTY_CONSENT = "third_party_provision"
EXEMPT_BASES = {"processor": "entrustment", "joint_user": "joint_use", "successor": "business_succession"}
MAX_SUBJECTS = 10_000
MAX_ITEMS = 50


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February: the last day of February
        return day.replace(year=day.year + years, day=28)


def _business_day(uow: UnitOfWork, instant: dt.datetime) -> dt.date:
    return instant.astimezone(uow.settings.zone).date()


def kept_until(uow: UnitOfWork, happened_at: dt.datetime, record_method: str) -> tuple[dt.date, dt.date]:
    """The day a record is made (today) and the day it may go (規則第21条, and 第25条 for records of
    data received): 3 years from today for a record per provision, 3 years from the provision for
    one made in bulk, 1 year for one kept as a contract."""
    today = _business_day(uow, uow.clock.now())
    since = today if record_method == "individual" else _business_day(uow, happened_at)
    return today, _years_after(since, 1 if record_method == "contract" else 3)


def check_people(check: Checker, contact_ids: Sequence) -> None:
    if not contact_ids:
        check.fail("contactIds", "name at least one person", "REQUIRED")
    if len(contact_ids) > MAX_SUBJECTS:
        check.fail("contactIds", f"at most {MAX_SUBJECTS} people per record", "TOO_MANY")


def checked_items(check: Checker, data_items: Sequence[str]) -> list[str]:
    """The data items a record names (規則第20条, 第24条), trimmed; at least one."""
    items = [item.strip() for item in data_items if item and item.strip()]
    if not items:
        check.fail("dataItems", "name the data items (規則第20条, 第24条)", "REQUIRED")
    if len(items) > MAX_ITEMS or any(len(item) > 100 for item in items):
        check.fail("dataItems", f"at most {MAX_ITEMS} items of 100 characters", "TOO_LONG")
    return items


async def existing_people(uow: UnitOfWork, contact_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The people named, once each, all live (else a typed refusal)."""
    people = list(dict.fromkeys(contact_ids))
    found = set(await live_ids(uow, Contact, people))
    if missing := [c for c in people if c not in found]:
        raise InputError(UserError("contactIds", f"{len(missing)} of these people do not exist", "NOT_FOUND"))
    return people


def basis_of(recipient: PrivacyRecipient, requested: str | None) -> str:
    """The basis a provision to `recipient` stands on: fixed by the kind for those who are not
    third parties; consent or a legal ground for a third party."""
    return EXEMPT_BASES.get(recipient.kind) or requested or "consent"


async def _judge(uow: UnitOfWork, recipient: PrivacyRecipient, basis: str, contact_ids: Sequence[uuid.UUID]) -> None:
    """Refuse the provision (nothing written) when some person's data may not go to `recipient`."""
    if basis == "law":
        return  # 法第27条第1項各号 (and 法第28条第1項 abroad): no consent is asked
    if recipients.abroad(recipient) and recipient.transfer_route == "consent":
        missing = [c for c in contact_ids if c not in await cross_border_consented(uow.session, recipient, contact_ids)]
        if missing:
            raise InputError(
                UserError(
                    "contactIds",
                    f"{len(missing)} of these people gave no consent to a transfer to this recipient's country "
                    "with its regime and measures as they are now (法第28条): record it first",
                    "CROSS_BORDER_CONSENT_REQUIRED",
                )
            )
        return  # the cross-border consent is the consent to this provision
    if basis == "consent":
        allowed = await service.check(uow.session, list(contact_ids), THIRD_PARTY_CONSENT)
        missing = [c for c in contact_ids if not allowed.get(c)]
        if missing:
            raise InputError(
                UserError(
                    "contactIds",
                    f"{len(missing)} of these people have not consented to provision to third parties "
                    f"(purpose {THIRD_PARTY_CONSENT}), withdrew it or asked to stop it",
                    "PROVISION_CONSENT_REQUIRED",
                )
            )


async def cross_border_consented(session, recipient: PrivacyRecipient, contact_ids) -> set[uuid.UUID]:
    """The people whose latest cross-border consent for `recipient` is granted and was given for its
    country and measures as they are now."""
    latest = (
        select(func.max(PrivacyCrossBorderConsent.seq))
        .where(
            PrivacyCrossBorderConsent.recipient_id == recipient.id,
            PrivacyCrossBorderConsent.contact_id.in_(list(contact_ids)),
        )
        .group_by(PrivacyCrossBorderConsent.contact_id)
    )
    rows = (await session.execute(select(PrivacyCrossBorderConsent).where(PrivacyCrossBorderConsent.seq.in_(latest)))).scalars()
    return {
        r.contact_id
        for r in rows
        if r.state == "granted" and r.country == recipient.country and r.security_measures == recipient.security_measures
    }


async def record(
    uow: UnitOfWork,
    recipient: PrivacyRecipient,
    contact_ids: Sequence[uuid.UUID],
    *,
    purpose: str,
    data_items: Sequence[str],
    provided_at: dt.datetime | None = None,
    basis: str | None = None,
    legal_ground: str | None = None,
    record_method: str = "individual",
) -> list[PrivacyProvision]:
    """Judge, then write one record per person, and log the disclosure in the access log."""
    recipients.refuse_retired(recipient)
    check = Checker()
    check_people(check, contact_ids)
    items = checked_items(check, data_items)
    purpose = check.text({"purpose": purpose}, "purpose", max_length=200, required=True)
    basis = basis_of(recipient, basis)
    if basis == "law":
        legal_ground = check.text({"legalGround": legal_ground}, "legalGround", max_length=1000, required=True)
    elif legal_ground:
        check.fail("legalGround", "only a provision on a legal ground (LAW) names one", "INVALID")
    if record_method not in RECORD_METHODS:
        check.fail("recordMethod", f"must be one of: {', '.join(RECORD_METHODS)}", "INVALID_CHOICE")
    now = uow.clock.now()
    provided_at = provided_at or now
    if provided_at > now:
        check.fail("providedAt", "must not be in the future", "IN_THE_FUTURE")
    check.done()
    people = await existing_people(uow, contact_ids)
    await _judge(uow, recipient, basis, people)
    today, keep_until = kept_until(uow, provided_at, record_method)
    rows = [
        PrivacyProvision(
            contact_id=contact_id,
            recipient=recipient.name,
            recipient_id=recipient.id,
            purpose=purpose,
            data_items=items,
            basis=basis,
            legal_ground=legal_ground,
            exempt=basis != "consent",
            country=recipient.country,
            record_method=record_method,
            recorded_on=today,
            keep_until=keep_until,
            actor_id=uow.actor_id,
            provided_at=provided_at,
        )
        for contact_id in people
    ]
    uow.session.add_all(rows)
    await uow.session.flush()
    if record_method != "individual":
        await extend_earlier(uow, PrivacyProvision.recipient_id, recipient.id, record_method)
    await access_log.append_many(uow, people, "provided", f"recipient:{recipient.id}")
    return rows


async def extend_earlier(uow: UnitOfWork, party, party_value, method: str) -> None:
    """A bulk or contract record is kept from the LAST provision it covers: every record with the
    same `party` (a column of the records' table: the recipient, the provider) made the same way is
    kept as long as the latest."""
    model = party.class_
    latest = (
        await uow.session.execute(select(func.max(model.keep_until)).where(party == party_value, model.record_method == method))
    ).scalar_one()
    await uow.session.execute(update(model).where(party == party_value, model.record_method == method).values(keep_until=latest))


async def record_for_plugin(uow: UnitOfWork, contact_ids, recipient_name: str, purpose: str, data_items) -> None:
    """`enishi_record_provision`: a plugin's export to a recipient it names."""
    recipient = await recipients.by_name(uow, recipient_name)
    await record(uow, recipient, list(contact_ids), purpose=purpose, data_items=list(data_items or ()))


async def record_cross_border_consent(uow: UnitOfWork, contact_id: uuid.UUID, recipient_id: uuid.UUID, data: dict):
    """The person's consent to (or withdrawal from) provision to `recipient` abroad, snapshotting the
    country, the information on its regime they were given, and the recipient's measures now."""
    check = Checker()
    state = check.choice(data, "state", ("granted", "withdrawn")) or "granted"
    regime = check.text(data, "regime_information", max_length=4000, required=state == "granted")
    recipient = await uow.session.get(PrivacyRecipient, recipient_id)
    if recipient is None:
        check.fail("recipientId", "no such recipient", "NOT_FOUND")
    elif not recipients.abroad(recipient):
        check.fail("recipientId", "this recipient is in Japan: no cross-border consent applies", "NOT_ABROAD")
    elif recipient.retired_at is not None:
        check.fail("recipientId", "this recipient was deleted: it receives nothing more", "RECIPIENT_RETIRED")
    if not await live_ids(uow, Contact, [contact_id]):
        check.fail("contactId", "no such contact", "NOT_FOUND")
    check.done()
    assert recipient is not None  # check.done() raised when it was missing
    row = PrivacyCrossBorderConsent(
        contact_id=contact_id,
        recipient_id=recipient.id,
        state=state,
        country=recipient.country,
        regime_information=regime or "",
        security_measures=recipient.security_measures,
        actor_id=uow.actor_id,
        captured_at=uow.clock.now(),
    )
    uow.session.add(row)
    await uow.session.flush()
    return row


def disclosed(provision: PrivacyProvision) -> dict:
    """A provision record as an APPI disclosure (法第33条第5項) shows it: no actor, no internal ids."""
    return {
        "recipient": provision.recipient,
        "country": provision.country,
        "purpose": provision.purpose,
        "data_items": provision.data_items or [],
        "basis": provision.basis,
        "legal_ground": provision.legal_ground,
        "exempt": provision.exempt,
        "provided_at": provision.provided_at.isoformat(),
        "keep_until": provision.keep_until.isoformat() if provision.keep_until else None,
    }

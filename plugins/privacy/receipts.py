"""Records of personal data received from a third party (法第30条): before receiving it the
business confirms who the provider is (name, address, and for a company its representative) and
how the provider obtained the data (取得の経緯), and records that with the people, the items, the
basis the provider relied on and the day (規則第24条). The records are kept as provision records
are (規則第25条: 3 years, or 1 from the last receipt for those kept as a contract, 3 from the last
for bulk records) and disclosed to the person on request (法第33条第5項).

Data received on a law (法第27条第1項各号), or from someone who is not a third party (委託,
共同利用, 事業承継: 同条第5項) needs no record; it is recorded anyway and flagged `exempt`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from enishi.plugin import Checker, UnitOfWork

from . import provisions
from .models import PrivacyProvision
from .provision_models import RECEIPT_BASES, RECORD_METHODS, PrivacyCrossBorderConsent, PrivacyReceipt, PrivacyRecipient
from .provisions import check_people, checked_items, existing_people, extend_earlier, kept_until

RECORDED_BASES = ("consent", "opt_out")  # those 法第30条 requires a record of


async def record(uow: UnitOfWork, contact_ids: Sequence[uuid.UUID], data: dict) -> list[PrivacyReceipt]:
    """Check, then write one record per person received."""
    check = Checker()
    check_people(check, contact_ids)
    provider = check.text(data, "provider", max_length=200, required=True)
    address = check.text(data, "provider_address", max_length=500, required=True)
    representative = check.text(data, "provider_representative", max_length=200)
    acquisition = check.text(data, "acquisition", max_length=1000, required=True)
    items = checked_items(check, data.get("data_items") or [])
    basis = check.choice(data, "basis", RECEIPT_BASES)
    method = check.choice(data, "record_method", RECORD_METHODS) or "individual"
    now = uow.clock.now()
    received_at: dt.datetime = data.get("received_at") or now
    if received_at > now:
        check.fail("receivedAt", "must not be in the future", "IN_THE_FUTURE")
    check.done()
    assert provider and address and acquisition and basis  # required above
    people = await existing_people(uow, contact_ids)
    recorded_on, keep_until = kept_until(uow, received_at, method)
    rows = [
        PrivacyReceipt(
            contact_id=contact_id,
            provider=provider,
            provider_address=address,
            provider_representative=representative,
            acquisition=acquisition,
            data_items=items,
            basis=basis,
            exempt=basis not in RECORDED_BASES,
            record_method=method,
            received_at=received_at,
            recorded_on=recorded_on,
            keep_until=keep_until,
            actor_id=uow.actor_id,
        )
        for contact_id in people
    ]
    uow.session.add_all(rows)
    await uow.session.flush()
    if method != "individual":
        await extend_earlier(uow, PrivacyReceipt.provider, provider, method)
    return rows


def disclosed(receipt: PrivacyReceipt) -> dict:
    """A receipt record as an APPI disclosure (法第33条第5項) shows it: no actor, no internal ids."""
    return {
        "provider": receipt.provider,
        "provider_address": receipt.provider_address,
        "provider_representative": receipt.provider_representative,
        "acquisition": receipt.acquisition,
        "data_items": list(receipt.data_items or []),
        "basis": receipt.basis,
        "exempt": receipt.exempt,
        "received_at": receipt.received_at.isoformat(),
        "keep_until": receipt.keep_until.isoformat(),
    }


def _cross_border(consent: PrivacyCrossBorderConsent, recipients_by_id: dict) -> dict:
    """A cross-border consent as the person sees it: the recipient, the country and what they were told."""
    return {
        "recipient": recipients_by_id[consent.recipient_id],
        "state": consent.state,
        "country": consent.country,
        "regime_information": consent.regime_information,
        "security_measures": consent.security_measures,
        "captured_at": consent.captured_at.isoformat(),
    }


async def disclosures(session, contact_id: uuid.UUID) -> dict[str, list[dict]]:
    """What an access or APPI disclosure export shows of a person's provision register entries
    (法第33条第5項: the records of 法第29条 and 第30条; 法第28条: the consents to transfers abroad)."""

    def of_subject(model):
        return select(model).where(model.contact_id == contact_id).order_by(model.seq)

    provided = (await session.execute(of_subject(PrivacyProvision))).scalars().all()
    consents = (await session.execute(of_subject(PrivacyCrossBorderConsent))).scalars().all()
    received = (await session.execute(of_subject(PrivacyReceipt))).scalars().all()
    names = dict(
        (
            await session.execute(
                select(PrivacyRecipient.id, PrivacyRecipient.name).where(
                    PrivacyRecipient.id.in_({c.recipient_id for c in consents})
                )
            )
        ).all()
    )
    return {
        "third_party_provisions": [provisions.disclosed(p) for p in provided],
        "cross_border_consents": [_cross_border(c, names) for c in consents],
        "received_from_third_parties": [disclosed(r) for r in received],
    }

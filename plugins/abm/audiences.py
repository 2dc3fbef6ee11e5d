"""Audience exports: the contacts of matching target accounts, without those lacking consent, for
a marketing tool. Separate because it is where personal data leaves the CRM, through the consent
and provision hooks of the privacy plugin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from enishi.plugin import Checker, Contact, ContactAccount, UnitOfWork

from .events import AUDIENCE_EXPORTED
from .models import ROLES, STAGES, AbmBuyingRole, AbmTargetAccount

# What an audience hands over (the members' contact fields a marketing tool takes, their company
# and buying role): the data items of the provision record.
AUDIENCE_DATA_ITEMS = ["name", "email", "phone", "company", "buying_role"]


@dataclass
class AudienceMember:
    contact_id: uuid.UUID
    account_id: uuid.UUID
    role: str | None


async def export_audience(
    uow: UnitOfWork,
    *,
    tier=None,
    stage=None,
    owner_id=None,
    roles=None,
    segment_id: uuid.UUID | None = None,
    destination: str,
    third_party: bool,
    purpose: str = "marketing",
) -> tuple[list[AudienceMember], int]:
    """The contacts of the matching target accounts. With a consent provider installed (the
    privacy plugin), contacts without consent for `purpose` are left out, and a provision to a
    third party is recorded, before anything is handed over: the privacy plugin refuses it (and
    so the export) when the destination is not in its recipient register, or a person lacks the
    consent to provision or to a transfer abroad that the recipient needs. With `segment_id`, only
    the members of that saved segment (`enishi_segment_members`: the insights plugin's) count: the
    contacts in it, or the contacts of the accounts in it."""
    check = Checker()
    destination = check.text({"destination": destination}, "destination", max_length=200, required=True)
    if roles and set(roles) - set(ROLES):
        check.fail("roles", f"must be among: {', '.join(ROLES)}", "INVALID_CHOICE")
    if stage is not None and stage not in STAGES:
        check.fail("stage", f"must be one of: {', '.join(STAGES)}", "INVALID_CHOICE")
    segment = await _segment_members(uow, segment_id, check) if segment_id is not None else None
    check.done()
    statement = (
        select(ContactAccount.contact_id, ContactAccount.account_id, AbmBuyingRole.role)
        .join(AbmTargetAccount, AbmTargetAccount.account_id == ContactAccount.account_id)
        .join(Contact, Contact.id == ContactAccount.contact_id)
        .outerjoin(
            AbmBuyingRole,
            (AbmBuyingRole.account_id == ContactAccount.account_id) & (AbmBuyingRole.contact_id == ContactAccount.contact_id),
        )
        .where(Contact.deleted_at.is_(None))
        .order_by(ContactAccount.account_id, ContactAccount.contact_id)
    )
    for column, value in ((AbmTargetAccount.tier, tier), (AbmTargetAccount.stage, stage), (AbmTargetAccount.owner_id, owner_id)):
        if value is not None:
            statement = statement.where(column == value)
    if roles:
        statement = statement.where(AbmBuyingRole.role.in_(roles))
    if segment is not None:
        kind, ids = segment
        statement = statement.where((ContactAccount.contact_id if kind == "contact" else ContactAccount.account_id).in_(ids))
    members = [AudienceMember(c, a, r) for c, a, r in (await uow.session.execute(statement)).all()]
    plugins = uow.runtime.plugins
    excluded = 0
    if members and plugins.implementations("enishi_consent_check"):
        contact_ids = sorted({m.contact_id for m in members})
        answers = [
            answer or {}
            for _, answer in await plugins.call("enishi_consent_check", uow=uow, contact_ids=contact_ids, purpose=purpose)
        ]
        allowed = {c for c in contact_ids if all(answer.get(c) is True for answer in answers)}
        excluded = len([m for m in members if m.contact_id not in allowed])
        members = [m for m in members if m.contact_id in allowed]
    if third_party and members:
        await plugins.call(
            "enishi_record_provision",
            uow=uow,
            contact_ids=sorted({m.contact_id for m in members}),
            recipient=destination,
            purpose=purpose,
            data_items=AUDIENCE_DATA_ITEMS,
        )
    await uow.emit(AUDIENCE_EXPORTED, None, {"contacts": len(members), "excluded": excluded, "third_party": third_party})
    return members, excluded


async def _segment_members(uow: UnitOfWork, segment_id: uuid.UUID, check: Checker) -> tuple[str, list[uuid.UUID]] | None:
    answers = await uow.runtime.plugins.call("enishi_segment_members", session=uow.session, segment_id=segment_id)
    if not answers:
        check.fail("segmentId", "no such saved segment", "NOT_FOUND")
        return None
    return answers[0][1]

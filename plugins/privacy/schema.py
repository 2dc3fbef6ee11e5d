"""Privacy's GraphQL, part one: consent on contacts, its history, and recording or withdrawing it."""
from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.graphql.errors import UserErrorType
from enishi.graphql.mutations import input_values, run_mutation
from enishi.graphql.relay import parse_global_id

from . import service
from .models import PrivacyConsent


@strawberry.type
class PrivacyConsentRecord:
    purpose: str
    state: str
    notice_id: str | None
    notice_version: str | None
    source: str
    method: str | None
    captured_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> "PrivacyConsentRecord":
        return cls(purpose=r.purpose, state=r.state, notice_id=r.notice_id, notice_version=r.notice_version, source=r.source,
                   method=r.method, captured_at=r.captured_at, _row=r)


def _consents_factory(ctx):
    async def load(contact_ids):
        async with ctx.runtime.read_session() as session:
            states = await service.current(session, contact_ids)
        grouped = {c: [] for c in contact_ids}
        for (contact_id, _), record in sorted(states.items(), key=lambda item: item[0][1]):
            grouped[contact_id].append(record)
        return [grouped[c] for c in contact_ids]

    return load


async def contact_consents(root, info: Info) -> list[PrivacyConsentRecord]:
    """`Contact.consents`: the current state of each purpose (privacy plugin)."""
    info.context.require("privacy.consent.read")
    return [PrivacyConsentRecord.from_row(r) for r in await info.context.loader("privacy.consents", _consents_factory).load(root._row.id)]


@strawberry.type
class PrivacyQuery:
    @strawberry.field(description="Every consent record of a contact, oldest first: history is never rewritten.")
    async def consent_history(self, info: Info, contact_id: strawberry.ID, purpose: str | None = None) -> list[PrivacyConsentRecord]:
        info.context.require("privacy.consent.read")
        statement = select(PrivacyConsent).where(PrivacyConsent.contact_id == parse_global_id(contact_id, "Contact", "contactId"))
        if purpose is not None:
            statement = statement.where(PrivacyConsent.purpose == purpose)
        return [PrivacyConsentRecord.from_row(r) for r in await info.context.scalars(statement.order_by(PrivacyConsent.seq))]

    @strawberry.field(description="A one-click withdrawal link path for emails: POST it to withdraw, no login needed.")
    def consent_withdrawal_link(self, info: Info, contact_id: strawberry.ID, purpose: str) -> str:
        info.context.require("privacy.consent.write")
        token = service.withdrawal_token(info.context.settings, parse_global_id(contact_id, "Contact", "contactId"), purpose)
        return f"/privacy/withdraw/{token}"


@strawberry.type
class PrivacyConsentPayload:
    consent: PrivacyConsentRecord | None
    user_errors: list[UserErrorType]


@strawberry.input
class RecordConsentInput:
    contact_id: strawberry.ID
    purpose: str = strawberry.field(description="e.g. marketing, profiling, third_party_provision")
    state: str = strawberry.field(description="granted or withdrawn")
    notice_id: str | None = None
    notice_version: str | None = None
    source: str = strawberry.field(default="api", description="web_form, import, api, agent, gpc or link")
    method: str | None = None
    evidence: str | None = strawberry.field(default=None, description="Stored encrypted under the subject's key.")


@strawberry.input
class WithdrawConsentInput:
    contact_id: strawberry.ID
    purpose: str
    source: str = "agent"


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation
    async def record_consent(self, info: Info, input: RecordConsentInput) -> PrivacyConsentPayload:
        row, errors = await run_mutation(info, "privacy.consent.write", lambda uow: service.record_consent(
            uow, parse_global_id(input.contact_id, "Contact", "contactId"), input_values(input, skip=("contact_id",))))
        return PrivacyConsentPayload(consent=PrivacyConsentRecord.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="As easy as giving it: one call withdraws a consent.")
    async def withdraw_consent(self, info: Info, input: WithdrawConsentInput) -> PrivacyConsentPayload:
        row, errors = await run_mutation(info, "privacy.consent.write", lambda uow: service.record_consent(
            uow, parse_global_id(input.contact_id, "Contact", "contactId"),
            {"purpose": input.purpose, "state": "withdrawn", "source": input.source}))
        return PrivacyConsentPayload(consent=PrivacyConsentRecord.from_row(row) if row else None, user_errors=errors)

"""Root fields for sensitive personal information: marking fields sensitive and unmarking them,
listing them and their changes, and recording a legal ground for a person
(`privacy.sensitive.manage`, compliance)."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import UserErrorType, parse_global_id, run_mutation, to_global_id

from . import sensitive
from .provision_models import PrivacySensitiveField, PrivacySensitiveFieldChange

PERMISSION = "privacy.sensitive.manage"


@strawberry.type(
    description="A field holding 要配慮個人情報: sealed, never filtered, exported or shown without `crm.read_sensitive`."
)
class SensitiveField:
    entity: str
    field: str
    marked_at: dt.datetime


@strawberry.type
class SensitiveFieldPayload:
    sensitive_field: SensitiveField | None
    user_errors: list[UserErrorType]


@strawberry.type(description="A field that may hold 要配慮個人情報, offered by the core or a plugin for marking.")
class SensitiveCapableField:
    entity: str
    field: str = strawberry.field(description="custom_fields.<key> marks one key of the record's custom fields.")
    plugin: str
    description: str


@strawberry.input
class MarkFieldSensitiveInput:
    field: str = strawberry.field(description="custom_fields.<key>, as `sensitiveCapableFields` offers")
    entity: str = strawberry.field(default="contact", description="contact, support_ticket, …")


@strawberry.input
class UnmarkFieldSensitiveInput:
    field: str = strawberry.field(description="custom_fields.<key>")
    reason: str = strawberry.field(description="Why it no longer holds 要配慮個人情報 (kept with the change).")
    entity: str = "contact"


@strawberry.type(description="A field marked sensitive or unmarked: by whom, when, why, and how many people held a value.")
class SensitiveFieldChange:
    entity: str
    field: str
    change: str = strawberry.field(description="marked or unmarked")
    reason: str | None
    holders: int
    at: dt.datetime

    @classmethod
    def from_row(cls, r) -> SensitiveFieldChange:
        return cls(entity=r.entity, field=r.field, change=r.change, reason=r.reason, holders=r.holders, at=r.at)


@strawberry.type
class SensitiveFieldChangePayload:
    change: SensitiveFieldChange | None
    user_errors: list[UserErrorType]


@strawberry.type(description="A legal ground for processing a person's data without consent.")
class LegalGroundRecord:
    contact_id: strawberry.ID
    purpose: str
    ground: str
    recorded_at: dt.datetime


@strawberry.type
class LegalGroundPayload:
    legal_ground: LegalGroundRecord | None
    user_errors: list[UserErrorType]


@strawberry.input
class RecordLegalGroundInput:
    contact_id: strawberry.ID
    ground: str = strawberry.field(description="Which law or case, e.g. 法第20条第2項第1号 (法令に基づく場合).")
    purpose: str = strawberry.field(default=sensitive.SENSITIVE_PURPOSE, description="sensitive_data: writing 要配慮 fields.")


def _field(row) -> SensitiveField:
    return SensitiveField(entity=row.entity, field=row.field, marked_at=row.marked_at)


@strawberry.type
class SensitiveQuery:
    @strawberry.field(description="The fields marked sensitive.")
    async def sensitive_fields(self, info: Info) -> list[SensitiveField]:
        info.context.require(PERMISSION)
        rows = await info.context.scalars(
            select(PrivacySensitiveField).order_by(PrivacySensitiveField.entity, PrivacySensitiveField.field)
        )
        return [_field(r) for r in rows]

    @strawberry.field(description="The fields that may be marked sensitive, by entity.")
    def sensitive_capable_fields(self, info: Info) -> list[SensitiveCapableField]:
        info.context.require(PERMISSION)
        offered = info.context.runtime.plugins.contributions("enishi_sensitive_capable_fields")
        return [
            SensitiveCapableField(entity=f.entity, field=sensitive.offered_name(f), plugin=plugin, description=f.description)
            for plugin, f in sorted(offered, key=lambda item: (item[1].entity, item[1].field))
        ]

    @strawberry.field(description="Fields marked sensitive and unmarked, oldest first.")
    async def sensitive_field_changes(self, info: Info) -> list[SensitiveFieldChange]:
        info.context.require(PERMISSION)
        rows = await info.context.scalars(select(PrivacySensitiveFieldChange).order_by(PrivacySensitiveFieldChange.seq))
        return [SensitiveFieldChange.from_row(r) for r in rows]


@strawberry.type
class SensitiveMutation:
    @strawberry.mutation(
        description="Mark a field (`sensitiveCapableFields`) as holding 要配慮個人情報, from now on: written only with "
        "each person's consent or legal ground, never filtered, exported or shown without `crm.read_sensitive`."
    )
    async def mark_field_sensitive(self, info: Info, input: MarkFieldSensitiveInput) -> SensitiveFieldPayload:
        row, errors = await run_mutation(info, PERMISSION, lambda uow: sensitive.mark(uow, input.entity, input.field))
        return SensitiveFieldPayload(sensitive_field=_field(row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Unmark a sensitive field, with the reason: each person holding a value in it gets an access-log entry."
    )
    async def unmark_field_sensitive(self, info: Info, input: UnmarkFieldSensitiveInput) -> SensitiveFieldChangePayload:
        row, errors = await run_mutation(
            info, PERMISSION, lambda uow: sensitive.unmark(uow, input.entity, input.field, input.reason)
        )
        return SensitiveFieldChangePayload(change=SensitiveFieldChange.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Record a legal ground for a person (for sensitive data: instead of consent).")
    async def record_legal_ground(self, info: Info, input: RecordLegalGroundInput) -> LegalGroundPayload:
        row, errors = await run_mutation(
            info,
            PERMISSION,
            lambda uow: sensitive.record_legal_ground(
                uow, parse_global_id(input.contact_id, "Contact", "contactId"), {"purpose": input.purpose, "ground": input.ground}
            ),
        )
        record = (
            LegalGroundRecord(
                contact_id=strawberry.ID(to_global_id("Contact", row.contact_id)),
                purpose=row.purpose,
                ground=row.ground,
                recorded_at=row.recorded_at,
            )
            if row
            else None
        )
        return LegalGroundPayload(legal_ground=record, user_errors=errors)

"""Root fields for sensitive personal information: marking fields sensitive, listing them, and
recording a legal ground for a person (`privacy.sensitive.manage`, compliance)."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import UserErrorType, parse_global_id, run_mutation, to_global_id

from . import sensitive
from .provision_models import PrivacySensitiveField

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


@strawberry.input
class MarkFieldSensitiveInput:
    field: str = strawberry.field(description="custom_fields.<key>")
    entity: str = "contact"


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


@strawberry.type
class SensitiveMutation:
    @strawberry.mutation(description="Mark a contact's custom field as holding 要配慮個人情報, from now on.")
    async def mark_field_sensitive(self, info: Info, input: MarkFieldSensitiveInput) -> SensitiveFieldPayload:
        row, errors = await run_mutation(info, PERMISSION, lambda uow: sensitive.mark(uow, input.entity, input.field))
        return SensitiveFieldPayload(sensitive_field=_field(row) if row else None, user_errors=errors)

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

"""Root fields of the provision and processor registers: recipients (register, update, list),
provision records (record, list), cross-border consents. Compliance officers' operations
(`privacy.provision.manage`)."""

from __future__ import annotations

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    InputError,
    PageRequest,
    SortKey,
    UserError,
    input_values,
    paginate,
    parse_global_id,
    run_mutation,
    utc_instant,
)

from . import provisions, recipients
from .models import PrivacyProvision
from .provision_models import PrivacyCrossBorderConsent, PrivacyRecipient
from .provision_types import (
    CrossBorderConsentPayload,
    CrossBorderConsentRecord,
    DeleteRecipientPayload,
    ProvisionRecipient,
    ProvisionRecord,
    RecipientPayload,
    RecordCrossBorderConsentInput,
    RecordProvisionInput,
    RecordProvisionPayload,
    RegisterRecipientInput,
    UpdateRecipientInput,
)

PERMISSION = "privacy.provision.manage"


def _recipient_id(value, field: str = "recipientId"):
    return parse_global_id(value, "ProvisionRecipient", field)


def _recipient_values(input) -> dict:
    """The input's fields as the register stores them (enums as their values, sub-processors as dicts)."""
    values = input_values(input, {"reviewer_id": "User"})
    for field in ("kind", "transfer_route"):
        if values.get(field) is not None:
            values[field] = values[field].value
    if values.get("sub_processors") is not None:
        values["sub_processors"] = [{"name": s.name, "country": s.country} for s in values["sub_processors"]]
    return values


@strawberry.type
class ProvisionQuery:
    @strawberry.field(description="The register of processors and recipients, by name.")
    async def provision_recipients(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ProvisionRecipient]:
        info.context.require(PERMISSION)
        order = [(SortKey(PrivacyRecipient.name, "text"), False), (SortKey(PrivacyRecipient.id, "uuid"), False)]
        return await paginate(
            info.context, select(PrivacyRecipient), order, PageRequest(first, after, None, None), ProvisionRecipient.from_row
        )

    @strawberry.field(description="Provision records, the most recent first; of one person or one recipient.")
    async def provision_records(
        self,
        info: Info,
        contact_id: strawberry.ID | None = None,
        recipient_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ProvisionRecord]:
        info.context.require(PERMISSION)
        statement = select(PrivacyProvision)
        if contact_id is not None:
            statement = statement.where(PrivacyProvision.contact_id == parse_global_id(contact_id, "Contact", "contactId"))
        if recipient_id is not None:
            statement = statement.where(PrivacyProvision.recipient_id == _recipient_id(recipient_id))
        order = [(SortKey(PrivacyProvision.seq, "int"), True)]
        return await paginate(info.context, statement, order, PageRequest(first, after, None, None), ProvisionRecord.from_row)

    @strawberry.field(description="A person's cross-border consents (and withdrawals), oldest first.")
    async def cross_border_consents(self, info: Info, contact_id: strawberry.ID) -> list[CrossBorderConsentRecord]:
        info.context.require(PERMISSION)
        rows = await info.context.scalars(
            select(PrivacyCrossBorderConsent)
            .where(PrivacyCrossBorderConsent.contact_id == parse_global_id(contact_id, "Contact", "contactId"))
            .order_by(PrivacyCrossBorderConsent.seq)
        )
        return [CrossBorderConsentRecord.from_row(r) for r in rows]


async def _recipient_payload(info: Info, work) -> RecipientPayload:
    row, errors = await run_mutation(info, PERMISSION, work)
    return RecipientPayload(recipient=ProvisionRecipient.from_row(row) if row else None, user_errors=errors)


@strawberry.type
class ProvisionMutation:
    @strawberry.mutation(description="Add a processor (委託先) or recipient to the register.")
    async def register_recipient(self, info: Info, input: RegisterRecipientInput) -> RecipientPayload:
        return await _recipient_payload(info, lambda uow: recipients.register(uow, _recipient_values(input)))

    @strawberry.mutation(description="Change a registered recipient (a new review date raises a new reminder in time).")
    async def update_recipient(self, info: Info, input: UpdateRecipientInput) -> RecipientPayload:
        return await _recipient_payload(
            info,
            lambda uow: recipients.update_recipient(uow, _recipient_id(input.id, "id"), _recipient_values(input)),
        )

    @strawberry.mutation(
        description="Delete a recipient from the register; one that provision records or cross-border consents name "
        "is retired instead (kept, receives nothing more)."
    )
    async def delete_recipient(self, info: Info, id: strawberry.ID) -> DeleteRecipientPayload:
        retired, errors = await run_mutation(
            info, PERMISSION, lambda uow: recipients.delete_recipient(uow, _recipient_id(id, "id"))
        )
        return DeleteRecipientPayload(
            deleted_id=id if not errors and retired is None else None,
            recipient=ProvisionRecipient.from_row(retired) if retired else None,
            user_errors=errors,
        )

    @strawberry.mutation(
        description="Record a provision of personal data to a registered recipient; refused whole, nothing written, "
        "when the basis or the cross-border route is missing."
    )
    async def record_provision(self, info: Info, input: RecordProvisionInput) -> RecordProvisionPayload:
        async def work(uow):
            recipient = await uow.session.get(PrivacyRecipient, _recipient_id(input.recipient_id))
            if recipient is None:
                raise InputError(UserError("recipientId", "no such recipient", "NOT_FOUND"))
            return await provisions.record(
                uow,
                recipient,
                [parse_global_id(c, "Contact", "contactIds") for c in input.contact_ids],
                purpose=input.purpose,
                data_items=input.data_items,
                provided_at=utc_instant(input.provided_at, "providedAt"),
                basis=input.ground.value,
                legal_ground=input.legal_ground,
                record_method=input.record_method.value,
            )

        rows, errors = await run_mutation(info, PERMISSION, work)
        return RecordProvisionPayload(provisions=[ProvisionRecord.from_row(r) for r in rows or []], user_errors=errors)

    @strawberry.mutation(
        description="Record a person's consent to provision to a recipient abroad (or its withdrawal), snapshotting "
        "the country, the regime information given and the recipient's measures."
    )
    async def record_cross_border_consent(self, info: Info, input: RecordCrossBorderConsentInput) -> CrossBorderConsentPayload:
        row, errors = await run_mutation(
            info,
            PERMISSION,
            lambda uow: provisions.record_cross_border_consent(
                uow,
                parse_global_id(input.contact_id, "Contact", "contactId"),
                _recipient_id(input.recipient_id),
                {"state": "granted" if input.granted else "withdrawn", "regime_information": input.regime_information},
            ),
        )
        return CrossBorderConsentPayload(consent=CrossBorderConsentRecord.from_row(row) if row else None, user_errors=errors)

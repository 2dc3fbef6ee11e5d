"""GraphQL of the records of personal data received from third parties (法第30条): `recordReceipt`
and `receiptRecords` (`privacy.provision.manage`, as the provision records)."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import (
    Connection,
    PageRequest,
    SortKey,
    UserErrorType,
    paginate,
    parse_global_id,
    run_mutation,
    to_global_id,
    utc_instant,
)

from . import receipts
from .provision_models import PrivacyReceipt
from .provision_schema import PERMISSION
from .provision_types import ProvisionRecordMethod


@strawberry.enum(description="What the provider relied on to provide the data (法第27条); LAW and the rest need no record.")
class ReceiptBasis(Enum):
    CONSENT = "consent"
    OPT_OUT = "opt_out"
    LAW = "law"
    ENTRUSTMENT = "entrustment"
    JOINT_USE = "joint_use"
    BUSINESS_SUCCESSION = "business_succession"


@strawberry.type(description="A record of personal data received from a third party (APPI 法第30条); ids only.")
class ReceiptRecord:
    contact_id: strawberry.ID
    provider: str
    provider_address: str
    provider_representative: str | None
    acquisition: str = strawberry.field(description="How the provider obtained the data (取得の経緯).")
    data_items: list[str]
    basis: ReceiptBasis
    exempt: bool = strawberry.field(description="法第30条 does not require this record (a law, 委託, 共同利用, 事業承継).")
    record_method: ProvisionRecordMethod
    received_at: dt.datetime
    recorded_on: dt.date
    keep_until: dt.date = strawberry.field(description="Kept at least until this day (規則第25条).")

    @classmethod
    def from_row(cls, r: PrivacyReceipt) -> ReceiptRecord:
        return cls(
            contact_id=strawberry.ID(to_global_id("Contact", r.contact_id)),
            provider=r.provider,
            provider_address=r.provider_address,
            provider_representative=r.provider_representative,
            acquisition=r.acquisition,
            data_items=list(r.data_items or []),
            basis=ReceiptBasis(r.basis),
            exempt=r.exempt,
            record_method=ProvisionRecordMethod(r.record_method),
            received_at=r.received_at,
            recorded_on=r.recorded_on,
            keep_until=r.keep_until,
        )


@strawberry.input
class RecordReceiptInput:
    contact_ids: list[strawberry.ID]
    provider: str = strawberry.field(description="The provider's name (規則第22条: confirmed before receiving).")
    provider_address: str
    provider_representative: str | None = strawberry.field(default=None, description="For a company, its representative.")
    acquisition: str = strawberry.field(description="How the provider obtained the data (取得の経緯), as confirmed.")
    data_items: list[str]
    basis: ReceiptBasis
    received_at: dt.datetime | None = strawberry.field(default=None, description="Now when left out; with an offset.")
    record_method: ProvisionRecordMethod = ProvisionRecordMethod.INDIVIDUAL


@strawberry.type
class RecordReceiptPayload:
    receipts: list[ReceiptRecord]
    user_errors: list[UserErrorType]


@strawberry.type
class ReceiptQuery:
    @strawberry.field(description="Records of data received from third parties, the most recent first; of one person.")
    async def receipt_records(
        self, info: Info, contact_id: strawberry.ID | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[ReceiptRecord]:
        info.context.require(PERMISSION)
        statement = select(PrivacyReceipt)
        if contact_id is not None:
            statement = statement.where(PrivacyReceipt.contact_id == parse_global_id(contact_id, "Contact", "contactId"))
        order = [(SortKey(PrivacyReceipt.seq, "int"), True)]
        return await paginate(info.context, statement, order, PageRequest(first, after, None, None), ReceiptRecord.from_row)


@strawberry.type
class ReceiptMutation:
    @strawberry.mutation(
        description="Record personal data received from a third party (法第30条): the provider confirmed, how they "
        "obtained it, the people and items; one record per person."
    )
    async def record_receipt(self, info: Info, input: RecordReceiptInput) -> RecordReceiptPayload:
        async def work(uow):
            return await receipts.record(
                uow,
                [parse_global_id(c, "Contact", "contactIds") for c in input.contact_ids],
                {
                    "provider": input.provider,
                    "provider_address": input.provider_address,
                    "provider_representative": input.provider_representative,
                    "acquisition": input.acquisition,
                    "data_items": input.data_items,
                    "basis": input.basis.value,
                    "received_at": utc_instant(input.received_at, "receivedAt"),
                    "record_method": input.record_method.value,
                },
            )

        rows, errors = await run_mutation(info, PERMISSION, work)
        return RecordReceiptPayload(receipts=[ReceiptRecord.from_row(r) for r in rows or []], user_errors=errors)

"""GraphQL types of the provision and processor registers, cross-border consents and sensitive
fields (`provision_schema.py` holds their root fields)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry import relay

from enishi.plugin import UserErrorType, node_resolver, to_global_id

from . import provision_models as orm
from . import recipients


@strawberry.enum(description="Who receives the data; it decides the provision's basis.")
class RecipientKind(Enum):
    PROCESSOR = "processor"
    THIRD_PARTY = "third_party"
    JOINT_USER = "joint_user"
    SUCCESSOR = "successor"


@strawberry.enum(description="How a transfer to this recipient is lawful (APPI 法第28条); DOMESTIC in Japan.")
class TransferRoute(Enum):
    DOMESTIC = "domestic"
    ADEQUACY = "adequacy"
    EQUIVALENT_MEASURES = "equivalent_measures"
    CONSENT = "consent"


@strawberry.enum(description="What a provision stands on: CONSENT or LAW for a third party, else the recipient's kind.")
class ProvisionBasis(Enum):
    CONSENT = "consent"
    LAW = "law"
    ENTRUSTMENT = "entrustment"
    JOINT_USE = "joint_use"
    BUSINESS_SUCCESSION = "business_succession"
    ANONYMISED_INFORMATION = "anonymised_information"


@strawberry.enum(description="The ground of a provision to a third party: the person's consent, or a law (法第27条第1項各号).")
class ProvisionGround(Enum):
    CONSENT = "consent"
    LAW = "law"


@strawberry.enum(description="How the record is made (規則第19条), which sets how long it is kept (規則第21条).")
class ProvisionRecordMethod(Enum):
    INDIVIDUAL = "individual"
    BULK = "bulk"
    CONTRACT = "contract"


@strawberry.type
class SubProcessor:
    name: str
    country: str


@strawberry.input
class SubProcessorInput:
    name: str
    country: str


@strawberry.type(description="A processor (委託先) or recipient of personal data in the register.")
class ProvisionRecipient(relay.Node):
    id: relay.NodeID[str]
    name: str
    kind: RecipientKind
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    transfer_route: TransferRoute
    purpose: str
    contract_date: dt.date | None
    dpa_date: dt.date | None = strawberry.field(description="The data processing agreement's date (GDPR Art. 28(3)).")
    review_date: dt.date | None
    security_measures: str | None
    sub_processors: list[SubProcessor]
    reminded_for: dt.date | None = strawberry.field(description="The review date a reminder task was raised for.")
    retired_at: dt.datetime | None = strawberry.field(
        description="Deleted while records named it: kept for them, receives nothing more."
    )
    _row: strawberry.Private[Any]

    resolve_nodes = node_resolver(orm.PrivacyRecipient, "privacy.provision.manage")

    @strawberry.field
    def abroad(self) -> bool:
        return recipients.abroad(self._row)

    @strawberry.field(description="The review reminder's task.")
    def reminder_task_id(self) -> strawberry.ID | None:
        task = self._row.reminder_task_id
        return None if task is None else strawberry.ID(to_global_id("Task", task))

    @classmethod
    def from_row(cls, r) -> ProvisionRecipient:
        return cls(
            id=str(r.id),
            name=r.name,
            kind=RecipientKind(r.kind),
            country=r.country,
            transfer_route=TransferRoute(r.transfer_route),
            purpose=r.purpose,
            contract_date=r.contract_date,
            dpa_date=r.dpa_date,
            review_date=r.review_date,
            security_measures=r.security_measures,
            sub_processors=[SubProcessor(name=s["name"], country=s["country"]) for s in r.sub_processors or []],
            reminded_for=r.reminded_for,
            retired_at=r.retired_at,
            _row=r,
        )


@strawberry.type(description="A record of personal data provided (APPI 法第29条); ids only, no personal data.")
class ProvisionRecord:
    contact_id: strawberry.ID | None = strawberry.field(description="None for an anonymised extract (names no one).")
    extract_id: strawberry.ID | None = strawberry.field(description="The anonymised extract provided, if that is what it was.")
    recipient_id: strawberry.ID | None
    recipient: str
    country: str | None
    purpose: str
    data_items: list[str]
    basis: ProvisionBasis
    legal_ground: str | None
    exempt: bool = strawberry.field(description="法第29条 does not require this record (委託, 共同利用, 事業承継, a law).")
    record_method: ProvisionRecordMethod
    provided_at: dt.datetime
    recorded_on: dt.date | None
    keep_until: dt.date | None = strawberry.field(description="Kept at least until this day (規則第21条).")

    @classmethod
    def from_row(cls, r) -> ProvisionRecord:
        return cls(
            contact_id=None if r.contact_id is None else strawberry.ID(to_global_id("Contact", r.contact_id)),
            extract_id=None if r.extract_id is None else strawberry.ID(to_global_id("PrivacyExtract", r.extract_id)),
            recipient_id=None if r.recipient_id is None else strawberry.ID(to_global_id("ProvisionRecipient", r.recipient_id)),
            recipient=r.recipient,
            country=r.country,
            purpose=r.purpose,
            data_items=list(r.data_items or []),
            basis=ProvisionBasis(r.basis),
            legal_ground=r.legal_ground,
            exempt=r.exempt,
            record_method=ProvisionRecordMethod(r.record_method),
            provided_at=r.provided_at,
            recorded_on=r.recorded_on,
            keep_until=r.keep_until,
        )


@strawberry.type(description="A consent to provision abroad, with what the person was told (規則第17条).")
class CrossBorderConsentRecord:
    contact_id: strawberry.ID
    recipient_id: strawberry.ID
    state: str
    country: str
    regime_information: str
    security_measures: str | None
    captured_at: dt.datetime

    @classmethod
    def from_row(cls, r) -> CrossBorderConsentRecord:
        return cls(
            contact_id=strawberry.ID(to_global_id("Contact", r.contact_id)),
            recipient_id=strawberry.ID(to_global_id("ProvisionRecipient", r.recipient_id)),
            state=r.state,
            country=r.country,
            regime_information=r.regime_information,
            security_measures=r.security_measures,
            captured_at=r.captured_at,
        )


@strawberry.input
class RegisterRecipientInput:
    name: str
    kind: RecipientKind
    country: str
    purpose: str
    transfer_route: TransferRoute | None = None
    contract_date: dt.date | None = None
    dpa_date: dt.date | None = None
    review_date: dt.date | None = None
    security_measures: str | None = None
    sub_processors: list[SubProcessorInput] | None = None
    reviewer_id: strawberry.ID | None = strawberry.field(default=None, description="Who gets the review reminder.")


@strawberry.input(description="Change a recipient: the fields given, checked with the others as they stand.")
class UpdateRecipientInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    kind: RecipientKind | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    purpose: str | None = strawberry.UNSET
    transfer_route: TransferRoute | None = strawberry.UNSET
    contract_date: dt.date | None = strawberry.UNSET
    dpa_date: dt.date | None = strawberry.UNSET
    review_date: dt.date | None = strawberry.UNSET
    security_measures: str | None = strawberry.UNSET
    sub_processors: list[SubProcessorInput] | None = strawberry.UNSET
    reviewer_id: strawberry.ID | None = strawberry.UNSET


@strawberry.type
class RecipientPayload:
    recipient: ProvisionRecipient | None
    user_errors: list[UserErrorType]


@strawberry.type
class DeleteRecipientPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="Set when the recipient was deleted.")
    recipient: ProvisionRecipient | None = strawberry.field(description="Set when it was retired (records name it).")
    user_errors: list[UserErrorType]


@strawberry.input
class RecordProvisionInput:
    recipient_id: strawberry.ID
    contact_ids: list[strawberry.ID]
    data_items: list[str] = strawberry.field(description="What was provided, e.g. 氏名, メールアドレス (規則第20条).")
    purpose: str
    provided_at: dt.datetime | None = strawberry.field(default=None, description="Now when left out; with an offset.")
    ground: ProvisionGround = strawberry.field(
        default=ProvisionGround.CONSENT, description="For a third party; ignored for processors, joint users, successors."
    )
    legal_ground: str | None = strawberry.field(default=None, description="With LAW: which law or case (法第27条第1項).")
    record_method: ProvisionRecordMethod = ProvisionRecordMethod.INDIVIDUAL


@strawberry.type
class RecordProvisionPayload:
    provisions: list[ProvisionRecord]
    user_errors: list[UserErrorType]


@strawberry.input
class RecordCrossBorderConsentInput:
    contact_id: strawberry.ID
    recipient_id: strawberry.ID
    regime_information: str | None = strawberry.field(
        default=None, description="What the person was told of the country's regime (規則第17条第2項); required to grant."
    )
    granted: bool = strawberry.field(default=True, description="False records a withdrawal.")


@strawberry.type
class CrossBorderConsentPayload:
    consent: CrossBorderConsentRecord | None
    user_errors: list[UserErrorType]

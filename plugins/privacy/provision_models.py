"""Tables of the APPI provision and processor registers: recipients of personal data (processors,
third parties, joint users, successors) with their country and transfer route, the cross-border
consents that snapshot what the person was told (第28条第2項), the records of data received from
third parties (第30条), the fields marked sensitive (要配慮個人情報) and the legal grounds recorded
for a subject. The provision records themselves are `models.PrivacyProvision`."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, JSONType, UTCDateTime, new_id

# Who receives personal data, which decides the provision's basis: to a processor it is 委託, to a
# joint user 共同利用, to a successor 事業承継 (法第27条第5項各号: not a third party, no consent);
# to a third party it needs the person's consent or a legal ground (法第27条第1項).
RECIPIENT_KINDS = ("processor", "third_party", "joint_user", "successor")
# How a transfer abroad is lawful (法第28条): a country the PPC recognises as equivalent (規則第15条:
# the EEA and the UK), a recipient keeping equivalent measures (基準適合体制, 規則第16条), or the
# person's consent after being told the country, its regime and the recipient's measures (規則第17条).
TRANSFER_ROUTES = ("domestic", "adequacy", "equivalent_measures", "consent")
# `anonymised_information`: an anonymised extract (匿名加工情報, 法第44条), not personal data: no
# consent, no 第28条, no 第29条 record required — kept in the same register as proof.
PROVISION_BASES = ("consent", "law", "entrustment", "joint_use", "business_succession", "anonymised_information")
RECORD_METHODS = ("individual", "bulk", "contract")
# What data received from someone else stood on when they provided it: the person's consent
# (法第27条第1項), the opt-out notified to the PPC (同条第2項), a law (同条第1項各号: no 法第30条 duty,
# flagged exempt), or a relationship that is not provision to a third party (同条第5項各号, exempt).
RECEIPT_BASES = ("consent", "opt_out", "law", "entrustment", "joint_use", "business_succession")


class PrivacyRecipient(Base):
    """A processor (委託先) or a recipient of personal data: who, where, why, under which
    contract and DPA, with which safeguards and sub-processors, and when to review it. Names
    businesses, not people."""

    __tablename__ = "privacy_recipient"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True, info={"personal": False})
    kind: Mapped[str] = mapped_column(String(20), info={"personal": False})
    country: Mapped[str] = mapped_column(String(2), info={"personal": False})  # ISO 3166-1 alpha-2
    transfer_route: Mapped[str] = mapped_column(String(30), info={"personal": False})
    purpose: Mapped[str] = mapped_column(String(500), info={"personal": False})
    contract_date: Mapped[dt.date | None] = mapped_column(Date)
    dpa_date: Mapped[dt.date | None] = mapped_column(Date)
    review_date: Mapped[dt.date | None] = mapped_column(Date)
    security_measures: Mapped[str | None] = mapped_column(String(4000), info={"personal": False})
    sub_processors: Mapped[list] = mapped_column(JSONType, default=list, info={"personal": False})
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The review date a reminder task was raised for: one task per review date, whatever the workers.
    reminded_for: Mapped[dt.date | None] = mapped_column(Date)
    reminder_task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Deleted while provision records or consents name it: kept for them, receives nothing more.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyCrossBorderConsent(Base):
    """A person's consent (or its withdrawal) to a provision to one recipient abroad, with what they
    were told then: the country, the information on its regime, the recipient's measures. Consent
    given for another country or other measures does not cover the recipient as it is now."""

    __tablename__ = "privacy_cross_border_consent"
    __table_args__ = (Index("ix_privacy_cross_border_consent_subject", "contact_id", "recipient_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_recipient.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), info={"personal": False})  # granted | withdrawn
    country: Mapped[str] = mapped_column(String(2), info={"personal": False})
    regime_information: Mapped[str] = mapped_column(String(4000), info={"personal": False})
    security_measures: Mapped[str | None] = mapped_column(String(4000), info={"personal": False})
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    captured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacySensitiveField(Base):
    """A field holding 要配慮個人情報 (法第2条第3項): `custom_fields.<key>` of a contact. Writing it
    needs the person's consent or a legal ground (法第20条第2項); it is never indexed for filters,
    exported, or shown to roles without `privacy.sensitive.read`."""

    __tablename__ = "privacy_sensitive_field"
    __table_args__ = (UniqueConstraint("entity", "field"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(String(30), info={"personal": False})
    field: Mapped[str] = mapped_column(String(120), info={"personal": False})
    marked_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    marked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacySensitiveFieldChange(Base):
    """A field marked sensitive or unmarked, by whom, when and why (the officer's reason, about the
    field: it names no one)."""

    __tablename__ = "privacy_sensitive_field_change"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(30), info={"personal": False})
    field: Mapped[str] = mapped_column(String(120), info={"personal": False})
    change: Mapped[str] = mapped_column(String(10), info={"personal": False})  # marked | unmarked
    reason: Mapped[str | None] = mapped_column(String(500), info={"personal": False})
    holders: Mapped[int] = mapped_column(Integer, default=0)  # people holding a value in it then
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyLegalGround(Base):
    """A legal ground for processing a person's data without consent (e.g. 法第20条第2項第1号: as
    a law requires), recorded by the compliance officer with the ground's text."""

    __tablename__ = "privacy_legal_ground"
    __table_args__ = (Index("ix_privacy_legal_ground_subject", "contact_id", "purpose"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(60), info={"personal": False})
    ground: Mapped[str] = mapped_column(String(1000), info={"personal": False})
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyReceipt(Base):
    """A record of personal data received from a third party (法第30条, 規則第24条): who provided it
    (name, address, representative), how they had obtained it (取得の経緯), about whom, which items,
    on which basis, when, and how long the record is kept (規則第25条, as 第21条). Names
    businesses, not people: the person is a contact id."""

    __tablename__ = "privacy_receipt"
    __table_args__ = (Index("ix_privacy_receipt_contact", "contact_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(200), info={"personal": False})
    provider_address: Mapped[str] = mapped_column(String(500), info={"personal": False})
    provider_representative: Mapped[str | None] = mapped_column(String(200), info={"personal": False})
    acquisition: Mapped[str] = mapped_column(String(1000), info={"personal": False})
    data_items: Mapped[list] = mapped_column(JSONType, default=list, info={"personal": False})
    basis: Mapped[str] = mapped_column(String(30), info={"personal": False})  # RECEIPT_BASES
    exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    record_method: Mapped[str] = mapped_column(String(20), default="individual", info={"personal": False})
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_on: Mapped[dt.date] = mapped_column(Date)
    keep_until: Mapped[dt.date] = mapped_column(Date)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

"""Loyalty tables. Points live in lots; the ledger is append-only and its sum is the balance.

Invariant, checked by `verify_ledger`: for every member, Σ ledger amounts = balance column =
Σ remaining of active lots (a debt lot, with negative remaining, holds what a refund took beyond
the points left)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, DataKey, JSONType, Sealable, Sealed, UTCDateTime, new_id, owns_key, shares_key

EXPIRY_MODES = ("days", "end_of_month", "end_of_year", "never")
DOWNGRADE_MODES = ("none", "automatic", "periodic")
ENTRY_KINDS = ("earn", "unlock", "spend", "expire", "adjust", "reverse")
LOT_STATUSES = ("locked", "active", "spent", "expired", "cancelled")


class LoyaltyProgram(Base):
    __tablename__ = "loyalty_program"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="JPY")
    expiry_mode: Mapped[str] = mapped_column(String(20), default="days")
    expiry_days: Mapped[int | None] = mapped_column(Integer)
    lock_days: Mapped[int] = mapped_column(Integer, default=0)
    downgrade_mode: Mapped[str] = mapped_column(String(20), default="automatic")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoyaltyTier(Base):
    __tablename__ = "loyalty_tier"
    __table_args__ = (UniqueConstraint("program_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_program.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[int] = mapped_column(Integer)  # points earned in the rolling 365 days
    multiplier_percent: Mapped[int] = mapped_column(Integer, default=100)  # 150 = earns 1.5×


class LoyaltyMemberKey(DataKey, Base):
    """A membership's data key: the reasons written on its ledger are sealed under it. Erasing the
    member destroys it, so the ledger stays whole and balanced (never rewritten) and unreadable."""

    __tablename__ = "loyalty_member_key"

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_member.id", ondelete="CASCADE"), primary_key=True)


class LoyaltyMember(Sealable, Base):
    __tablename__ = "loyalty_member"
    __table_args__ = (UniqueConstraint("program_id", "contact_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_program.id", ondelete="CASCADE"), index=True)
    # NULL after an erasure: the ledger stays, balanced, but no longer points at a person.
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="SET NULL"), index=True)
    tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loyalty_tier.id", ondelete="SET NULL"))
    balance: Mapped[int] = mapped_column(Integer, default=0)
    # The `seq` of the newest ledger entry (0 before the first): the next entry's number is read
    # from this row, which every ledger write locks first, rather than from the ledger.
    last_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    referral_code: Mapped[str | None] = mapped_column(String(40))
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


owns_key(LoyaltyMember, LoyaltyMemberKey)


class LoyaltyEntry(Sealable, Base):
    """One line of a member's ledger; its reason (free text: "お詫び：山田様の配送遅延") is sealed
    under the membership's key."""

    __tablename__ = "loyalty_entry"
    __table_args__ = (
        UniqueConstraint("program_id", "idempotency_key"),
        UniqueConstraint("member_id", "seq"),
        CheckConstraint("kind IN ('earn', 'unlock', 'spend', 'expire', 'adjust', 'reverse')", name="kind"),
        Index("ix_loyalty_entry_member_created", "member_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    seq: Mapped[int] = mapped_column(Integer)  # per member, 1, 2, 3 …: the ledger's order
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_program.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_member.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    sealed_reason: Mapped[bytes | None] = mapped_column(LargeBinary)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    source_type: Mapped[str | None] = mapped_column(String(40))
    source_id: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # Earn-type entries: counted toward tiers (not locked points until they unlock).
    tier_points: Mapped[int] = mapped_column(Integer, default=0)
    # When the tier points count in the rolling window: the purchase's own date for a purchase's
    # points (a back-dated order counts when it was bought, not when it was recorded), else created_at.
    tier_dated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    reason = Sealed()

    @classmethod
    def subjects_of(cls, ids):
        return select(LoyaltyMember.contact_id).join(cls, cls.member_id == LoyaltyMember.id).where(cls.id.in_(ids))


shares_key(LoyaltyEntry, "member_id", LoyaltyMemberKey, "member_id")


class LoyaltyLot(Base):
    __tablename__ = "loyalty_lot"
    __table_args__ = (
        Index("ix_loyalty_lot_member_status", "member_id", "status"),
        Index("ix_loyalty_lot_due", "status", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_member.id", ondelete="CASCADE"))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loyalty_entry.id", ondelete="CASCADE"))
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    amount: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    earned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    unlocks_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10))


class LoyaltyLotUse(Base):
    """Which lots a spend (or an expiry, or a reversal) took its points from."""

    __tablename__ = "loyalty_lot_use"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_entry.id", ondelete="CASCADE"), index=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_lot.id", ondelete="CASCADE"), index=True)
    amount: Mapped[int] = mapped_column(Integer)


class LoyaltyRule(Base):
    """An earning rule. `kind`: purchase (points per amount spent), activity (points when a core
    activity of `activity_type` is logged), referral (points to both referrer and referred)."""

    __tablename__ = "loyalty_rule"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_program.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    points: Mapped[int] = mapped_column(Integer)
    per_amount: Mapped[int | None] = mapped_column(Integer)  # purchase: `points` per this much money
    excluded_categories: Mapped[list] = mapped_column(JSONType, default=list)
    activity_type: Mapped[str | None] = mapped_column(String(60))
    limit_count: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(10))  # day | week | month
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class LoyaltyPurchase(Base):
    """What one purchase earned in one program. The order itself (amount, items, date, refund)
    is the core's `Purchase`, shared with every other plugin: loyalty keeps only its points.
    Its lot points back here (`LoyaltyLot.purchase_id`)."""

    __tablename__ = "loyalty_purchase"
    __table_args__ = (UniqueConstraint("program_id", "purchase_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_program.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_member.id", ondelete="CASCADE"), index=True)
    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_purchase.id", ondelete="CASCADE"), index=True)
    eligible: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)


class LoyaltyReward(Base):
    __tablename__ = "loyalty_reward"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_program.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    cost: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    min_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loyalty_tier.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class LoyaltyRedemption(Base):
    __tablename__ = "loyalty_redemption"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_reward.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_member.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_entry.id", ondelete="CASCADE"))
    redeemed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LoyaltyRuleAward(Base):
    """One award of a limited rule, counted against its per-period limit."""

    __tablename__ = "loyalty_rule_award"
    __table_args__ = (Index("ix_loyalty_rule_award_member_rule", "member_id", "rule_id", "awarded_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_rule.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_member.id", ondelete="CASCADE"))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_entry.id", ondelete="CASCADE"))
    awarded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

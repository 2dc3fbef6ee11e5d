"""ABM tables: target accounts, departments, buying committees, account plans, configuration."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, JSONType, UTCDateTime, new_id

TIERS = ("tier_1", "tier_2", "tier_3")
STAGES = ("target", "aware", "engaged", "mqa", "opportunity", "customer")
ROLES = ("decision_maker", "budget_holder", "champion", "influencer", "end_user", "executive_sponsor", "legal", "blocker")
SENIORITIES = ("c_level", "vp", "director", "manager", "individual")
DEPARTMENT_KINDS = (
    "purchasing",
    "engineering",
    "finance",
    "sales",
    "marketing",
    "it",
    "legal",
    "executive",
    "operations",
    "other",
)
CADENCES = ("weekly", "biweekly", "monthly", "quarterly")


class AbmTargetAccount(Base):
    __tablename__ = "abm_target_account"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), unique=True)
    tier: Mapped[str | None] = mapped_column(String(10), index=True)
    tier_set_by_hand: Mapped[bool] = mapped_column(default=False)
    icp_score: Mapped[int] = mapped_column(Integer, default=0)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"), index=True)
    rationale: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(20), default="target", index=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    raw: Mapped[float] = mapped_column(Float, default=0.0)
    scored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AbmDepartment(Base):
    __tablename__ = "abm_department"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("abm_department.id", ondelete="SET NULL"))


class AbmBuyingRole(Base):
    """A contact's place in an account's buying committee: one role per contact and account."""

    __tablename__ = "abm_buying_role"
    __table_args__ = (UniqueConstraint("account_id", "contact_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("abm_department.id", ondelete="SET NULL"))
    seniority: Mapped[str | None] = mapped_column(String(20))


class AbmAccountPlan(Base):
    __tablename__ = "abm_account_plan"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), unique=True)
    objectives: Mapped[list] = mapped_column(JSONType, default=list)
    target_close: Mapped[dt.date | None] = mapped_column(Date)
    review_cadence: Mapped[str | None] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AbmConfig(Base):
    """The engagement formula and ICP rules; one row (`name = "default"`), defaults in service.py."""

    __tablename__ = "abm_config"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    values: Mapped[dict] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

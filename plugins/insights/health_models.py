"""Tables of customer health and saved segments. Health scores and segment memberships are
inferred personal data: exported with the person, never portable, erased with them (privacy
hooks in hooks.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, JSONType, UTCDateTime, new_id


class InsightsHealth(Base):
    """A customer's churn risk (0-100, higher is riskier), its band and the reasons behind it
    (`[{code, params}]`, rendered in English or Japanese when read). Exactly one of `contact_id`
    and `account_id` is set."""

    __tablename__ = "insights_health"
    __table_args__ = (
        CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name="one_customer"),
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        Index("ix_insights_health_score", "score", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), unique=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(10))
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InsightsSegment(Base):
    """A named, shared filter over customers of one kind (`contact` or `account`). `definition`
    is the typed filter input as plain JSON (segments.py reads and checks it)."""

    __tablename__ = "insights_segment"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    customer: Mapped[str] = mapped_column(String(10))
    definition: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InsightsSegmentMember(Base):
    """A customer in a segment as of its last evaluation: entering and leaving are events."""

    __tablename__ = "insights_segment_member"
    __table_args__ = (
        CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name="one_customer"),
        UniqueConstraint("segment_id", "contact_id"),
        UniqueConstraint("segment_id", "account_id"),
        Index("ix_insights_segment_member_contact", "contact_id"),
        Index("ix_insights_segment_member_account", "account_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    segment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("insights_segment.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InsightsSegmentCount(Base):
    """How many members a segment had on a day (in the configured time zone): its history."""

    __tablename__ = "insights_segment_count"
    __table_args__ = (UniqueConstraint("segment_id", "day"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    segment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("insights_segment.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    members: Mapped[int] = mapped_column(Integer)


class InsightsHealthCount(Base):
    """How many customers of a kind each band held on a day (in the configured time zone), as
    the daily health job left them: the band distribution's history, for charts."""

    __tablename__ = "insights_health_count"
    __table_args__ = (UniqueConstraint("day", "customer", "band"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    day: Mapped[dt.date] = mapped_column(Date)
    customer: Mapped[str] = mapped_column(String(10))
    band: Mapped[str] = mapped_column(String(10))
    customers: Mapped[int] = mapped_column(Integer)

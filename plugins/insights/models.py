"""Insights tables. Scores are inferred personal data: erased with the person, exported with
their data, never portable (privacy hooks in hooks.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, UTCDateTime, new_id


class InsightsRfm(Base):
    """A customer's RFM over the configured window: the raw values and their scores (1-5).
    Exactly one of `contact_id` and `account_id` is set. Recency is kept as the last purchase's
    instant, not as days: its order (who is more recent) does not change as time passes, so stored
    rows stay comparable between recomputations."""

    __tablename__ = "insights_rfm"
    __table_args__ = (
        CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name="one_customer"),
        Index("ix_insights_rfm_segment", "segment"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), unique=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id", ondelete="CASCADE"), unique=True)
    last_purchase_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    frequency: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[int] = mapped_column(BigInteger)
    recency_score: Mapped[int] = mapped_column(Integer)
    frequency_score: Mapped[int] = mapped_column(Integer)
    monetary_score: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(60))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InsightsRfmCount(Base):
    """How many customers of a kind each RFM segment held on a day (in the configured time zone),
    as the `insights.rfm` job left them: the segment distribution's history, for charts (as
    `InsightsHealthCount` is the bands')."""

    __tablename__ = "insights_rfm_count"
    __table_args__ = (UniqueConstraint("day", "customer", "segment"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    day: Mapped[dt.date] = mapped_column(Date)
    customer: Mapped[str] = mapped_column(String(10))
    segment: Mapped[str] = mapped_column(String(60))
    customers: Mapped[int] = mapped_column(Integer)

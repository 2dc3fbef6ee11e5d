"""Tables of scheduled reports (定期報告): what is reported to whom and how often, and the
periods already reported — one row per (report, period), which is what makes a period go out
once however many workers run the job."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, UTCDateTime, new_id


class InsightsReport(Base):
    """A weekly or monthly report to one user or to every active user holding a role."""

    __tablename__ = "insights_report"
    __table_args__ = (CheckConstraint("(recipient_user_id IS NULL) <> (recipient_role IS NULL)", name="one_recipient"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    frequency: Mapped[str] = mapped_column(String(10))  # week (ISO, Monday to Sunday) or month
    customer: Mapped[str] = mapped_column(String(10))  # contact or account
    recipient_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    recipient_role: Mapped[str | None] = mapped_column(String(30))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InsightsReportRun(Base):
    """A period a report went out for (its mails are queued in the outbox in the same transaction)."""

    __tablename__ = "insights_report_run"
    __table_args__ = (UniqueConstraint("report_id", "first_day"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("insights_report.id", ondelete="CASCADE"))
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    recipients: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

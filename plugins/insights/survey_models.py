"""Survey tables: the surveys (not personal) and one row per survey sent to a person, which the
answer completes. The answer's comment is not kept here: it is the body of the timeline activity
the answer writes, sealed under that activity's key like every timeline text."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, UTCDateTime, new_id

SURVEY_KINDS = ("nps", "csat", "ces")


class InsightsSurvey(Base):
    """A question asked to customers: its kind fixes the scale (NPS 0-10, CSAT 1-5, CES 1-7)."""

    __tablename__ = "insights_survey"
    __table_args__ = (CheckConstraint("kind IN ('nps', 'csat', 'ces')", name="kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    question_ja: Mapped[str] = mapped_column(Text)
    question_en: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class InsightsSurveyAnswer(Base):
    """A survey sent to a contact (`status` sent), answered once through its link (answered).
    Answers reported by another plugin (`source`: support's CSAT) arrive answered, with no survey
    and no token. Erasing the person unlinks the row (contact, activity, token): the anonymous
    score still counts in the figures of its period."""

    __tablename__ = "insights_survey_answer"
    __table_args__ = (
        CheckConstraint("kind IN ('nps', 'csat', 'ces')", name="kind"),
        CheckConstraint("status IN ('sent', 'answered')", name="status"),
        Index("ix_insights_survey_answer_kind_answered", "kind", "answered_at"),
        Index("ix_insights_survey_answer_contact_sent", "contact_id", "sent_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    survey_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("insights_survey.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(60), default="insights")
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="SET NULL"))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    activity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_activity.id", ondelete="SET NULL"))

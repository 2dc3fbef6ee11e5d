"""Retention tables: the rules compliance sets per kind of record, each sweep's run with its counts
per rule, and every record a sweep anonymised or deleted (ids only: the proof, kept without
personal data)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, UTCDateTime, new_id


class PrivacyRetentionRule(Base):
    """Anonymise or delete the records of one retainable entity `period_months` after their start
    (a contact's last activity, a ticket's close). One rule per entity."""

    __tablename__ = "privacy_retention_rule"
    __table_args__ = (UniqueConstraint("entity"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(10))
    period_months: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PrivacyRetentionRun(Base):
    """One sweep: who started it (None: the scheduled job) and when it began and ended."""

    __tablename__ = "privacy_retention_run"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PrivacyRetentionCount(Base):
    """What one run did under one rule: records anonymised or deleted, kept for a legal hold, left
    for an open data-subject request, and failed (a person's erasure that did not complete)."""

    __tablename__ = "privacy_retention_count"

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_retention_run.id", ondelete="CASCADE"), primary_key=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # no foreign key: a deleted rule's runs stay
    entity: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(10))
    period_months: Mapped[int] = mapped_column(Integer)
    cutoff: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    applied: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    open_request: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)


class PrivacyRetentionItem(Base):
    """A record a sweep anonymised or deleted, once: the unique key refuses a second worker's claim
    should it ever get past the row locks."""

    __tablename__ = "privacy_retention_item"
    __table_args__ = (UniqueConstraint("entity", "record_id", "action"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_retention_run.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    entity: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(10))
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a person's erasure request
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

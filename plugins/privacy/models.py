"""Privacy tables: per-subject data keys (for crypto-shredding) and the append-only consent ledger."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.db import Base, UTCDateTime

CONSENT_STATES = ("granted", "withdrawn")
CONSENT_SOURCES = ("web_form", "import", "api", "agent", "gpc", "link")


class PrivacySubjectKey(Base):
    """A subject's AES-256 data key, wrapped by the key-encryption key. Destroying it makes every
    ciphertext of that subject unreadable for good (crypto-shredding)."""

    __tablename__ = "privacy_subject_key"

    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PrivacyConsent(Base):
    """One consent event. Never updated or deleted: the current state of a purpose is the
    subject's latest record for it, and the history is the proof."""

    __tablename__ = "privacy_consent"
    __table_args__ = (Index("ix_privacy_consent_subject_purpose", "contact_id", "purpose", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(10))
    notice_id: Mapped[str | None] = mapped_column(String(100))
    notice_version: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    method: Mapped[str | None] = mapped_column(String(40))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    captured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    evidence: Mapped[bytes | None] = mapped_column(LargeBinary)  # AES-GCM under the subject's key

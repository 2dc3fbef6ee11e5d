"""Tables of the documents compliance takes out: single-use download links, and pseudonymised
(仮名加工情報) or anonymised (匿名加工情報) extracts with their mapping keys (the provisions of
anonymised ones are in the provision register, `models.PrivacyProvision`). No row names a person."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, DataKey, JSONType, Sealable, UTCDateTime, new_id, owns_key


class PrivacyDownload(Base):
    """A single-use link to a document, which is sealed under a key derived from the link's token
    (only its hash is kept) and wiped once downloaded."""

    __tablename__ = "privacy_download"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(10))
    permission: Mapped[str] = mapped_column(String(60))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, info={"personal": False})
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PrivacyExtractKey(DataKey, Base):
    """An extract's mapping key (削除情報等): the HMAC key its pseudonyms are made with. Wrapped by
    the KEK (rotated with every key), readable through the API by compliance only; destroying it
    leaves the pseudonyms unlinkable for good."""

    __tablename__ = "privacy_extract_key"

    extract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("privacy_extract.id", ondelete="CASCADE"), primary_key=True)


class PrivacyExtract(Sealable, Base):
    """One extract: what it was made of and how, and how many rows it kept and suppressed."""

    __tablename__ = "privacy_extract"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))  # pseudonymised | anonymised
    source: Mapped[str] = mapped_column(String(40))
    columns: Mapped[list] = mapped_column(JSONType, info={"personal": False})
    k: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    purpose: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


owns_key(PrivacyExtract, PrivacyExtractKey)

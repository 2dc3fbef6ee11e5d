"""The plugin's one table. Prefixed with the plugin name; it may point at core tables."""

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, UTCDateTime, new_id


class NpsResponse(Base):
    __tablename__ = "nps_response"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

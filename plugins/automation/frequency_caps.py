"""Frequency caps: at most `max_sends` messages for one purpose on one channel to one contact
within `period_days`, shared by every workflow ("at most 2 marketing e-mails a week"). Admins
manage them over GraphQL (`frequencyCaps`, `setFrequencyCap`), as HubSpot and Braze let marketing
change theirs in the application: a setting would be part of the configuration every process
must share (a restart of all of them per change).

Enforced atomically: a send locks the contact's row first (`FOR UPDATE` on PostgreSQL; SQLite
writes one transaction at a time; the cap is read by the same statement), then counts the
contact's sends in the window and records its own, in the step's transaction. Two workers or
two workflows sending to one person queue on the lock, and the second counts the first's send."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, Checker, UnitOfWork, UTCDateTime, new_id

CHANNELS = ("email",)
PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_SENDS, MAX_DAYS = 1000, 366


class AutomationFrequencyCap(Base):
    """A cap on one channel for one purpose, for every contact."""

    __tablename__ = "automation_frequency_cap"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(60), primary_key=True)
    max_sends: Mapped[int] = mapped_column(Integer)
    period_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AutomationContactSend(Base):
    """A message a workflow step sent a contact, what the caps count. Kept after the run is gone
    (no key to it): deleting a workflow must not reset its recipients' caps. Erased with the person."""

    __tablename__ = "automation_contact_send"
    __table_args__ = (Index("ix_automation_contact_send_window", "contact_id", "channel", "purpose", "sent_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_contact.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(60))
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    step_id: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


EVERY_CAP = select(AutomationFrequencyCap).order_by(AutomationFrequencyCap.channel, AutomationFrequencyCap.purpose)


async def set_cap(uow: UnitOfWork, data: dict) -> AutomationFrequencyCap | None:
    """Set the cap of (channel, purpose); `max_sends: null` removes it (answers None)."""
    check = Checker()
    channel, purpose = data.get("channel"), data.get("purpose")
    max_sends, period_days = data.get("max_sends"), data.get("period_days")
    if channel not in CHANNELS:
        check.fail("channel", f"must be one of {', '.join(CHANNELS)}", "UNKNOWN_CHANNEL")
    if not isinstance(purpose, str) or not PURPOSE.match(purpose):
        check.fail("purpose", "must be lowercase letters, digits and _ (`marketing`)", "INVALID_FORMAT")
    if max_sends is not None and not 1 <= max_sends <= MAX_SENDS:
        check.fail("maxSends", f"must be between 1 and {MAX_SENDS}, or null to remove the cap", "OUT_OF_RANGE")
    if max_sends is not None and (period_days is None or not 1 <= period_days <= MAX_DAYS):
        check.fail("periodDays", f"must be between 1 and {MAX_DAYS}", "OUT_OF_RANGE")
    check.done()
    cap = await uow.session.get(AutomationFrequencyCap, (channel, purpose), with_for_update=True)
    if max_sends is None:
        if cap is not None:
            await uow.session.delete(cap)
        return None
    if cap is None:
        cap = AutomationFrequencyCap(channel=channel, purpose=purpose)
        uow.session.add(cap)
    assert period_days is not None  # checked with `max_sends` above
    cap.max_sends, cap.period_days, cap.updated_at = max_sends, period_days, uow.clock.now()
    await uow.session.flush()
    return cap


async def capped(
    session: AsyncSession, contact_id: uuid.UUID, channel: str, purpose: str, now: dt.datetime, cap: tuple[int, int] | None
) -> bool:
    """Whether the cap — (max_sends, period_days) of (channel, purpose), read with the contact's
    lock; None: there is none — forbids another send to the contact now."""
    if cap is None:
        return False
    max_sends, period_days = cap
    sent = await session.scalar(
        select(func.count()).where(
            AutomationContactSend.contact_id == contact_id,
            AutomationContactSend.channel == channel,
            AutomationContactSend.purpose == purpose,
            AutomationContactSend.sent_at > now - dt.timedelta(days=period_days),
        )
    )
    return (sent or 0) >= max_sends

"""Automation tables: webhook subscriptions (with their signing secrets sealed under a key of
their own), the deliveries fanned out from the outbox, and the log of every attempt.

A delivery keeps the event's payload, which by the kit's rule holds ids and non-personal fields
only; the personal data a subscription granted a purpose receives (`personal`) is sealed under
the person's own key, so erasing them makes it unreadable in every queued delivery too. An
attempt keeps a redacted snippet of the answer."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, DataKey, JSONType, Sealable, Sealed, SubjectKey, UTCDateTime, new_id, owns_key, shares_key

DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class AutomationWebhook(Sealable, Base):
    """A subscription: where to POST, which event types (`ticket.*` wildcards), an optional
    filter on payload fields. `secret` signs every delivery; after a rotation `previous_secret`
    signs too until `previous_secret_expires_at`, so receivers can switch without a gap.
    `failing_since` is the first failure of the current run of failures (None after a success);
    a day of them disables the subscription. `personal_data_purpose` (with the recipient's name
    in the privacy plugin's register, `personal_data_recipient`) grants it the personal data of
    the person an event concerns; without it, payloads hold no personal data."""

    __tablename__ = "automation_webhook"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list] = mapped_column(JSONType, default=list)
    filter: Mapped[dict] = mapped_column(JSONType, default=dict)
    description: Mapped[str | None] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(30))
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    personal_data_purpose: Mapped[str | None] = mapped_column(String(200))
    personal_data_recipient: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    secret = Sealed()
    previous_secret = Sealed()


class AutomationWebhookKey(DataKey, Base):
    __tablename__ = "automation_webhook_key"

    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_webhook.id", ondelete="CASCADE"), primary_key=True)


owns_key(AutomationWebhook, AutomationWebhookKey)


class AutomationDelivery(Sealable, Base):
    """One event for one subscription. `event_id` is the webhook-id every attempt carries (the
    receiver's idempotency key); `payload` is the body's `data`, kept so every attempt sends the
    same document. Due when `pending` and `next_attempt_at` has come; a worker holds it until
    `lease_until` while it sends. `failures` counts this round's failed attempts (the retry
    schedule's position; a replay starts a new round).

    `subject` is the record the event is about (`<entity>:<id>`); `position` orders a
    subscription's deliveries of one subject, each waiting while an earlier one is pending.
    `personal` (sealed under `contact_id`'s key) is what a granted subscription receives about
    the person beside `data`."""

    __tablename__ = "automation_delivery"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_automation_delivery_due", "status", "next_attempt_at"),
        Index("ix_automation_delivery_webhook_created", "webhook_id", "created_at", "id"),
        UniqueConstraint("webhook_id", "subject", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_webhook.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    subject: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    sealed_personal: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # DELIVERY_STATUSES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    personal = Sealed(json=True)


shares_key(AutomationDelivery, "contact_id", SubjectKey, "contact_id")


class AutomationAttempt(Base):
    """The delivery log: one row per HTTP attempt. `error` names what went wrong before or
    instead of an answer (`timeout`, `connection`, `unsafe_url`);
    `response_snippet` is the answer's start, truncated, with e-mail addresses and long digit
    runs masked."""

    __tablename__ = "automation_attempt"
    __table_args__ = (Index("ix_automation_attempt_delivery", "delivery_id", "attempted_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_delivery.id", ondelete="CASCADE"))
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(30))
    response_snippet: Mapped[str | None] = mapped_column(String(300))

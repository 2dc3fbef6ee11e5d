"""Support tables: tickets and their articles and status history, SLA policies on business
calendars, escalations, assignment groups, macros, CSAT surveys, the knowledge base."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid, select, union
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, DataKey, JSONType, Sealable, Sealed, UTCDateTime, new_id, owns_key, shares_key

STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed", "merged")
PAUSING = frozenset({"pending", "on_hold"})  # the SLA clock stops while a ticket waits on someone else
STOPPED = frozenset({"solved", "closed", "merged"})
PRIORITIES = ("low", "normal", "high", "urgent")
TIMERS = ("first_reply", "next_reply", "periodic_update", "resolution")


class SupportCalendar(Base):
    __tablename__ = "support_calendar"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Tokyo")
    # {"mon": [["09:00", "17:00"]], …}; a day that is missing has no business hours
    weekly_hours: Mapped[dict] = mapped_column(JSONType, default=dict)
    holidays: Mapped[list] = mapped_column(JSONType, default=list)  # ISO dates
    holiday_country: Mapped[str | None] = mapped_column(String(2))  # "JP": public holidays included


class SupportGroup(Base):
    __tablename__ = "support_group"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    assignment: Mapped[str] = mapped_column(String(20), default="round_robin")  # round_robin | least_open | manual


class SupportGroupMember(Base):
    __tablename__ = "support_group_member"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_group.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    last_assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SupportSlaPolicy(Base):
    """Ordered; the first whose conditions match a ticket applies. Targets are minutes per
    priority and timer: {"urgent": {"first_reply": 240, "resolution": 1440}, …}."""

    __tablename__ = "support_sla_policy"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    conditions: Mapped[dict] = mapped_column(JSONType, default=dict)  # priorities, tags, group_ids, account_ids
    targets: Mapped[dict] = mapped_column(JSONType, default=dict)
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_calendar.id", ondelete="SET NULL"))


class SupportEscalationRule(Base):
    """Fires once per ticket and timer: at `percent` of the target (a warning, level 0) or
    `minutes_after_breach` past it (levels 1..n)."""

    __tablename__ = "support_escalation_rule"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_sla_policy.id", ondelete="CASCADE"), index=True)
    timer: Mapped[str] = mapped_column(String(20))
    level: Mapped[int] = mapped_column(Integer)
    percent: Mapped[int | None] = mapped_column(Integer)
    minutes_after_breach: Mapped[int | None] = mapped_column(Integer)
    reassign_group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_group.id", ondelete="SET NULL"))
    raise_priority: Mapped[bool] = mapped_column(Boolean, default=False)


class SupportTicketKey(DataKey, Base):
    """A ticket's own data key: its subject, custom fields, messages and survey comment are sealed
    under it. The ticket's and not the requester's: a ticket under a legal hold must stay readable
    after the requester's key is destroyed. Erasing the requester destroys it (unless held)."""

    __tablename__ = "support_ticket_key"

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_ticket.id", ondelete="CASCADE"), primary_key=True)


class SupportTicket(Sealable, Base):
    """A ticket; its text is sealed (`Sealed`) under the ticket's key and reads as None once the
    requester was erased. Its number, status history and timestamps stay for the metrics."""

    __tablename__ = "support_ticket"
    __table_args__ = (Index("ix_support_ticket_status_created", "status", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    sealed_subject: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    channel: Mapped[str] = mapped_column(String(20), default="email")
    requester_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="SET NULL"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_account.id", ondelete="SET NULL"), index=True)
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_group.id", ondelete="SET NULL"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"), index=True)
    tags: Mapped[list] = mapped_column(JSONType, default=list, info={"personal": False})  # labels such as "vip", "billing"
    sealed_custom_fields: Mapped[bytes | None] = mapped_column(LargeBinary)
    policy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_sla_policy.id", ondelete="SET NULL"))
    follow_up_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_ticket.id", ondelete="SET NULL"))
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_ticket.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    solved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)

    subject = Sealed()
    custom_fields = Sealed(json=True)

    @property
    def subject_id(self) -> uuid.UUID | None:
        return self.requester_id


owns_key(SupportTicket, SupportTicketKey)


class SupportArticle(Sealable, Base):
    """A message on a ticket, sealed under the ticket's key."""

    __tablename__ = "support_article"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_ticket.id", ondelete="CASCADE"), index=True)
    public: Mapped[bool] = mapped_column(Boolean)
    author_type: Mapped[str] = mapped_column(String(10))  # agent | customer | system
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    author_contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_contact.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    sealed_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The ticket it was written on, when a merge moved it here: it keeps its history but fulfils
    # none of this ticket's SLA targets. No ON DELETE: the mark must not vanish with that ticket.
    merged_from_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_ticket.id"))

    body = Sealed()

    @classmethod
    def subjects_of(cls, ids):
        """The ticket's requester, and the person who wrote it (a CC) if another."""
        return union(_requesters_of(cls, ids), select(cls.author_contact_id).where(cls.id.in_(ids)))


class SupportStatusChange(Base):
    """The ticket's status history: SLA clocks are computed from it (Zammad's approach)."""

    __tablename__ = "support_status_change"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_ticket.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SupportEscalationFired(Base):
    __tablename__ = "support_escalation_fired"
    __table_args__ = (UniqueConstraint("ticket_id", "rule_id", "cycle"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_ticket.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_escalation_rule.id", ondelete="CASCADE"))
    cycle: Mapped[str] = mapped_column(String(40))  # which run of the timer (next_reply restarts)
    fired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SupportMacro(Base):
    __tablename__ = "support_macro"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    reply: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(10))
    add_tags: Mapped[list] = mapped_column(JSONType, default=list)
    remove_tags: Mapped[list] = mapped_column(JSONType, default=list)
    priority: Mapped[str | None] = mapped_column(String(10))


class SupportCsat(Sealable, Base):
    """A satisfaction survey; the comment is sealed under the ticket's key."""

    __tablename__ = "support_csat"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("support_ticket.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10))  # scheduled | sent | answered | cancelled
    send_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    rating: Mapped[int | None] = mapped_column(Integer)
    sealed_comment: Mapped[bytes | None] = mapped_column(LargeBinary)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    comment = Sealed()

    @classmethod
    def subjects_of(cls, ids):
        return _requesters_of(cls, ids)


def _requesters_of(model, ids):
    """The requesters of the tickets that rows of `model` (with a `ticket_id`) belong to."""
    return select(SupportTicket.requester_id).join(model, model.ticket_id == SupportTicket.id).where(model.id.in_(ids))


shares_key(SupportArticle, "ticket_id", SupportTicketKey, "ticket_id")
shares_key(SupportCsat, "ticket_id", SupportTicketKey, "ticket_id")


class SupportKbCategory(Base):
    __tablename__ = "support_kb_category"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(5))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_kb_category.id", ondelete="SET NULL"))


class SupportKbArticle(Base):
    __tablename__ = "support_kb_article"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    category_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("support_kb_category.id", ondelete="SET NULL"), index=True)
    locale: Mapped[str] = mapped_column(String(5))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    search_text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SupportSettings(Base):
    """Delays an administrator may change; one row (`name = "default"`)."""

    __tablename__ = "support_settings"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    auto_close_hours: Mapped[int] = mapped_column(Integer, default=96)
    csat_delay_hours: Mapped[int] = mapped_column(Integer, default=24)

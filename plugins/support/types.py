"""Support's GraphQL object, input, payload and enum types: tickets with articles, timers and
history, the knowledge base, metrics, and what the mutations take and return. Separate from
schema.py so the root query and mutations read apart from the shapes they return."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, TypeAlias

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Account,
    AccountNode,
    Contact,
    ContactNode,
    DateTimeFilter,
    FilterSpec,
    IDFilter,
    OrderDirection,
    RowsByColumn,
    SortKey,
    StringFilter,
    User,
    UserErrorType,
    UserNode,
    load_row,
    node_resolver,
    sealed_field,
    visible_custom_fields,
)

from . import metrics, sla
from . import models as orm
from .sensitive import TICKET_ENTITY

ARTICLES = RowsByColumn(orm.SupportArticle, orm.SupportArticle.ticket_id, orm.SupportArticle.created_at)


STATUS_CHANGES = RowsByColumn(orm.SupportStatusChange, orm.SupportStatusChange.ticket_id, orm.SupportStatusChange.changed_at)


@strawberry.type
class SupportArticle:
    public: bool
    author_type: str
    channel: str
    body: str | None = sealed_field("body", "Null once erased with the ticket's requester, or with its author.")
    created_at: dt.datetime
    _row: strawberry.Private[Any]

    @strawberry.field
    async def author(self, info: Info) -> UserNode | None:
        row = await load_row(info.context, User, self._row.author_user_id) if self._row.author_user_id else None
        return UserNode.from_row(row) if row else None


strawberry.type(sla.Timer, name="SupportTimer")  # decorates sla's dataclass in place


SupportTimer: TypeAlias = sla.Timer


@strawberry.type
class SupportStatusEvent:
    status: str
    at: dt.datetime


@strawberry.type
class SupportGroup(relay.Node):
    id: relay.NodeID[str]
    name: str
    assignment: str

    @classmethod
    def from_row(cls, row) -> SupportGroup:
        return cls(id=str(row.id), name=row.name, assignment=row.assignment)

    resolve_nodes = node_resolver(orm.SupportGroup, "support.read")


@strawberry.type
class SupportTicket(relay.Node):
    id: relay.NodeID[str]
    number: int
    subject: str | None = sealed_field("subject", "Null once the requester was erased (the ticket's key destroyed).")
    status: str
    priority: str
    channel: str
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    solved_at: dt.datetime | None
    closed_at: dt.datetime | None
    reopened_count: int
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, r) -> SupportTicket:
        return cls(
            id=str(r.id),
            number=r.number,
            status=r.status,
            priority=r.priority,
            channel=r.channel,
            tags=list(r.tags or []),
            created_at=r.created_at,
            updated_at=r.updated_at,
            solved_at=r.solved_at,
            closed_at=r.closed_at,
            reopened_count=r.reopened_count,
            _row=r,
        )

    resolve_nodes = node_resolver(orm.SupportTicket, "support.read")

    @strawberry.field(
        description="Sealed with the ticket's text: empty once the requester was erased. Those marked "
        "sensitive (要配慮個人情報) only with `crm.read_sensitive`."
    )
    async def custom_fields(self, info: Info) -> JSON:
        return await visible_custom_fields(info, TICKET_ENTITY, self._row.custom_fields)

    @strawberry.field
    async def requester(self, info: Info) -> ContactNode | None:
        row = await load_row(info.context, Contact, self._row.requester_id) if self._row.requester_id else None
        return ContactNode.from_row(row) if row else None

    @strawberry.field
    async def account(self, info: Info) -> AccountNode | None:
        row = await load_row(info.context, Account, self._row.account_id) if self._row.account_id else None
        return AccountNode.from_row(row) if row else None

    @strawberry.field
    async def assignee(self, info: Info) -> UserNode | None:
        row = await load_row(info.context, User, self._row.assignee_id) if self._row.assignee_id else None
        return UserNode.from_row(row) if row else None

    @strawberry.field
    async def group(self, info: Info) -> SupportGroup | None:
        row = await load_row(info.context, orm.SupportGroup, self._row.group_id) if self._row.group_id else None
        return SupportGroup.from_row(row) if row else None

    @strawberry.field(description="Public replies and internal notes, oldest first. Internal notes need `support.internal`.")
    async def articles(self, info: Info) -> list[SupportArticle]:
        rows = await ARTICLES.load(info.context, self._row.id)
        internal = info.context.can("support.internal")
        return [
            SupportArticle(public=r.public, author_type=r.author_type, channel=r.channel, created_at=r.created_at, _row=r)
            for r in rows
            if r.public or internal
        ]

    @strawberry.field(description="SLA timers of the ticket's policy, computed now from its history.")
    async def timers(self, info: Info) -> list[SupportTimer]:
        async with info.context.runtime.read_session() as session:
            return await sla.timers(session, self._row, info.context.runtime.clock.now())

    @strawberry.field(description="Status history, oldest first.")
    async def events(self, info: Info) -> list[SupportStatusEvent]:
        rows = await STATUS_CHANGES.load(info.context, self._row.id)
        return [SupportStatusEvent(status=r.status, at=r.changed_at) for r in rows]

    @strawberry.field
    async def follow_up_of(self, info: Info) -> SupportTicket | None:
        row = await load_row(info.context, orm.SupportTicket, self._row.follow_up_of_id) if self._row.follow_up_of_id else None
        return SupportTicket.from_row(row) if row else None


@strawberry.type
class SupportKbArticle(relay.Node):
    id: relay.NodeID[str]
    title: str
    body: str
    locale: str
    status: str
    published_at: dt.datetime | None

    @classmethod
    def from_row(cls, r) -> SupportKbArticle:
        return cls(id=str(r.id), title=r.title, body=r.body, locale=r.locale, status=r.status, published_at=r.published_at)

    resolve_nodes = node_resolver(orm.SupportKbArticle, "support.read")


strawberry.type(metrics.MetricsRow, name="SupportMetricsRow")  # as SupportTimer


SupportMetricsRow: TypeAlias = metrics.MetricsRow


@strawberry.enum
class SupportMetricsGroup(Enum):
    AGENT = "agent"
    GROUP = "group"
    PRIORITY = "priority"


@strawberry.input
class SupportTicketFilter:
    and_: list[SupportTicketFilter] | None = strawberry.field(default=None, name="and")
    or_: list[SupportTicketFilter] | None = strawberry.field(default=None, name="or")
    not_: SupportTicketFilter | None = strawberry.field(default=None, name="not")
    status: StringFilter | None = None
    priority: StringFilter | None = None
    requester_id: IDFilter | None = None
    account_id: IDFilter | None = None
    assignee_id: IDFilter | None = None
    created_at: DateTimeFilter | None = None


TICKET_FILTER = FilterSpec(
    strings={"status": orm.SupportTicket.status, "priority": orm.SupportTicket.priority},
    ids={
        "requester_id": (orm.SupportTicket.requester_id, "Contact"),
        "account_id": (orm.SupportTicket.account_id, "Account"),
        "assignee_id": (orm.SupportTicket.assignee_id, "User"),
    },
    datetimes={"created_at": orm.SupportTicket.created_at},
)


@strawberry.enum
class SupportTicketOrderField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NUMBER = "number"


@strawberry.input
class SupportTicketOrder:
    field: SupportTicketOrderField
    direction: OrderDirection = OrderDirection.DESC


SORT = {
    SupportTicketOrderField.CREATED_AT: SortKey(orm.SupportTicket.created_at, "datetime"),
    SupportTicketOrderField.UPDATED_AT: SortKey(orm.SupportTicket.updated_at, "datetime"),
    SupportTicketOrderField.NUMBER: SortKey(orm.SupportTicket.number, "int"),
}


@strawberry.type
class SupportTicketPayload:
    ticket: SupportTicket | None
    user_errors: list[UserErrorType]


@strawberry.type
class SupportConfigPayload:
    id: strawberry.ID | None
    user_errors: list[UserErrorType]


@strawberry.type
class SupportCsatPayload:
    accepted: bool
    user_errors: list[UserErrorType]


@strawberry.type
class SupportKbArticlePayload:
    article: SupportKbArticle | None
    user_errors: list[UserErrorType]


@strawberry.input
class CreateTicketInput:
    subject: str
    body: str | None = None
    priority: str = "normal"
    channel: str = "email"
    requester_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None
    group_id: strawberry.ID | None = None
    tags: list[str] | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None, description="Sealed with the ticket's text (erased with the requester)."
    )


@strawberry.input
class ReplyToTicketInput:
    ticket_id: strawberry.ID
    body: str
    from_customer: bool = strawberry.field(
        default=False, description="A message from the requester (an inbound email, the portal)."
    )


@strawberry.input
class AddInternalNoteInput:
    ticket_id: strawberry.ID
    body: str


@strawberry.input
class UpdateTicketInput:
    ticket_id: strawberry.ID
    subject: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    priority: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    group_id: strawberry.ID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.field(default=strawberry.UNSET, description="Replaces them all; null clears them.")


@strawberry.input
class AssignTicketInput:
    ticket_id: strawberry.ID
    assignee_id: strawberry.ID | None = strawberry.field(default=None, description="null: the group's assignment rule picks")
    group_id: strawberry.ID | None = None


@strawberry.input
class MergeTicketsInput:
    target_id: strawberry.ID
    source_ids: list[strawberry.ID]


@strawberry.input
class ApplyMacroInput:
    ticket_id: strawberry.ID
    macro_id: strawberry.ID


@strawberry.enum(description="A day of the week of a business calendar.")
class SupportWeekday(Enum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


@strawberry.enum(description="A ticket's priority.")
class SupportPriority(Enum):  # models.PRIORITIES
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


@strawberry.enum(description="An SLA timer.")
class SupportTimerKind(Enum):  # models.TIMERS
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    PERIODIC_UPDATE = "periodic_update"
    RESOLUTION = "resolution"


@strawberry.input(description="One opening span of a weekday, in the calendar's time zone.")
class SupportOpeningHoursInput:
    weekday: SupportWeekday
    opens: str = strawberry.field(description="HH:MM, 00:00 to 23:59.")
    closes: str = strawberry.field(description="HH:MM, after `opens`; spans of one day must not overlap.")


@strawberry.input
class CreateSupportCalendarInput:
    name: str
    timezone: str | None = strawberry.field(default=None, description="IANA name (Asia/Tokyo); null: the server's time zone.")
    weekly_hours: list[SupportOpeningHoursInput] = strawberry.field(
        description="Opening spans; a day may have several (09:00-12:00, 13:00-18:00), a day without one is closed."
    )
    holidays: list[dt.date] | None = strawberry.field(default=None, description="Extra closed days.")
    holiday_country: str | None = strawberry.field(
        default="JP", description="Country whose public holidays close the calendar (ISO 3166 alpha-2)"
    )


@strawberry.input(description="Minutes until a timer is due, for tickets of one priority.")
class SupportSlaTargetInput:
    priority: SupportPriority
    timer: SupportTimerKind
    minutes: int = strawberry.field(
        description="Business minutes on the policy's calendar (calendar minutes without one), 1 to 525600."
    )


@strawberry.input(
    description="Which tickets a policy covers: each list given must match (any of its values); none given: every ticket."
)
class SupportSlaConditionsInput:
    priorities: list[SupportPriority] | None = None
    tags: list[str] | None = strawberry.field(default=None, description="Tickets with any of these tags.")
    group_ids: list[strawberry.ID] | None = None
    account_ids: list[strawberry.ID] | None = None


@strawberry.input
class CreateSlaPolicyInput:
    name: str
    targets: list[SupportSlaTargetInput] = strawberry.field(description="At most one per priority and timer.")
    conditions: SupportSlaConditionsInput | None = None
    calendar_id: strawberry.ID | None = strawberry.field(default=None, description="null: calendar hours (24/7)")
    position: int | None = strawberry.field(
        default=None, description="Policies are tried in position order; the first match wins."
    )


@strawberry.input
class AddEscalationRuleInput:
    policy_id: strawberry.ID
    timer: str
    level: int = 1
    percent: int | None = None
    minutes_after_breach: int | None = None
    reassign_group_id: strawberry.ID | None = None
    raise_priority: bool = False


@strawberry.input
class CreateSupportGroupInput:
    name: str
    assignment: str = "round_robin"


@strawberry.input
class SetSupportAgentInput:
    group_id: strawberry.ID
    user_id: strawberry.ID
    away: bool = False


@strawberry.input
class CreateMacroInput:
    name: str
    reply: str | None = None
    status: str | None = None
    priority: str | None = None
    add_tags: list[str] | None = None
    remove_tags: list[str] | None = None


@strawberry.input
class SubmitCsatInput:
    token: str
    rating: int
    comment: str | None = None


@strawberry.input(description="Only the fields sent change.")
class UpdateSupportSettingsInput:
    auto_close_hours: int | None = strawberry.field(
        default=strawberry.UNSET, description="Solved tickets close after this long (96)."
    )
    csat_delay_hours: int | None = strawberry.field(
        default=strawberry.UNSET, description="Surveys go out this long after solving (24)."
    )


@strawberry.type
class SupportSettingsPayload:
    auto_close_hours: int | None
    csat_delay_hours: int | None
    user_errors: list[UserErrorType]


@strawberry.input
class CreateKbCategoryInput:
    name: str
    locale: str = "ja"


@strawberry.input
class SaveKbArticleInput:
    id: strawberry.ID | None = None
    title: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    locale: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    category_id: strawberry.ID | None = strawberry.UNSET

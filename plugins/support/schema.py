"""Support's GraphQL: tickets with articles, timers and history; configuration; KB; metrics."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated, Any, TypeAlias

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import (
    Account,
    AccountNode,
    Connection,
    Contact,
    ContactNode,
    DateTimeFilter,
    FilterSpec,
    IDFilter,
    InvalidArgument,
    NestedConnection,
    OrderDirection,
    PageRequest,
    RowsByColumn,
    SortKey,
    StringFilter,
    User,
    UserErrorType,
    UserNode,
    check_filter_text,
    input_values,
    load_row,
    node_resolver,
    paginate,
    parse_global_id,
    run_mutation,
    sealed_field,
    to_global_id,
)

from . import models as orm
from . import service

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


strawberry.type(service.Timer, name="SupportTimer")  # decorates the service's dataclass in place
SupportTimer: TypeAlias = service.Timer


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
    custom_fields: JSON = sealed_field(
        "custom_fields", "Sealed with the ticket's text: empty once the requester was erased.", empty={}
    )
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
            return await service.timers(session, self._row, info.context.runtime.clock.now())

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


strawberry.type(service.MetricsRow, name="SupportMetricsRow")  # as SupportTimer
SupportMetricsRow: TypeAlias = service.MetricsRow


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


async def _ticket_list(info: Info, statement, filter, order_by, first, after, last, before) -> Connection[SupportTicket]:
    info.context.require("support.read")
    statement = statement.where(TICKET_FILTER.compile(filter))
    orders = order_by or [SupportTicketOrder(field=SupportTicketOrderField.CREATED_AT)]
    order = [(SORT[o.field], o.direction == OrderDirection.DESC) for o in orders]
    order.append((SortKey(orm.SupportTicket.id, "uuid"), order[-1][1]))
    return await paginate(info.context, statement, order, PageRequest(first, after, last, before), SupportTicket.from_row)


def _tickets_by(column):
    """(owner, ticket) pairs for a nested connection: a page of contacts or accounts with their
    tickets costs two statements, not two per row."""

    def pairs(owner_ids, _extra):
        return select(column.label("owner_id"), orm.SupportTicket.id.label("item_id")).where(column.in_(owner_ids))

    return pairs


NEWEST_FIRST = ((SORT[SupportTicketOrderField.CREATED_AT], True), (SortKey(orm.SupportTicket.id, "uuid"), True))
CONTACT_TICKETS = NestedConnection(
    "support.contact_tickets", orm.SupportTicket, NEWEST_FIRST, _tickets_by(orm.SupportTicket.requester_id)
)
ACCOUNT_TICKETS = NestedConnection(
    "support.account_tickets", orm.SupportTicket, NEWEST_FIRST, _tickets_by(orm.SupportTicket.account_id)
)


async def contact_tickets(root, info: Info, first: int | None = None, after: str | None = None) -> Connection[SupportTicket]:
    """`Contact.tickets`: the contact's tickets, newest first."""
    info.context.require("support.read")
    return await CONTACT_TICKETS.resolve(
        info.context, root._row.id, PageRequest(first, after, None, None), SupportTicket.from_row
    )


async def account_tickets(root, info: Info, first: int | None = None, after: str | None = None) -> Connection[SupportTicket]:
    """`Account.tickets`: the account's tickets, newest first."""
    info.context.require("support.read")
    return await ACCOUNT_TICKETS.resolve(
        info.context, root._row.id, PageRequest(first, after, None, None), SupportTicket.from_row
    )


@strawberry.type
class SupportQuery:
    @strawberry.field
    async def tickets(
        self,
        info: Info,
        filter: SupportTicketFilter | None = None,
        order_by: list[SupportTicketOrder] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[SupportTicket]:
        return await _ticket_list(info, select(orm.SupportTicket), filter, order_by, first, after, last, before)

    @strawberry.field(description="One ticket by global id or by its number.")
    async def ticket(self, info: Info, id: strawberry.ID | None = None, number: int | None = None) -> SupportTicket | None:
        info.context.require("support.read")
        if (id is None) == (number is None):
            raise InvalidArgument("give `id` or `number`")
        condition = (
            orm.SupportTicket.id == parse_global_id(id, "SupportTicket", "id")
            if id is not None
            else orm.SupportTicket.number == number
        )
        row = (await info.context.execute(select(orm.SupportTicket).where(condition))).scalar_one_or_none()
        return SupportTicket.from_row(row) if row else None

    @strawberry.field(description="Knowledge base articles; `search` works for Japanese. Drafts need `support.agent`.")
    async def kb_articles(
        self, info: Info, search: str | None = None, locale: str | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[SupportKbArticle]:
        info.context.require("support.read")
        statement = select(orm.SupportKbArticle)
        if not info.context.can("support.agent"):
            statement = statement.where(orm.SupportKbArticle.status == "published")
        if search:
            check_filter_text(search, "search")
            statement = statement.where(service.kb_search_clause(search))
        if locale:
            statement = statement.where(orm.SupportKbArticle.locale == locale)
        order = [(SortKey(orm.SupportKbArticle.updated_at, "datetime"), True), (SortKey(orm.SupportKbArticle.id, "uuid"), True)]
        return await paginate(info.context, statement, order, PageRequest(first, after, None, None), SupportKbArticle.from_row)

    @strawberry.field(
        description="First reply (median), MTTR, FCR, backlog, SLA attainment and CSAT over tickets created in [from, to)."
    )
    async def support_metrics(
        self,
        info: Info,
        from_: Annotated[dt.datetime, strawberry.argument(name="from")],
        to: dt.datetime | None = None,
        group_by: SupportMetricsGroup = SupportMetricsGroup.PRIORITY,
    ) -> list[SupportMetricsRow]:
        info.context.require("support.metrics")
        async with info.context.runtime.read_session() as session:
            rows = await service.metrics(session, from_, to, group_by.value, info.context.runtime.clock.now())
        return rows


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


def _ids(values: list | None, type_name: str, field: str) -> list[uuid.UUID] | None:
    return None if values is None else [parse_global_id(v, type_name, f"{field}.{i}") for i, v in enumerate(values)]


def _ticket_id(value) -> uuid.UUID:
    return parse_global_id(value, "SupportTicket", "ticketId")


async def _ticket_payload(info: Info, permission: str, work) -> SupportTicketPayload:
    async def run(uow):
        ticket_id = await work(uow)
        return await uow.session.get(orm.SupportTicket, ticket_id)

    row, errors = await run_mutation(info, permission, run)
    return SupportTicketPayload(ticket=SupportTicket.from_row(row) if row else None, user_errors=errors)


async def _config(info: Info, work) -> SupportConfigPayload:
    row, errors = await run_mutation(info, "support.configure", work)
    type_names = {
        orm.SupportCalendar: "SupportCalendar",
        orm.SupportSlaPolicy: "SupportSlaPolicy",
        orm.SupportGroup: "SupportGroup",
        orm.SupportEscalationRule: "SupportEscalationRule",
        orm.SupportMacro: "SupportMacro",
        orm.SupportGroupMember: "SupportGroupMember",
        orm.SupportKbCategory: "SupportKbCategory",
    }
    return SupportConfigPayload(
        id=strawberry.ID(to_global_id(type_names[type(row)], row.id)) if row else None, user_errors=errors
    )


@strawberry.type
class SupportMutation:
    @strawberry.mutation
    async def create_ticket(self, info: Info, input: CreateTicketInput) -> SupportTicketPayload:
        async def work(uow):
            data = input_values(input, {"requester_id": "Contact", "account_id": "Account", "group_id": "SupportGroup"})
            return (await service.create_ticket(uow, data)).id

        return await _ticket_payload(info, "support.agent", work)

    @strawberry.mutation(description="A public reply (the requester sees it), or the requester's own message with fromCustomer.")
    async def reply_to_ticket(self, info: Info, input: ReplyToTicketInput) -> SupportTicketPayload:
        async def work(uow):
            article = await service.reply(uow, _ticket_id(input.ticket_id), input.body, as_customer=input.from_customer)
            return article.ticket_id

        return await _ticket_payload(info, "support.agent", work)

    @strawberry.mutation(description="A note for agents only; it does not count as a reply for the SLA.")
    async def add_internal_note(self, info: Info, input: AddInternalNoteInput) -> SupportTicketPayload:
        async def work(uow):
            return (await service.reply(uow, _ticket_id(input.ticket_id), input.body, public=False)).ticket_id

        return await _ticket_payload(info, "support.internal", work)

    @strawberry.mutation
    async def update_ticket(self, info: Info, input: UpdateTicketInput) -> SupportTicketPayload:
        async def work(uow):
            data = input_values(input, {"group_id": "SupportGroup"}, skip=("ticket_id",))
            return (await service.update_ticket(uow, _ticket_id(input.ticket_id), data)).id

        return await _ticket_payload(info, "support.agent", work)

    @strawberry.mutation
    async def assign_ticket(self, info: Info, input: AssignTicketInput) -> SupportTicketPayload:
        async def work(uow):
            assignee = parse_global_id(input.assignee_id, "User", "assigneeId") if input.assignee_id else None
            group = parse_global_id(input.group_id, "SupportGroup", "groupId") if input.group_id else None
            return (await service.assign(uow, _ticket_id(input.ticket_id), assignee, group)).id

        return await _ticket_payload(info, "support.agent", work)

    @strawberry.mutation
    async def merge_tickets(self, info: Info, input: MergeTicketsInput) -> SupportTicketPayload:
        async def work(uow):
            sources = [parse_global_id(s, "SupportTicket", f"sourceIds.{i}") for i, s in enumerate(input.source_ids)]
            return (await service.merge_tickets(uow, _ticket_id(input.target_id), sources)).id

        return await _ticket_payload(info, "support.agent", work)

    @strawberry.mutation(description="Reply, status, tags and priority from a macro, in one transaction.")
    async def apply_macro(self, info: Info, input: ApplyMacroInput) -> SupportTicketPayload:
        async def work(uow):
            return (
                await service.apply_macro(
                    uow, _ticket_id(input.ticket_id), parse_global_id(input.macro_id, "SupportMacro", "macroId")
                )
            ).id

        return await _ticket_payload(info, "support.agent", work)

    @strawberry.mutation
    async def create_support_calendar(self, info: Info, input: CreateSupportCalendarInput) -> SupportConfigPayload:
        async def work(uow):
            data = input_values(input)
            data["weekly_hours"] = [
                {"weekday": s.weekday.value, "opens": s.opens, "closes": s.closes} for s in input.weekly_hours
            ]
            return await service.create_calendar(uow, data)

        return await _config(info, work)

    @strawberry.mutation
    async def create_sla_policy(self, info: Info, input: CreateSlaPolicyInput) -> SupportConfigPayload:
        async def work(uow):
            data = input_values(input, {"calendar_id": "SupportCalendar"})
            data["targets"] = [
                {"priority": t.priority.value, "timer": t.timer.value, "minutes": t.minutes} for t in input.targets
            ]
            if (c := input.conditions) is not None:
                data["conditions"] = {
                    "priorities": [p.value for p in c.priorities] if c.priorities is not None else None,
                    "tags": c.tags,
                    "group_ids": _ids(c.group_ids, "SupportGroup", "conditions.groupIds"),
                    "account_ids": _ids(c.account_ids, "Account", "conditions.accountIds"),
                }
            return await service.create_policy(uow, data)

        return await _config(info, work)

    @strawberry.mutation
    async def add_escalation_rule(self, info: Info, input: AddEscalationRuleInput) -> SupportConfigPayload:
        return await _config(
            info,
            lambda uow: service.add_escalation_rule(
                uow,
                parse_global_id(input.policy_id, "SupportSlaPolicy", "policyId"),
                input_values(input, {"reassign_group_id": "SupportGroup"}, skip=("policy_id",)),
            ),
        )

    @strawberry.mutation
    async def create_support_group(self, info: Info, input: CreateSupportGroupInput) -> SupportConfigPayload:
        return await _config(info, lambda uow: service.create_group(uow, input.name, input.assignment))

    @strawberry.mutation(description="Add an agent to a group, or mark them away (assignment skips them).")
    async def set_support_agent(self, info: Info, input: SetSupportAgentInput) -> SupportConfigPayload:
        return await _config(
            info,
            lambda uow: service.set_member(
                uow,
                parse_global_id(input.group_id, "SupportGroup", "groupId"),
                parse_global_id(input.user_id, "User", "userId"),
                input.away,
            ),
        )

    @strawberry.mutation
    async def create_macro(self, info: Info, input: CreateMacroInput) -> SupportConfigPayload:
        return await _config(info, lambda uow: service.create_macro(uow, input_values(input)))

    @strawberry.mutation(
        description="Answer a satisfaction survey with its single-use token (also at POST /support/csat/{token})."
    )
    async def submit_csat(self, info: Info, input: SubmitCsatInput) -> SupportCsatPayload:
        done, errors = await run_mutation(
            info, "support.read", lambda uow: service.submit_csat(uow, input.token, input.rating, input.comment)
        )
        return SupportCsatPayload(accepted=done is not None, user_errors=errors)

    @strawberry.mutation
    async def update_support_settings(self, info: Info, input: UpdateSupportSettingsInput) -> SupportSettingsPayload:
        row, errors = await run_mutation(info, "support.configure", lambda uow: service.update_settings(uow, input_values(input)))
        return SupportSettingsPayload(
            auto_close_hours=row.auto_close_hours if row else None,
            csat_delay_hours=row.csat_delay_hours if row else None,
            user_errors=errors,
        )

    @strawberry.mutation
    async def create_kb_category(self, info: Info, input: CreateKbCategoryInput) -> SupportConfigPayload:
        return await _config(info, lambda uow: service.create_kb_category(uow, input.name, input.locale))

    @strawberry.mutation(description="Create a knowledge base article (no id) or change one; status published publishes it.")
    async def save_kb_article(self, info: Info, input: SaveKbArticleInput) -> SupportKbArticlePayload:
        async def work(uow):
            article_id = parse_global_id(input.id, "SupportKbArticle", "id") if input.id else None
            return await service.save_kb_article(uow, input_values(input, {"category_id": "SupportKbCategory"}), article_id)

        row, errors = await run_mutation(info, "support.agent", work)
        return SupportKbArticlePayload(article=SupportKbArticle.from_row(row) if row else None, user_errors=errors)

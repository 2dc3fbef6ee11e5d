"""Support's GraphQL root: the query, the mutations, and `Contact.tickets` / `Account.tickets`; the
types they take and return are in types.py."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import (
    SENSITIVE_READ_PERMISSION,
    Connection,
    InvalidArgument,
    NestedConnection,
    OrderDirection,
    PageRequest,
    SortKey,
    check_filter_text,
    input_values,
    paginate,
    parse_global_id,
    run_mutation,
    to_global_id,
)

from . import configuration, csat, knowledge_base, metrics, service
from . import models as orm
from .types import (
    SORT,
    TICKET_FILTER,
    AddEscalationRuleInput,
    AddInternalNoteInput,
    ApplyMacroInput,
    AssignTicketInput,
    CreateKbCategoryInput,
    CreateMacroInput,
    CreateSlaPolicyInput,
    CreateSupportCalendarInput,
    CreateSupportGroupInput,
    CreateTicketInput,
    MergeTicketsInput,
    ReplyToTicketInput,
    SaveKbArticleInput,
    SetSupportAgentInput,
    SubmitCsatInput,
    SupportConfigPayload,
    SupportCsatPayload,
    SupportKbArticle,
    SupportKbArticlePayload,
    SupportMetricsGroup,
    SupportMetricsRow,
    SupportSettingsPayload,
    SupportTicket,
    SupportTicketFilter,
    SupportTicketOrder,
    SupportTicketOrderField,
    SupportTicketPayload,
    UpdateSupportSettingsInput,
    UpdateTicketInput,
)


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


def contact_tickets(
    contacts: list, info: Info, first: int | None = None, after: str | None = None
) -> list[Connection[SupportTicket]] | Awaitable[list]:
    """`Contact.tickets` of every contact of a level (a batch field): their tickets, newest first."""
    info.context.require("support.read")
    return CONTACT_TICKETS.connections(
        info.context, [c._row.id for c in contacts], PageRequest(first, after, None, None), SupportTicket.from_row
    )


def account_tickets(
    accounts: list, info: Info, first: int | None = None, after: str | None = None
) -> list[Connection[SupportTicket]] | Awaitable[list]:
    """`Account.tickets` of every account of a level (a batch field): their tickets, newest first."""
    info.context.require("support.read")
    return ACCOUNT_TICKETS.connections(
        info.context, [a._row.id for a in accounts], PageRequest(first, after, None, None), SupportTicket.from_row
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
            statement = statement.where(knowledge_base.kb_search_clause(search))
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
            rows = await metrics.metrics(session, from_, to, group_by.value, info.context.runtime.clock.now())
        return rows


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
            sees_sensitive = info.context.can(SENSITIVE_READ_PERMISSION)
            return (await service.update_ticket(uow, _ticket_id(input.ticket_id), data, sees_sensitive=sees_sensitive)).id

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
            return await configuration.create_calendar(uow, data)

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
            return await configuration.create_policy(uow, data)

        return await _config(info, work)

    @strawberry.mutation
    async def add_escalation_rule(self, info: Info, input: AddEscalationRuleInput) -> SupportConfigPayload:
        return await _config(
            info,
            lambda uow: configuration.add_escalation_rule(
                uow,
                parse_global_id(input.policy_id, "SupportSlaPolicy", "policyId"),
                input_values(input, {"reassign_group_id": "SupportGroup"}, skip=("policy_id",)),
            ),
        )

    @strawberry.mutation
    async def create_support_group(self, info: Info, input: CreateSupportGroupInput) -> SupportConfigPayload:
        return await _config(info, lambda uow: configuration.create_group(uow, input.name, input.assignment))

    @strawberry.mutation(description="Add an agent to a group, or mark them away (assignment skips them).")
    async def set_support_agent(self, info: Info, input: SetSupportAgentInput) -> SupportConfigPayload:
        return await _config(
            info,
            lambda uow: configuration.set_member(
                uow,
                parse_global_id(input.group_id, "SupportGroup", "groupId"),
                parse_global_id(input.user_id, "User", "userId"),
                input.away,
            ),
        )

    @strawberry.mutation
    async def create_macro(self, info: Info, input: CreateMacroInput) -> SupportConfigPayload:
        return await _config(info, lambda uow: configuration.create_macro(uow, input_values(input)))

    @strawberry.mutation(
        description="Answer a satisfaction survey with its single-use token (also at POST /support/csat/{token})."
    )
    async def submit_csat(self, info: Info, input: SubmitCsatInput) -> SupportCsatPayload:
        done, errors = await run_mutation(
            info, "support.read", lambda uow: csat.submit_csat(uow, input.token, input.rating, input.comment)
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
        return await _config(info, lambda uow: knowledge_base.create_kb_category(uow, input.name, input.locale))

    @strawberry.mutation(description="Create a knowledge base article (no id) or change one; status published publishes it.")
    async def save_kb_article(self, info: Info, input: SaveKbArticleInput) -> SupportKbArticlePayload:
        async def work(uow):
            article_id = parse_global_id(input.id, "SupportKbArticle", "id") if input.id else None
            return await knowledge_base.save_kb_article(
                uow, input_values(input, {"category_id": "SupportKbCategory"}), article_id
            )

        row, errors = await run_mutation(info, "support.agent", work)
        return SupportKbArticlePayload(article=SupportKbArticle.from_row(row) if row else None, user_errors=errors)

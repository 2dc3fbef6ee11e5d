"""Saved segments in GraphQL: `segment(id)` (with `members` and `history`), `segments`,
`segmentTerms`, and the mutations `createSegment`, `evaluateSegment`, `deleteSegment`. Reading
needs `insights.read`; defining and evaluating segments `insights.write`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable
from typing import Any, cast

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi.plugin import Account as AccountRow
from enishi.plugin import (
    AccountFilter,
    AccountNode,
    Connection,
    ContactFilter,
    ContactNode,
    InvalidArgument,
    PageRequest,
    SortKey,
    UserErrorType,
    filter_json,
    load_for_update,
    node_resolver,
    paginate,
    parse_global_id,
    run_mutation,
)
from enishi.plugin import Contact as ContactRow

from . import segments
from .health_models import InsightsSegment, InsightsSegmentCount, InsightsSegmentMember
from .types import READ, InsightsCustomer, _visible

WRITE = "insights.write"
MAX_HISTORY_DAYS = 3660


@strawberry.input(description="A term another plugin adds to segments (`segmentTerms` lists them).")
class InsightsSegmentTermInput:
    key: str = strawberry.field(description='The term, such as "abm.tier" or "loyalty.tier".')
    value: JSON


@strawberry.input(description="Who is in a saved segment: every term given must hold; and/or/not combine filters.")
class InsightsSegmentFilter:
    and_: list[InsightsSegmentFilter] | None = strawberry.field(default=None, name="and")
    or_: list[InsightsSegmentFilter] | None = strawberry.field(default=None, name="or")
    not_: InsightsSegmentFilter | None = strawberry.field(default=None, name="not")
    contact: ContactFilter | None = strawberry.field(default=None, description="The core's filter (contact segments).")
    account: AccountFilter | None = strawberry.field(default=None, description="The core's filter (account segments).")
    inactive_days: int | None = strawberry.field(default=None, description="No timeline activity for this many days.")
    churn_risk_at_least: int | None = strawberry.field(default=None, description="A stored churn risk of this or more.")
    rfm_segment: list[str] | None = strawberry.field(default=None, description="In one of these RFM segments.")
    terms: list[InsightsSegmentTermInput] | None = None


@strawberry.type(description="A term another plugin adds to segments' filters.")
class InsightsSegmentTerm:
    key: str
    description: str
    customers: list[InsightsCustomer]


@strawberry.type(description="A segment's member count on one day (Asia/Tokyo or the configured zone).")
class InsightsSegmentDay:
    day: dt.date
    members: int


@strawberry.type(name="InsightsSegmentMember", description="A customer in a segment since its evaluation at `since`.")
class InsightsSegmentMemberType(relay.Node):
    id: relay.NodeID[str]
    since: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: InsightsSegmentMember) -> InsightsSegmentMemberType:
        return cls(id=str(row.id), since=row.since, _row=row)

    @strawberry.field(graphql_type=ContactNode | None)
    def contact(self, info: Info) -> Awaitable[ContactNode | None] | None:
        return _visible(info, ContactNode, ContactRow, self._row.contact_id)

    @strawberry.field(graphql_type=AccountNode | None)
    def account(self, info: Info) -> Awaitable[AccountNode | None] | None:
        return _visible(info, AccountNode, AccountRow, self._row.account_id)

    resolve_nodes = node_resolver(InsightsSegmentMember, READ)


MEMBER_ORDER = ((SortKey(InsightsSegmentMember.since, "datetime"), False), (SortKey(InsightsSegmentMember.id, "uuid"), False))


@strawberry.type(name="InsightsSegment", description="A named, shared filter over customers (insights plugin).")
class InsightsSegmentType(relay.Node):
    id: relay.NodeID[str]
    name: str
    customer: InsightsCustomer
    filter: JSON = strawberry.field(description="The filter as recorded (InsightsSegmentFilter as JSON).")
    created_at: dt.datetime
    evaluated_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: InsightsSegment) -> InsightsSegmentType:
        return cls(
            id=str(row.id),
            name=row.name,
            customer=InsightsCustomer(row.customer),
            filter=cast(JSON, row.definition),
            created_at=row.created_at,
            evaluated_at=row.evaluated_at,
            _row=row,
        )

    @strawberry.field(description="Members as of the last evaluation, longest-standing first.")
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[InsightsSegmentMemberType]:
        info.context.require(READ)
        statement = select(InsightsSegmentMember).where(InsightsSegmentMember.segment_id == self._row.id)
        return await paginate(
            info.context, statement, MEMBER_ORDER, PageRequest(first, after, None, None), InsightsSegmentMemberType.from_row
        )

    @strawberry.field(description="Member count per day evaluated, from `firstDay` to `lastDay` (both included).")
    async def history(self, info: Info, first_day: dt.date, last_day: dt.date) -> list[InsightsSegmentDay]:
        info.context.require(READ)
        if not 0 <= (last_day - first_day).days < MAX_HISTORY_DAYS:
            raise InvalidArgument(f"`lastDay` is from `firstDay` to {MAX_HISTORY_DAYS} days after it")
        rows = await info.context.execute(
            select(InsightsSegmentCount.day, InsightsSegmentCount.members)
            .where(
                InsightsSegmentCount.segment_id == self._row.id,
                InsightsSegmentCount.day >= first_day,
                InsightsSegmentCount.day <= last_day,
            )
            .order_by(InsightsSegmentCount.day)
        )
        return [InsightsSegmentDay(day=day, members=members) for day, members in rows]

    resolve_nodes = node_resolver(InsightsSegment, READ)


@strawberry.input
class CreateSegmentInput:
    name: str
    customer: InsightsCustomer = InsightsCustomer.CONTACT
    filter: InsightsSegmentFilter


@strawberry.input(description="The segment to evaluate now.")
class EvaluateSegmentInput:
    id: strawberry.ID


@strawberry.input(description="The segment to delete, with its members and history.")
class DeleteSegmentInput:
    id: strawberry.ID


@strawberry.type
class SegmentPayload:
    segment: InsightsSegmentType | None
    entered: int = strawberry.field(description="Customers that came in at this evaluation.")
    left: int = strawberry.field(description="Customers that went out at this evaluation.")
    user_errors: list[UserErrorType]


@strawberry.type
class DeleteSegmentPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserErrorType]


async def _segment(uow, segment_id: str) -> InsightsSegment:
    return await load_for_update(uow, InsightsSegment, parse_global_id(segment_id, "InsightsSegment", "id"), what="saved segment")


@strawberry.type
class SegmentQuery:
    @strawberry.field(description="One saved segment.")
    async def segment(self, info: Info, id: strawberry.ID) -> InsightsSegmentType | None:
        info.context.require(READ)
        rows = await info.context.scalars(
            select(InsightsSegment).where(InsightsSegment.id == parse_global_id(id, "InsightsSegment", "id"))
        )
        return InsightsSegmentType.from_row(rows[0]) if rows else None

    @strawberry.field(description="Every saved segment, by name.")
    async def segments(self, info: Info) -> list[InsightsSegmentType]:
        info.context.require(READ)
        rows = await info.context.scalars(select(InsightsSegment).order_by(InsightsSegment.name))
        return [InsightsSegmentType.from_row(row) for row in rows]

    @strawberry.field(description="The terms installed plugins add to segment filters.")
    def segment_terms(self, info: Info) -> list[InsightsSegmentTerm]:
        info.context.require(READ)
        return [
            InsightsSegmentTerm(key=t.key, description=t.description, customers=[InsightsCustomer(c) for c in t.customers])
            for t in segments.installed_terms(info.context.runtime.plugins).values()
        ]


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Save a segment and evaluate it at once.")
    async def create_segment(self, info: Info, input: CreateSegmentInput) -> SegmentPayload:
        definition = filter_json(input.filter)

        async def work(uow):
            segment = await segments.create_segment(uow, input.name, input.customer.value, definition)
            return segment, await segments.member_count(uow.session, segment.id)

        result, errors = await run_mutation(info, WRITE, work)
        return SegmentPayload(
            segment=InsightsSegmentType.from_row(result[0]) if result else None,
            entered=result[1] if result else 0,
            left=0,
            user_errors=errors,
        )

    @strawberry.mutation(description="Evaluate a segment now (the daily job does every segment).")
    async def evaluate_segment(self, info: Info, input: EvaluateSegmentInput) -> SegmentPayload:
        async def work(uow):
            segment = await _segment(uow, input.id)
            return segment, await segments.evaluate(uow, segment)

        result, errors = await run_mutation(info, WRITE, work)
        return SegmentPayload(
            segment=InsightsSegmentType.from_row(result[0]) if result else None,
            entered=result[1][0] if result else 0,
            left=result[1][1] if result else 0,
            user_errors=errors,
        )

    @strawberry.mutation(description="Delete a segment, its members and its history.")
    async def delete_segment(self, info: Info, input: DeleteSegmentInput) -> DeleteSegmentPayload:
        async def work(uow) -> uuid.UUID:
            segment = await _segment(uow, input.id)
            await uow.session.delete(segment)
            return segment.id

        deleted, errors = await run_mutation(info, WRITE, work)
        return DeleteSegmentPayload(deleted_id=input.id if deleted else None, user_errors=errors)

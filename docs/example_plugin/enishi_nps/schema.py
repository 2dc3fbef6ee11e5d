"""GraphQL: a type, a field on the core's Contact, a query and a mutation."""

import datetime as dt
from collections import defaultdict

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from enishi.plugin import UserErrorType, parse_global_id, run_mutation

from . import service
from .models import NpsResponse


@strawberry.type
class NpsSurveyResponse:
    score: int
    comment: str | None
    answered_at: dt.datetime

    @strawberry.field
    def category(self) -> str:
        return service.classify(self.score)


def _latest_by_contact(ctx):
    """One query for every contact of the page: no N+1."""

    async def load(contact_ids):
        rows = await ctx.scalars(
            select(NpsResponse).where(NpsResponse.contact_id.in_(contact_ids)).order_by(NpsResponse.answered_at)
        )
        latest = defaultdict(lambda: None)
        for row in rows:
            latest[row.contact_id] = row
        return [latest[c] for c in contact_ids]

    return load


async def contact_nps(root, info: Info) -> NpsSurveyResponse | None:
    """Added to the core's `Contact` type through `enishi_graphql_type_fields`."""
    row = await info.context.loader("nps.latest", _latest_by_contact).load(root._row.id)
    return NpsSurveyResponse(score=row.score, comment=row.comment, answered_at=row.answered_at) if row else None


@strawberry.type
class NpsQuery:
    @strawberry.field(description="Net Promoter Score over every response: % promoters − % detractors.")
    async def net_promoter_score(self, info: Info) -> float | None:
        info.context.require("nps.read")
        async with info.context.runtime.read_session() as session:
            return await service.net_promoter_score(session)


@strawberry.input
class RecordNpsInput:
    contact_id: strawberry.ID
    score: int
    comment: str | None = None


@strawberry.type
class RecordNpsPayload:
    response: NpsSurveyResponse | None
    user_errors: list[UserErrorType]


@strawberry.type
class NpsMutation:
    @strawberry.mutation
    async def record_nps(self, info: Info, input: RecordNpsInput) -> RecordNpsPayload:
        async def work(uow):
            contact_id = parse_global_id(input.contact_id, "Contact", "contactId")
            return await service.record_response(uow, contact_id, input.score, input.comment)

        row, errors = await run_mutation(info, "nps.write", work)
        response = NpsSurveyResponse(score=row.score, comment=row.comment, answered_at=row.answered_at) if row else None
        return RecordNpsPayload(response=response, user_errors=errors)

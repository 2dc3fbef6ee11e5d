"""Surveys in GraphQL: `surveys`, `createSurvey`, `sendSurvey`, the public `answerSurvey` (the
link's token is the credential), and `npsScore` / `csatScore` / `cesScore` with their monthly
trend. Registered from hooks.py beside the RFM and KPI schema."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from enishi.plugin import (
    PUBLIC_FIELD,
    PUBLIC_PERMISSION,
    InvalidArgument,
    UserErrorType,
    input_values,
    node_resolver,
    parse_global_id,
    run_mutation,
)

from . import kpis, survey_scores, surveys
from .health_models import InsightsSegment
from .schema import MAX_PERIOD_DAYS
from .survey_models import InsightsSurvey as SurveyRow
from .types import READ

WRITE = "insights.survey"


@strawberry.enum(description="A survey's scale: NPS 0-10, CSAT 1-5, CES 1-7.")
class InsightsSurveyKind(Enum):
    NPS = "nps"
    CSAT = "csat"
    CES = "ces"


@strawberry.enum(description="The length of a trend's buckets, calendar periods in the configured time zone.")
class InsightsSurveyInterval(Enum):
    MONTH = "month"


@strawberry.type(name="InsightsSurvey", description="A question asked to customers (insights plugin).")
class InsightsSurveyType(relay.Node):
    id: relay.NodeID[str]
    name: str
    kind: InsightsSurveyKind
    question_ja: str
    question_en: str
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: SurveyRow) -> InsightsSurveyType:
        return cls(
            id=str(row.id),
            name=row.name,
            kind=InsightsSurveyKind(row.kind),
            question_ja=row.question_ja,
            question_en=row.question_en,
            created_at=row.created_at,
        )

    resolve_nodes = node_resolver(SurveyRow, READ)


@strawberry.type(description="A 95 % confidence interval (README.md of the insights plugin gives the method).")
class InsightsConfidenceInterval:
    low: float
    high: float


@strawberry.interface(description="Survey figures over some answers.")
class InsightsSurveyFigures:
    kind: InsightsSurveyKind
    responses: int
    score: float | None = strawberry.field(
        description="NPS (% promoters − % detractors), CSAT (% answering 4-5) or CES (the mean); None without answers."
    )
    promoters: int | None = strawberry.field(description="NPS: answers 9-10.")
    passives: int | None = strawberry.field(description="NPS: answers 7-8.")
    detractors: int | None = strawberry.field(description="NPS: answers 0-6.")
    satisfied: int | None = strawberry.field(description="CSAT: answers 4-5.")
    confidence_interval: InsightsConfidenceInterval | None = strawberry.field(
        description="The 95 % interval of `score`, clipped to the scale; None with too few answers."
    )


def _fields(found: survey_scores.Figures) -> dict[str, Any]:
    interval = None
    if found.low is not None and found.high is not None:
        interval = InsightsConfidenceInterval(low=found.low, high=found.high)
    return {
        "kind": InsightsSurveyKind(found.kind),
        "responses": found.responses,
        "score": found.score,
        "promoters": found.promoters,
        "passives": found.passives,
        "detractors": found.detractors,
        "satisfied": found.satisfied,
        "confidence_interval": interval,
    }


@strawberry.type(description="One bucket of a survey trend (months without answers have 0 responses).")
class InsightsSurveyPoint(InsightsSurveyFigures):
    start: dt.date = strawberry.field(description="The bucket's first day.")


@strawberry.type(description="Survey figures of a period (both days included, in the configured time zone).")
class InsightsSurveyScore(InsightsSurveyFigures):
    first_day: dt.date
    last_day: dt.date
    _answers: strawberry.Private[list]
    _period: strawberry.Private[kpis.Period]

    @strawberry.field(description="The same figures per calendar month of the period, zero-filled.")
    def trend(self, info: Info, interval: InsightsSurveyInterval = InsightsSurveyInterval.MONTH) -> list[InsightsSurveyPoint]:
        zone = info.context.runtime.settings.zone
        return [
            InsightsSurveyPoint(start=month, **_fields(found))
            for month, found in survey_scores.monthly(self.kind.value, self._answers, self._period, zone)
        ]


@strawberry.input(
    description="Whose answers count: give exactly one way of naming the audience, an RFM segment of the contacts "
    "(as scored now) or a saved segment (its members as of its last evaluation; an account segment's contacts)."
)
class InsightsAudienceInput:
    rfm_segment: str | None = None
    saved_segment_id: strawberry.ID | None = None


async def _audience(session, segment: InsightsAudienceInput | None) -> survey_scores.Audience:
    if segment is None:
        return survey_scores.Audience()
    saved_id = segment.saved_segment_id
    if (segment.rfm_segment is None) == (saved_id is None):
        raise InvalidArgument("`segment` needs exactly one of `rfmSegment` and `savedSegmentId`")
    if saved_id is None:
        return survey_scores.Audience(rfm_segment=segment.rfm_segment)
    segment_id = parse_global_id(saved_id, "InsightsSegment", "segment.savedSegmentId")
    saved = await session.get(InsightsSegment, segment_id)
    if saved is None:
        raise InvalidArgument("`segment.savedSegmentId` names no saved segment")
    return survey_scores.Audience(saved_segment=(saved.customer, saved.id))


async def _score(info: Info, kind: str, first_day: dt.date, last_day: dt.date, segment, survey_id) -> InsightsSurveyScore:
    info.context.require(READ)
    if last_day < first_day:
        raise InvalidArgument("`to` must not be before `from`")
    if (last_day - first_day).days >= MAX_PERIOD_DAYS:
        raise InvalidArgument(f"a period is at most {MAX_PERIOD_DAYS} days")
    survey = parse_global_id(survey_id, "InsightsSurvey", "surveyId") if survey_id is not None else None
    runtime = info.context.runtime
    period = kpis.Period.of(first_day, last_day, runtime.settings.zone)
    async with runtime.read_session() as session:
        audience = await _audience(session, segment)
        found = await survey_scores.answers(session, kind, period, audience, survey)
    return InsightsSurveyScore(
        first_day=first_day,
        last_day=last_day,
        _answers=found,
        _period=period,
        **_fields(survey_scores.figures(kind, [score for _, score in found])),
    )


FROM = Annotated[dt.date, strawberry.argument(name="from", description="The first day counted.")]
TO = Annotated[dt.date, strawberry.argument(description="The last day counted.")]


@strawberry.type
class InsightsSurveyQuery:
    @strawberry.field(description="Every survey, by name.")
    async def surveys(self, info: Info) -> list[InsightsSurveyType]:
        info.context.require(READ)
        rows = await info.context.scalars(select(SurveyRow).order_by(SurveyRow.name))
        return [InsightsSurveyType.from_row(row) for row in rows]

    @strawberry.field(description="Net Promoter Score of the answers given from `from` to `to`, optionally one segment's.")
    async def nps_score(
        self,
        info: Info,
        from_: FROM,
        to: TO,
        segment: InsightsAudienceInput | None = None,
        survey_id: strawberry.ID | None = None,
    ) -> InsightsSurveyScore:
        return await _score(info, "nps", from_, to, segment, survey_id)

    @strawberry.field(description="CSAT (% satisfied: 4-5 of 5) of the answers given from `from` to `to`, support's included.")
    async def csat_score(
        self,
        info: Info,
        from_: FROM,
        to: TO,
        segment: InsightsAudienceInput | None = None,
        survey_id: strawberry.ID | None = None,
    ) -> InsightsSurveyScore:
        return await _score(info, "csat", from_, to, segment, survey_id)

    @strawberry.field(description="Customer Effort Score (the mean of 1-7) of the answers given from `from` to `to`.")
    async def ces_score(
        self,
        info: Info,
        from_: FROM,
        to: TO,
        segment: InsightsAudienceInput | None = None,
        survey_id: strawberry.ID | None = None,
    ) -> InsightsSurveyScore:
        return await _score(info, "ces", from_, to, segment, survey_id)


@strawberry.input
class CreateSurveyInput:
    name: str
    kind: InsightsSurveyKind
    question_ja: str
    question_en: str


@strawberry.type
class CreateSurveyPayload:
    survey: InsightsSurveyType | None
    user_errors: list[UserErrorType]


@strawberry.input
class SendSurveyInput:
    contact_id: strawberry.ID
    survey_id: strawberry.ID


@strawberry.type
class SendSurveyPayload:
    sent: bool
    expires_at: dt.datetime | None = strawberry.field(description="Until when the mailed link can be answered.")
    user_errors: list[UserErrorType]


@strawberry.input
class AnswerSurveyInput:
    token: str
    score: int
    comment: str | None = None


@strawberry.type
class AnswerSurveyPayload:
    accepted: bool
    user_errors: list[UserErrorType]


@strawberry.type
class InsightsSurveyMutation:
    @strawberry.mutation(description="A survey: its name, scale and question in Japanese and English.")
    async def create_survey(self, info: Info, input: CreateSurveyInput) -> CreateSurveyPayload:
        values = input_values(input)
        values["kind"] = input.kind.value
        row, errors = await run_mutation(info, WRITE, lambda uow: surveys.create_survey(uow, values))
        return CreateSurveyPayload(survey=InsightsSurveyType.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Mail a contact a single-use link to a survey (consent `surveys` where the privacy plugin is "
        "installed; one survey per contact per `insights_survey_min_days_between`)."
    )
    async def send_survey(self, info: Info, input: SendSurveyInput) -> SendSurveyPayload:
        async def work(uow):
            contact_id = parse_global_id(input.contact_id, "Contact", "contactId")
            survey_id = parse_global_id(input.survey_id, "InsightsSurvey", "surveyId")
            return await surveys.send_survey(uow, contact_id, survey_id)

        row, errors = await run_mutation(info, WRITE, work)
        return SendSurveyPayload(sent=row is not None, expires_at=row.expires_at if row else None, user_errors=errors)

    @strawberry.mutation(
        metadata=PUBLIC_FIELD,
        description="Answer a survey with its link's token (also at POST /insights/surveys/{token}); no sign-in.",
    )
    async def answer_survey(self, info: Info, input: AnswerSurveyInput) -> AnswerSurveyPayload:
        row, errors = await run_mutation(
            info, PUBLIC_PERMISSION, lambda uow: surveys.answer_survey(uow, input.token, input.score, input.comment)
        )
        return AnswerSurveyPayload(accepted=row is not None, user_errors=errors)

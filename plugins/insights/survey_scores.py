"""The one place survey answers become figures: NPS, CSAT and CES over a period, optionally for one
segment, with a 95 % confidence interval and a monthly trend. Every answer counts, whoever asked
(this plugin's surveys, support's CSAT through `survey.answered`), including anonymous ones whose
person was erased (they match no segment). The definitions are in the plugin's README."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from enishi.plugin import ContactAccount, CustomerSignal

from .health_models import InsightsSegmentMember
from .kpis import Period, add_months
from .models import InsightsRfm
from .survey_models import InsightsSurveyAnswer

Z_95 = 1.959964  # the standard normal's 97.5th percentile: a two-sided 95 % interval
BOUNDS = {"nps": (-100.0, 100.0), "csat": (0.0, 100.0), "ces": (1.0, 7.0)}


@dataclass(frozen=True)
class Audience:
    """Whose answers count: everyone, the contacts of one RFM segment (as scored now), or the
    members of a saved segment as of its last evaluation (an account segment: the contacts of its
    accounts)."""

    rfm_segment: str | None = None
    saved_segment: tuple[str, uuid.UUID] | None = None  # (its customer kind, its id)


@dataclass(frozen=True)
class Figures:
    kind: str
    responses: int
    score: float | None  # NPS −100..100, CSAT % satisfied, CES mean; None without answers
    low: float | None  # the 95 % interval, clipped to the scale; None without enough answers
    high: float | None
    promoters: int | None = None  # NPS: 9-10
    passives: int | None = None  # NPS: 7-8
    detractors: int | None = None  # NPS: 0-6
    satisfied: int | None = None  # CSAT: 4-5


def _interval(kind: str, centre: float, half_width: float) -> tuple[float, float]:
    low, high = BOUNDS[kind]
    return round(max(low, centre - half_width), 1), round(min(high, centre + half_width), 1)


def figures(kind: str, scores: list[int]) -> Figures:
    """NPS: % promoters − % detractors, its standard error from the variance of the per-answer
    values +1 / 0 / −1 (p + d − (p − d)²). CSAT: % answering 4-5, a Wald interval for a
    proportion. CES: the mean, ± z · sample standard deviation ÷ √n."""
    n = len(scores)
    if n == 0:
        nps, csat = (0 if kind == "nps" else None), (0 if kind == "csat" else None)
        return Figures(kind, 0, None, None, None, promoters=nps, passives=nps, detractors=nps, satisfied=csat)
    if kind == "nps":
        promoters, detractors = sum(1 for s in scores if s >= 9), sum(1 for s in scores if s <= 6)
        p, d = promoters / n, detractors / n
        score = 100 * (promoters - detractors) / n
        half = Z_95 * 100 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n)
        return Figures(kind, n, round(score, 1), *_interval(kind, score, half), promoters, n - promoters - detractors, detractors)
    if kind == "csat":
        satisfied = sum(1 for s in scores if s >= 4)
        share = satisfied / n
        half = Z_95 * 100 * math.sqrt(share * (1 - share) / n)
        return Figures(kind, n, round(100 * share, 1), *_interval(kind, 100 * share, half), satisfied=satisfied)
    mean = sum(scores) / n
    if n < 2:
        return Figures(kind, n, round(mean, 2), None, None)
    deviation = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    return Figures(kind, n, round(mean, 2), *_interval(kind, mean, Z_95 * deviation / math.sqrt(n)))


async def answers(
    session, kind: str, period: Period, audience: Audience, survey_id: uuid.UUID | None
) -> list[tuple[dt.datetime, int]]:
    """(instant, score) of the kind's answers in the period."""
    statement = select(InsightsSurveyAnswer.answered_at, InsightsSurveyAnswer.score).where(
        InsightsSurveyAnswer.kind == kind,
        InsightsSurveyAnswer.status == "answered",
        InsightsSurveyAnswer.answered_at >= period.start,
        InsightsSurveyAnswer.answered_at < period.end,
    )
    if survey_id is not None:
        statement = statement.where(InsightsSurveyAnswer.survey_id == survey_id)
    if audience.rfm_segment is not None:
        statement = statement.where(
            InsightsSurveyAnswer.contact_id.in_(select(InsightsRfm.contact_id).where(InsightsRfm.segment == audience.rfm_segment))
        )
    if audience.saved_segment is not None:
        kind, segment_id = audience.saved_segment
        members = select(InsightsSegmentMember.contact_id).where(InsightsSegmentMember.segment_id == segment_id)
        if kind == "account":
            members = select(ContactAccount.contact_id).where(
                ContactAccount.account_id.in_(
                    select(InsightsSegmentMember.account_id).where(InsightsSegmentMember.segment_id == segment_id)
                )
            )
        statement = statement.where(InsightsSurveyAnswer.contact_id.in_(members))
    return [(when, score) for when, score in (await session.execute(statement)).all()]


def monthly(kind: str, found: list[tuple[dt.datetime, int]], period: Period, zone) -> list[tuple[dt.date, Figures]]:
    """Figures per calendar month in `zone`, every month the period touches, months without an
    answer included (0 responses, no score)."""
    by_month: dict[dt.date, list[int]] = defaultdict(list)
    for when, score in found:
        by_month[when.astimezone(zone).date().replace(day=1)].append(score)
    month, last = period.first_day.replace(day=1), period.last_day.replace(day=1)
    series = []
    while month <= last:
        series.append((month, figures(kind, by_month.get(month, []))))
        month = add_months(month, 1)
    return series


async def latest_nps(session, kind: str, customer_ids, now: dt.datetime) -> list[CustomerSignal]:
    """The health scores' `survey.nps` signal: each contact's latest NPS answer (answers are a
    person's, so accounts get none), support-reported and this plugin's alike; of every contact
    with one when `customer_ids` is None."""
    if kind != "contact":
        return []
    rows = await session.execute(
        select(InsightsSurveyAnswer.contact_id, InsightsSurveyAnswer.score, InsightsSurveyAnswer.answered_at)
        .where(
            InsightsSurveyAnswer.contact_id.is_not(None)
            if customer_ids is None
            else InsightsSurveyAnswer.contact_id.in_(list(customer_ids)),
            InsightsSurveyAnswer.kind == "nps",
            InsightsSurveyAnswer.status == "answered",
            InsightsSurveyAnswer.answered_at <= now,
        )
        .order_by(InsightsSurveyAnswer.answered_at)
    )
    latest = {contact_id: (score, at) for contact_id, score, at in rows}  # ascending: the last answer wins
    return [CustomerSignal(contact_id, "survey.nps", score, at) for contact_id, (score, at) in latest.items()]

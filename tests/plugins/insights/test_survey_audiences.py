"""A saved segment as the audience of the survey figures, and the survey scores as chart series
(`insightsSeries` NPS, CSAT, CES): per period in Asia/Tokyo, every period present."""

import datetime as dt
import uuid

from enishi.plugin import to_global_id
from tests.plugins.insights.test_charts import _series
from tests.plugins.insights.test_surveys import FIGURES, SCORE, answered, scores, survey

JST = dt.timezone(dt.timedelta(hours=9))


async def _answers_over_three_months(api, sent_mail, prefix: str) -> None:
    """NPS 0 in January; 10 and 9 in March (nobody in February). Each test its own people: the
    mail folder keeps every test's links."""
    nps = await survey(api, "NPS")
    api.clock.set(dt.datetime(2025, 1, 15, 12, tzinfo=JST))
    await answered(api, sent_mail, nps, f"{prefix}-january", 0)
    api.clock.set(dt.datetime(2025, 3, 10, 12, tzinfo=JST))
    await answered(api, sent_mail, nps, f"{prefix}-march1", 10)
    await answered(api, sent_mail, nps, f"{prefix}-march2", 9)


async def test_a_saved_segment_is_the_audience_of_the_survey_figures(api, enishi_sent_mail):
    await _answers_over_three_months(api, enishi_sent_mail, "audience")
    # In touch within 30 days (an answer is a timeline activity): the two March answerers.
    created = await api.mutate(
        "createSegment",
        {"name": "最近の回答者", "customer": "CONTACT", "filter": {"not": {"inactiveDays": 30}}},
        "segment { id } entered",
        role="marketing",
    )
    assert created["userErrors"] == [] and created["entered"] == 2
    segment_id = created["segment"]["id"]
    everyone = await scores(api, "npsScore", "2025-01-01", "2025-03-31")
    assert (everyone["score"], everyone["responses"]) == (33.3, 3)
    recent = await scores(api, "npsScore", "2025-01-01", "2025-03-31", {"savedSegmentId": segment_id})
    assert (recent["score"], recent["responses"], recent["promoters"], recent["detractors"]) == (100.0, 2, 2, 0)
    assert [point["responses"] for point in recent["trend"]] == [0, 0, 2]
    csat = await scores(api, "csatScore", "2025-01-01", "2025-03-31", {"savedSegmentId": segment_id})
    assert (csat["score"], csat["responses"]) == (None, 0)
    for segment in (
        {"savedSegmentId": segment_id, "rfmSegment": "Lost"},
        {"savedSegmentId": to_global_id("InsightsSegment", uuid.uuid4())},
    ):
        errors = await api.errors(SCORE % ("npsScore", FIGURES), {"from": "2025-01-01", "to": "2025-03-31", "segment": segment})
        assert [e["extensions"]["code"] for e in errors] == ["INVALID_ARGUMENT"], segment


async def test_nps_series_per_month_and_week_zero_filled_in_tokyo_time(api, enishi_sent_mail):
    await _answers_over_three_months(api, enishi_sent_mail, "series")
    assert await _series(api, "NPS", "2024-12-20", "2025-03-31", "MONTH") == [
        ("2024-12", "2024-12-20", "2024-12-31", None),
        ("2025-01", "2025-01-01", "2025-01-31", -100.0),
        ("2025-02", "2025-02-01", "2025-02-28", None),
        ("2025-03", "2025-03-01", "2025-03-31", 100.0),
    ]
    weeks = await _series(api, "NPS", "2025-03-03", "2025-03-16", "WEEK")
    assert weeks == [("2025-W10", "2025-03-03", "2025-03-09", None), ("2025-W11", "2025-03-10", "2025-03-16", 100.0)]
    assert (await _series(api, "CES", "2025-03-01", "2025-03-31", "MONTH"))[0][3] is None  # no CES answers

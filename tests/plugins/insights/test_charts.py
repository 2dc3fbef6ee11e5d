"""`insightsSeries`: KPIs, the churn-risk band and the RFM segment distributions per day, week or
month in Asia/Tokyo, every period present (zero-filled)."""

import datetime as dt

from enishi.worker import run_due_jobs
from tests.helpers import create_contact
from tests.plugins.insights.helpers import customer

JST = dt.timezone(dt.timedelta(hours=9))


async def _series(api, metric: str, first: str, last: str, interval: str) -> list[tuple]:
    data = await api.graphql(
        "query($m: InsightsMetric!, $f: Date!, $l: Date!, $i: InsightsInterval!) "
        "{ insightsSeries(metric: $m, firstDay: $f, lastDay: $l, interval: $i) { label firstDay lastDay value } }",
        {"m": metric, "f": first, "l": last, "i": interval},
    )
    return [(p["label"], p["firstDay"], p["lastDay"], p["value"]) for p in data["insightsSeries"]]


async def test_revenue_per_month_is_zero_filled_and_cut_in_tokyo_time(api):
    api.clock.set(dt.datetime(2025, 4, 10, tzinfo=JST))
    buyer = (await create_contact(api, familyName="購入者"))["id"]
    for when, amount in (
        (dt.datetime(2025, 1, 10, 12, 0, tzinfo=JST), 1000),
        (dt.datetime(2025, 2, 1, 0, 30, tzinfo=JST), 3000),  # 31 January in UTC: February in Tokyo
        (dt.datetime(2025, 3, 31, 23, 59, tzinfo=JST), 500),
    ):
        payload = await api.mutate(
            "createPurchase", {"contactId": buyer, "amount": amount, "purchasedAt": when.isoformat()}, "purchase { id }"
        )
        assert payload["userErrors"] == []
    assert await _series(api, "REVENUE", "2024-12-15", "2025-03-31", "MONTH") == [
        ("2024-12", "2024-12-15", "2024-12-31", 0.0),
        ("2025-01", "2025-01-01", "2025-01-31", 1000.0),
        ("2025-02", "2025-02-01", "2025-02-28", 3000.0),
        ("2025-03", "2025-03-01", "2025-03-31", 500.0),
    ]
    weeks = await _series(api, "ORDERS", "2025-01-27", "2025-02-09", "WEEK")
    assert weeks == [("2025-W05", "2025-01-27", "2025-02-02", 1.0), ("2025-W06", "2025-02-03", "2025-02-09", 0.0)]
    rates = await _series(api, "CHURN_RATE", "2024-12-01", "2024-12-02", "DAY")
    assert rates == [("2024-12-01", "2024-12-01", "2024-12-01", None), ("2024-12-02", "2024-12-02", "2024-12-02", None)]


async def test_band_distribution_per_day_from_the_daily_health_job(api):
    api.clock.set(dt.datetime(2025, 6, 1, 12, 0, tzinfo=JST))
    await customer(api, "常連", [(2 + 10 * n, 3000) for n in range(5)])
    await customer(api, "離脱", [(60 + 10 * n, 3000) for n in range(5)])
    await run_due_jobs(api.runtime)
    api.clock.set(dt.datetime(2025, 6, 3, 12, 0, tzinfo=JST))  # the job did not run on the 2nd
    await customer(api, "遅延", [(16 + 10 * n, 3000) for n in range(5)])  # (1.6 − 1.5) ÷ 2: low but not zero
    await customer(api, "休眠", [(80 + 10 * n, 3000) for n in range(5)])
    await run_due_jobs(api.runtime)
    assert await _series(api, "HEALTH_MEDIUM", "2025-05-31", "2025-06-03", "DAY") == [
        ("2025-05-31", "2025-05-31", "2025-05-31", 0.0),
        ("2025-06-01", "2025-06-01", "2025-06-01", 1.0),
        ("2025-06-02", "2025-06-02", "2025-06-02", 1.0),  # carried forward
        ("2025-06-03", "2025-06-03", "2025-06-03", 2.0),
    ]
    assert await _series(api, "HEALTH_LOW", "2025-06-01", "2025-06-03", "MONTH") == [("2025-06", "2025-06-01", "2025-06-03", 2.0)]
    assert await _series(api, "HEALTH_HIGH", "2025-06-02", "2025-06-03", "WEEK") == [
        ("2025-W23", "2025-06-02", "2025-06-03", 0.0)
    ]


async def _rfm_segment_series(api, name: str, first: str, last: str, interval: str) -> list[tuple]:
    data = await api.graphql(
        "query($s: String!, $f: Date!, $l: Date!, $i: InsightsInterval!) { insightsSeries(metric: RFM_SEGMENT, "
        "rfmSegment: $s, firstDay: $f, lastDay: $l, interval: $i) { label firstDay lastDay value } }",
        {"s": name, "f": first, "l": last, "i": interval},
    )
    return [(p["label"], p["firstDay"], p["lastDay"], p["value"]) for p in data["insightsSeries"]]


async def test_rfm_segment_distribution_per_day_from_the_daily_rfm_job(api):
    # 08:00 on 1 June in Tokyo is still 31 May in UTC: the job records Tokyo's day.
    api.clock.set(dt.datetime(2025, 6, 1, 8, 0, tzinfo=JST))
    await customer(api, "常連", [(1 + n, 5000) for n in range(5)])
    await customer(api, "新規", [(2, 1000)])
    await run_due_jobs(api.runtime)  # N = 2: the regular 333 Loyal, the newcomer 111 Lost
    api.clock.set(dt.datetime(2025, 6, 3, 12, 0, tzinfo=JST))  # the job did not run on the 2nd
    await customer(api, "初回", [(1, 500)])
    await run_due_jobs(api.runtime)  # N = 3: the regular 244 Can't lose, 112 Lost, the newest 411 New
    ranked = (await api.graphql("{ rfmSegments { segment customers } }"))["rfmSegments"]
    assert {r["segment"]: r["customers"] for r in ranked if r["customers"]} == {"New": 1, "Can't lose": 1, "Lost": 1}
    assert await _rfm_segment_series(api, "Loyal", "2025-05-31", "2025-06-03", "DAY") == [
        ("2025-05-31", "2025-05-31", "2025-05-31", 0.0),  # before the first run
        ("2025-06-01", "2025-06-01", "2025-06-01", 1.0),
        ("2025-06-02", "2025-06-02", "2025-06-02", 1.0),  # carried forward
        ("2025-06-03", "2025-06-03", "2025-06-03", 0.0),  # emptied: recorded as 0, not carried
    ]
    assert await _rfm_segment_series(api, "New", "2025-05-26", "2025-06-08", "WEEK") == [
        ("2025-W22", "2025-05-26", "2025-06-01", 0.0),
        ("2025-W23", "2025-06-02", "2025-06-08", 1.0),
    ]
    assert await _rfm_segment_series(api, "Lost", "2025-05-01", "2025-06-30", "MONTH") == [
        ("2025-05", "2025-05-01", "2025-05-31", 0.0),
        ("2025-06", "2025-06-01", "2025-06-30", 1.0),
    ]
    accounts = await api.graphql(
        '{ insightsSeries(metric: RFM_SEGMENT, rfmSegment: "Lost", firstDay: "2025-06-03", lastDay: "2025-06-03", '
        "interval: DAY, customer: ACCOUNT) { value } }"
    )
    assert accounts["insightsSeries"] == [{"value": 0.0}]  # contacts without an account: no account scored
    for query in (
        '{ insightsSeries(metric: RFM_SEGMENT, firstDay: "2025-06-01", lastDay: "2025-06-03") { value } }',
        '{ insightsSeries(metric: REVENUE, rfmSegment: "Lost", firstDay: "2025-06-01", lastDay: "2025-06-03") { value } }',
    ):
        assert [e["extensions"]["code"] for e in await api.errors(query)] == ["INVALID_ARGUMENT"]


async def test_ranges_are_bounded(api):
    for first, last, interval in (("2025-02-01", "2025-01-01", "DAY"), ("2020-01-01", "2025-01-01", "DAY")):
        errors = await api.errors(
            f'{{ insightsSeries(metric: REVENUE, firstDay: "{first}", lastDay: "{last}", interval: {interval}) {{ value }} }}'
        )
        assert [e["extensions"]["code"] for e in errors] == ["INVALID_ARGUMENT"]

"""`insightsSeries`: KPIs, the churn-risk band and the RFM segment distributions per day, week or
month in Asia/Tokyo, every period present (zero-filled)."""

import datetime as dt

from sqlalchemy import event

from enishi.worker import run_due_jobs
from tests.helpers import create_contact
from tests.plugins.insights.helpers import buy, customer

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


SALES = "revenue orders averageOrderValue"


async def _sales_kpis(api, first: str, last: str) -> tuple:
    data = await api.graphql(
        f"query($f: Date!, $l: Date!) {{ customerKpis(firstDay: $f, lastDay: $l) {{ {SALES} }} }}", {"f": first, "l": last}
    )
    values = data["customerKpis"]
    return tuple(None if value is None else float(value) for value in values.values())


async def test_sales_series_equal_each_periods_kpis_across_refunds_currencies_empty_days_and_tokyo_midnight(api):
    """Revenue, orders and the average order value per day and per week are read in one grouped
    statement; each point is still exactly the customerKpis of its period."""
    api.clock.set(dt.datetime(2025, 6, 20, tzinfo=JST))
    buyer = (await create_contact(api, familyName="購入者"))["id"]
    for when, amount, currency in (
        (dt.datetime(2025, 6, 1, 10, 0, tzinfo=JST), 1000, "JPY"),
        (dt.datetime(2025, 6, 1, 23, 59, 59, 999999, tzinfo=JST), 201, "JPY"),  # the last instant of 1 June in Tokyo
        (dt.datetime(2025, 6, 2, 0, 0, tzinfo=JST), 300, "JPY"),  # Tokyo's midnight: 1 June 15:00 in UTC
        (dt.datetime(2025, 6, 4, 12, 0, tzinfo=JST), 700, "USD"),  # another currency: not counted
        (dt.datetime(2025, 6, 4, 12, 0, tzinfo=JST), 400, "JPY"),
        (dt.datetime(2025, 6, 5, 8, 59, 59, tzinfo=JST), 900, "JPY"),  # still 4 June in UTC
    ):
        await buy(api, buyer, amount, purchasedAt=when.isoformat(), currency=currency)
    refunded = await buy(api, buyer, 5000, purchasedAt=dt.datetime(2025, 6, 2, 9, tzinfo=JST).isoformat())
    payload = await api.mutate("createPurchaseRefund", {"purchaseId": refunded}, "userErrors { code }")
    assert payload["userErrors"] == []
    days = {metric: await _series(api, metric, "2025-05-31", "2025-06-05", "DAY") for metric in SALES_METRICS}
    assert [value for *_, value in days["REVENUE"]] == [0.0, 1201.0, 300.0, 0.0, 400.0, 900.0]
    assert [value for *_, value in days["AVERAGE_ORDER_VALUE"]] == [None, 600.0, 300.0, None, 400.0, 900.0]
    for index, (label, *_) in enumerate(days["REVENUE"]):
        kpis = await _sales_kpis(api, label, label)
        assert tuple(days[metric][index][3] for metric in SALES_METRICS) == kpis, label
    weeks = {metric: await _series(api, metric, "2025-05-28", "2025-06-04", "WEEK") for metric in SALES_METRICS}
    for index, (_, first, last, _) in enumerate(weeks["REVENUE"]):
        assert tuple(weeks[metric][index][3] for metric in SALES_METRICS) == await _sales_kpis(api, first, last), first


SALES_METRICS = ("REVENUE", "ORDERS", "AVERAGE_ORDER_VALUE")


async def test_sales_per_day_follow_local_midnights_across_summer_time(enishi_api):
    """In a zone with summer time a day lasts 23 or 25 hours: each purchase still falls on its
    local day (Berlin: summer time from 30 March 2025, standard time again from 26 October)."""
    api = await enishi_api(timezone="Europe/Berlin")
    api.clock.set(dt.datetime(2025, 11, 1, tzinfo=dt.UTC))
    buyer = (await create_contact(api, familyName="購入者"))["id"]
    summer, winter = dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=1))
    for when, amount in (
        (dt.datetime(2025, 3, 30, 0, 30, tzinfo=winter), 100),
        (dt.datetime(2025, 3, 30, 23, 59, tzinfo=summer), 200),  # the 23-hour day's last minute
        (dt.datetime(2025, 3, 31, 0, 0, tzinfo=summer), 400),
        (dt.datetime(2025, 10, 26, 23, 59, tzinfo=winter), 800),  # the 25-hour day's last minute
        (dt.datetime(2025, 10, 27, 0, 0, tzinfo=winter), 1600),
    ):
        await buy(api, buyer, amount, purchasedAt=when.isoformat())
    for first, last, revenue in (("2025-03-30", "2025-03-31", [300.0, 400.0]), ("2025-10-26", "2025-10-27", [800.0, 1600.0])):
        days = await _series(api, "REVENUE", first, last, "DAY")
        assert [value for *_, value in days] == revenue
        assert [(await _sales_kpis(api, label, label))[0] for label, *_ in days] == revenue


async def test_a_sales_series_costs_the_same_statements_whatever_its_number_of_points(api):
    """One grouped statement reads every point (it was a full KPI computation per point)."""
    api.clock.set(dt.datetime(2025, 8, 1, tzinfo=JST))
    await customer(api, "購入者", [(days, 1000) for days in (3, 20, 45)])
    sent = 0

    def count(*_) -> None:
        nonlocal sent
        sent += 1

    counts = []
    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        for last in ("2025-07-02", "2025-07-31"):
            sent = 0
            assert len(await _series(api, "REVENUE", "2025-07-01", last, "DAY")) in (2, 31)
            counts.append(sent)
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", count)
    assert counts[0] == counts[1], counts


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

"""Forecast and metrics (issue example 2), stage conversion and quota attainment."""

import datetime as dt
import zoneinfo

from tests.helpers import create_account
from tests.plugins.sales.helpers import deal, on_team, pipeline, staff, user_id

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
FORECAST = """query($owner: ID) { salesForecast(period: MONTH, from: "2025-02-01", to: "2025-04-30", ownerId: $owner) {
  label start end closedWon committed bestCase pipeline weighted } }"""
METRICS = """query($p: ID) { salesMetrics(from: "2025-01-01", to: "2025-03-31", pipelineId: $p) {
  wonCount lostCount winRatePercent averageDealSize salesCycleMedianDays salesCycleMeanDays
  stageConversion { stage { name } reached convertedPercent }
  quotaAttainment { period periodStart quota won attainmentPercent owner { id } } } }"""


async def test_issue_example_2_weighted_pipeline_cycle_and_win_rate(api):
    created = await pipeline(api)  # リード 10 %, 提案 60 %, 交渉 90 %, 受注, 失注
    account = await create_account(api)
    api.clock.set(dt.datetime(2025, 1, 10, 10, tzinfo=TOKYO))
    big = await deal(api, created["id"], account["id"], amount=1_000_000, expectedCloseDate="2025-03-25")
    small = await deal(api, created["id"], account["id"], amount=500_000, expectedCloseDate="2025-03-15", probability=20)
    await api.mutate("moveDealStage", {"id": big["id"], "stageId": created["stages"]["提案"]}, "deal { probability }")
    march = (await api.graphql(FORECAST))["salesForecast"]
    assert [p["label"] for p in march] == ["2025-02", "2025-03", "2025-04"]
    assert march[1] == {
        "label": "2025-03",
        "start": "2025-03-01",
        "end": "2025-03-31",
        "closedWon": 0,
        "committed": 0,
        "bestCase": 0,
        "pipeline": 1_500_000,
        "weighted": 700_000,  # 1,000,000 × 60 % + 500,000 × 20 %
    }
    assert march[0]["pipeline"] == march[2]["pipeline"] == 0

    api.clock.set(dt.datetime(2025, 3, 20, 15, tzinfo=TOKYO))
    await api.mutate("markDealWon", {"id": big["id"], "closeDate": "2025-03-20"}, "deal { id }")
    await api.mutate("markDealLost", {"id": small["id"], "closeDate": "2025-03-21", "reason": "price"}, "deal { id }")
    metrics = (await api.graphql(METRICS, {"p": created["id"]}))["salesMetrics"]
    assert (metrics["wonCount"], metrics["lostCount"], metrics["winRatePercent"]) == (1, 1, 50)
    assert metrics["averageDealSize"] == 1_000_000
    assert metrics["salesCycleMedianDays"] == metrics["salesCycleMeanDays"] == 69  # 2025-01-10 → 2025-03-20
    assert metrics["stageConversion"] == [
        {"stage": {"name": "リード"}, "reached": 2, "convertedPercent": 50},
        {"stage": {"name": "提案"}, "reached": 1, "convertedPercent": 100},
        {"stage": {"name": "交渉"}, "reached": 1, "convertedPercent": 100},
    ]
    after = (await api.graphql(FORECAST))["salesForecast"][1]
    assert (after["closedWon"], after["pipeline"], after["weighted"]) == (1_000_000, 0, 0)


async def test_committed_best_case_and_quota_attainment(api):
    created = await pipeline(api)
    account = await create_account(api)
    manager = await user_id(api, "manager")
    await deal(api, created["id"], account["id"], amount=300_000, expectedCloseDate="2025-03-01", probability=90)
    await deal(api, created["id"], account["id"], amount=200_000, expectedCloseDate="2025-03-02", forecastCategory="commit")
    await deal(api, created["id"], account["id"], amount=100_000, expectedCloseDate="2025-03-03", forecastCategory="best_case")
    await deal(api, created["id"], account["id"], amount=50_000, expectedCloseDate="2025-03-04", forecastCategory="omitted")
    won = await deal(api, created["id"], account["id"], amount=400_000)
    await api.mutate("markDealWon", {"id": won["id"], "closeDate": "2025-02-14"}, "deal { id }")
    march = (await api.graphql(FORECAST, {"owner": manager}))["salesForecast"]
    assert {k: march[1][k] for k in ("committed", "bestCase", "pipeline")} == {
        "committed": 500_000,
        "bestCase": 600_000,
        "pipeline": 600_000,
    }
    assert march[0]["closedWon"] == 400_000
    quota = await api.mutate(
        "setSalesQuota",
        {"ownerId": manager, "period": "QUARTER", "periodStart": "2025-01-01", "amount": 1_000_000},
        "quota { quota }",
    )
    assert quota["userErrors"] == []
    bad = await api.mutate(
        "setSalesQuota", {"ownerId": manager, "period": "QUARTER", "periodStart": "2025-02-01", "amount": 1}, "quota { quota }"
    )
    assert bad["userErrors"][0]["code"] == "NOT_PERIOD_START"
    refused = (
        await api.post(
            "mutation($i: SetSalesQuotaInput!) { setSalesQuota(input: $i) { __typename } }",
            {"i": {"ownerId": manager, "period": "MONTH", "periodStart": "2025-01-01", "amount": 1}},
            role="sales",
        )
    ).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    attainment = (await api.graphql(METRICS))["salesMetrics"]["quotaAttainment"]
    assert attainment == [
        {
            "period": "quarter",
            "periodStart": "2025-01-01",
            "quota": 1_000_000,
            "won": 400_000,
            "attainmentPercent": 40,
            "owner": {"id": manager},
        }
    ]
    quarters = await api.graphql('{ salesForecast(period: QUARTER, from: "2025-01-01", to: "2025-06-30") { label closedWon } }')
    assert quarters["salesForecast"] == [{"label": "2025-Q1", "closedWon": 400_000}, {"label": "2025-Q2", "closedWon": 0}]
    longest = await api.graphql('{ salesForecast(period: MONTH, from: "2025-01-01", to: "2035-01-09") { label } }')
    labels = [p["label"] for p in longest["salesForecast"]]  # 3,660 days, the longest range: every month of it
    assert (len(labels), labels[0], labels[-1]) == (121, "2025-01", "2035-01")


BY_OWNER = """query($owner: ID) { salesForecast(period: MONTH, from: "2025-02-01", to: "2025-04-30", ownerId: $owner) {
  label pipeline weighted closedWon byOwner { owner { id } closedWon committed bestCase pipeline weighted } } }"""


async def test_the_forecast_breaks_each_period_down_per_owner(api):
    created = await pipeline(api)
    account = await create_account(api)
    sato, sato_token = await staff(api, "営業 佐藤")
    suzuki, _ = await staff(api, "営業 鈴木")
    await on_team(api, account["id"], user=sato)
    other = await create_account(api, name="他社")
    await deal(api, created["id"], account["id"], amount=1_000_000, probability=60, expectedCloseDate="2025-03-10", ownerId=sato)
    await deal(api, created["id"], other["id"], amount=500_000, probability=20, expectedCloseDate="2025-03-20", ownerId=suzuki)
    await deal(api, created["id"], account["id"], amount=300_000, probability=95, expectedCloseDate="2025-04-05", ownerId=None)
    won = await deal(api, created["id"], account["id"], amount=400_000, ownerId=sato)
    await api.mutate("markDealWon", {"id": won["id"], "closeDate": "2025-02-14"}, "deal { id }")

    def line(owner, closed_won=0, committed=0, best_case=0, pipeline=0, weighted=0) -> dict:
        figures = {"closedWon": closed_won, "committed": committed, "bestCase": best_case, "pipeline": pipeline}
        return {"owner": {"id": owner} if owner else None, **figures, "weighted": weighted}

    periods = (await api.graphql(BY_OWNER))["salesForecast"]
    # Every owner in every period, zeros where they have nothing: one series each; by name, unowned last.
    assert {p["label"]: p["byOwner"] for p in periods} == {
        "2025-02": [line(sato, closed_won=400_000), line(suzuki), line(None)],
        "2025-03": [
            line(sato, pipeline=1_000_000, weighted=600_000),
            line(suzuki, pipeline=500_000, weighted=100_000),
            line(None),
        ],
        "2025-04": [
            line(sato),
            line(suzuki),
            line(None, committed=300_000, best_case=300_000, pipeline=300_000, weighted=285_000),
        ],
    }
    assert [(p["pipeline"], p["weighted"], p["closedWon"]) for p in periods] == [
        (0, 0, 400_000),
        (1_500_000, 700_000, 0),
        (300_000, 285_000, 0),
    ]
    one = (await api.graphql(BY_OWNER, {"owner": suzuki}))["salesForecast"]
    assert [p["byOwner"] for p in one] == [[line(suzuki)], [line(suzuki, pipeline=500_000, weighted=100_000)], [line(suzuki)]]
    # A rep's forecast holds only the deals of their team's accounts, whoever owns them.
    theirs = (await api.graphql(BY_OWNER, token=sato_token))["salesForecast"]
    assert [[o["owner"] and o["owner"]["id"] for o in p["byOwner"]] for p in theirs] == [[sato, None]] * 3


SERIES = """query { salesMetrics(from: "2025-03-01", to: "2025-03-14") {
  createdCount wonCount wonAmount
  days: series(interval: DAY) { ...point }
  weeks: series(interval: WEEK) { ...point }
  months: series(interval: MONTH) { ...point } } }
fragment point on SalesMetricsPoint {
  label start end createdCount createdAmount wonCount lostCount winRatePercent wonAmount averageDealSize
  salesCycleMedianDays salesCycleMeanDays }"""


def _point(label, start, end=None, **measures) -> dict:
    empty = {
        "createdCount": 0,
        "createdAmount": 0,
        "wonCount": 0,
        "lostCount": 0,
        "winRatePercent": None,
        "wonAmount": 0,
        "averageDealSize": None,
        "salesCycleMedianDays": None,
        "salesCycleMeanDays": None,
    }
    return {"label": label, "start": start, "end": end or start, **empty, **measures}


async def test_sales_metrics_as_a_series_per_day_week_and_month_in_tokyo_with_empty_periods_filled(api):
    created = await pipeline(api)
    account = await create_account(api)
    api.clock.set(dt.datetime(2025, 3, 2, 23, 30, tzinfo=TOKYO))
    first = await deal(api, created["id"], account["id"], amount=100_000)
    # 00:30 in Tokyo is still 2 March in UTC: the deal counts on 3 March, the configured zone's day.
    api.clock.set(dt.datetime(2025, 3, 3, 0, 30, tzinfo=TOKYO))
    second = await deal(api, created["id"], account["id"], amount=200_000)
    third = await deal(api, created["id"], account["id"], amount=5_000_000_000)
    await api.mutate("markDealWon", {"id": first["id"], "closeDate": "2025-03-05"}, "deal { id }")
    await api.mutate("markDealLost", {"id": second["id"], "closeDate": "2025-03-05", "reason": "price"}, "deal { id }")
    await api.mutate("markDealWon", {"id": third["id"], "closeDate": "2025-03-12"}, "deal { id }")
    metrics = (await api.graphql(SERIES))["salesMetrics"]
    assert (metrics["createdCount"], metrics["wonCount"], metrics["wonAmount"]) == (3, 2, 5_000_100_000)

    busy = {
        "2025-03-02": {"createdCount": 1, "createdAmount": 100_000},
        "2025-03-03": {"createdCount": 2, "createdAmount": 5_000_200_000},
        "2025-03-05": {
            "wonCount": 1,
            "lostCount": 1,
            "winRatePercent": 50,
            "wonAmount": 100_000,
            "averageDealSize": 100_000,
            "salesCycleMedianDays": 3,
            "salesCycleMeanDays": 3,
        },
        "2025-03-12": {
            "wonCount": 1,
            "winRatePercent": 100,
            "wonAmount": 5_000_000_000,
            "averageDealSize": 5_000_000_000,
            "salesCycleMedianDays": 9,
            "salesCycleMeanDays": 9,
        },
    }
    days = [(dt.date(2025, 3, 1) + dt.timedelta(days=n)).isoformat() for n in range(14)]
    assert metrics["days"] == [_point(day, day, **busy.get(day, {})) for day in days]
    assert metrics["weeks"] == [
        _point("2025-W09", "2025-03-01", "2025-03-02", createdCount=1, createdAmount=100_000),  # cut to the range
        _point(
            "2025-W10",
            "2025-03-03",
            "2025-03-09",
            **busy["2025-03-03"],
            **busy["2025-03-05"],
        ),
        _point("2025-W11", "2025-03-10", "2025-03-14", **busy["2025-03-12"]),
    ]
    month = metrics["months"]
    assert [(m["label"], m["start"], m["end"], m["createdCount"], m["wonCount"], m["lostCount"]) for m in month] == [
        ("2025-03", "2025-03-01", "2025-03-14", 3, 2, 1)
    ]
    assert (month[0]["winRatePercent"], month[0]["averageDealSize"], month[0]["salesCycleMedianDays"]) == (66, 2_500_050_000, 6)

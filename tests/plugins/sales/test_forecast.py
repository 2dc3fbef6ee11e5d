"""Forecast and metrics (issue example 2), stage conversion and quota attainment."""

import datetime as dt
import zoneinfo

from tests.helpers import create_account
from tests.plugins.sales.helpers import deal, pipeline, user_id

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

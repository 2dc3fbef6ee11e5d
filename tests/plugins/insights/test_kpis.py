"""Customer KPIs (issue example 3: one-year retention 80 %, monthly churn 5 %), their definitions
in the plugin's README, cohort tables, and expansion revenue from purchases and from won deals."""

import datetime as dt

from tests.plugins.insights.helpers import customers_buying

JST = dt.timezone(dt.timedelta(hours=9))


def day(year, month, date, hour=12) -> dt.datetime:
    return dt.datetime(year, month, date, hour, tzinfo=JST)


KPIS = """query($first: Date!, $last: Date!) { customerKpis(firstDay: $first, lastDay: $last) {
    customersAtStart customersAtEnd newCustomers lostCustomers churnRate retentionRate revenue orders purchasers
    repeatPurchaseRate arpu averageOrderValue revenueChurnRate ltv acquisitionSpend cac cacPaybackMonths
    expansionRevenue expansionDealRevenue } }"""


async def test_example_three_monthly_churn_of_a_month_starting_with_200_losing_10_gaining_30_is_5_percent(enishi_api):
    api = await enishi_api(
        extra={"insights_gross_margin_percent": 40, "insights_acquisition_spend": {"2025-02": 600000, "2025-03": 310000}}
    )
    api.clock.set(day(2025, 4, 1))
    retained = [[day(2025, 1, 15), day(2025, 2, 10)]] * 190  # active on 1 Feb, bought again in February
    lost = [[day(2024, 11, 20)]] * 10  # active on 1 Feb (90 days), not by 1 March
    gained = [[day(2025, 2, 15)]] * 29 + [[day(2025, 2, 15), day(2025, 2, 20)]]  # 30 first purchases in February
    await customers_buying(api, retained + lost + gained)
    kpis = (await api.graphql(KPIS, {"first": "2025-02-01", "last": "2025-02-28"}))["customerKpis"]
    assert kpis == {
        "customersAtStart": 200,
        "customersAtEnd": 220,
        "newCustomers": 30,
        "lostCustomers": 10,
        "churnRate": 0.05,
        "retentionRate": 0.95,
        "revenue": 221000,  # 190 + 31 orders of ¥1,000
        "orders": 221,
        "purchasers": 220,
        "repeatPurchaseRate": 1 / 220,
        "arpu": 1004,  # 221,000 ÷ 220, rounded down
        "averageOrderValue": 1000,
        # Of the 200 active on 1 Feb, January's 190 × ¥1,000 came back in full; the 10 lost spent nothing in January either.
        "revenueChurnRate": 0.0,
        "ltv": 8032,  # 1,004 × 40 % ÷ 5 %
        "acquisitionSpend": 600000,  # February's, the whole month in the period
        "cac": 20000,
        "cacPaybackMonths": 20000 / (1004 * 0.4 * (365.25 / 12) / 28),
        "expansionRevenue": 190000,  # bought in February by customers active on 1 February
        "expansionDealRevenue": None,  # deals are per account
    }
    for metric, value in (("LTV", 8032), ("CAC", 20000), ("CUSTOMERS_AT_START", 200), ("ACQUISITION_SPEND", 600000)):
        series = await api.graphql(
            f'{{ insightsSeries(metric: {metric}, firstDay: "2025-02-01", lastDay: "2025-02-28") {{ label value }} }}'
        )
        assert series["insightsSeries"] == [{"label": "2025-02", "value": value}], metric


async def test_example_three_one_year_retention_of_a_january_cohort_is_80_percent(api):
    api.clock.set(day(2025, 3, 1))
    back = [[day(2024, 1, 10), day(2024, 1, 10) + dt.timedelta(days=30 * n)] for n in range(1, 11)] * 8  # 80 back in 1-10 months
    never = [[day(2024, 1, 20)]] * 20
    late = [[day(2024, 2, 5), day(2025, 2, 10)]]  # February's cohort: back after 12 months and 5 days
    await customers_buying(api, back + never + late)
    data = await api.graphql(
        """{ cohortRetention(firstMonth: "2024-01-01", lastMonth: "2024-02-01", months: 12) {
            month size retainedWithin byMonth } }"""
    )
    january, february = data["cohortRetention"]
    assert (january["month"], january["size"], january["retainedWithin"]) == ("2024-01-01", 100, 0.8)
    assert january["byMonth"][:3] == [0.08, 0.08, 0.08]  # each month, the 8 who came back n×30 days later
    assert (february["size"], february["retainedWithin"]) == (1, 0.0)  # its 13th month is not within a year
    assert february["byMonth"][-1] == 1.0  # …but it is February 2025, the twelfth month after
    three_years = await api.graphql(
        '{ cohortRetention(firstMonth: "2024-01-01", lastMonth: "2024-01-01", months: 36) { retainedWithin byMonth } }'
    )
    assert three_years["cohortRetention"][0]["retainedWithin"] is None  # not known before 2027
    assert three_years["cohortRetention"][0]["byMonth"][13] is None  # March 2025 is not over


async def test_revenue_churn_counts_what_customers_active_at_the_start_spent_less(api):
    api.clock.set(day(2025, 4, 1))
    await customers_buying(api, [[day(2025, 1, 10), day(2025, 2, 10)], [day(2025, 1, 10)]], amount=1000)
    kpis = (await api.graphql(KPIS, {"first": "2025-02-01", "last": "2025-02-28"}))["customerKpis"]
    # January (the 31 days before) brought 2,000 from the two; February 1,000 from one of them.
    assert kpis["revenueChurnRate"] == 0.5 and kpis["churnRate"] == 0.0  # still active: 90 days


async def test_bad_periods_and_horizons_are_refused_with_a_typed_error(api):
    cohorts = '{ cohortRetention(firstMonth: "2024-01-01", lastMonth: "2024-01-01", months: 0) { size } }'
    for query, variables, message in (
        (KPIS, {"first": "2025-02-01", "last": "2025-01-31"}, "`lastDay` must not be before `firstDay`"),
        (KPIS, {"first": "2000-01-01", "last": "2025-01-31"}, "a period is at most 3660 days"),
        (cohorts, None, "`months` is between 1 and 120"),
    ):
        body = (await api.post(query, variables)).json()
        assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [(message, "INVALID_ARGUMENT")]


ACCOUNT_KPIS = """query($first: Date!, $last: Date!) { customerKpis(firstDay: $first, lastDay: $last, customer: ACCOUNT) {
    customersAtStart expansionRevenue expansionDealRevenue } }"""


async def test_hook_enishi_won_deals(api):
    """Expansion deals: won in the period by accounts that bought or won a deal before it (the sales plugin's)."""
    from tests.helpers import create_account
    from tests.plugins.insights.helpers import buy
    from tests.plugins.sales.helpers import deal, pipeline

    api.clock.set(day(2025, 4, 1))
    stages = await pipeline(api)
    won = stages["stages"]["受注"]
    acme, beta, gamma = [await create_account(api, name=name) for name in ("アクメ", "ベータ", "ガンマ")]
    await buy(api, None, 50000, days_ago=(api.clock.now() - day(2024, 12, 20)).days, accountId=acme["id"])
    for account, amount, closed in (
        (acme, 1_000_000, "2025-02-10"),  # bought in December: expansion
        (beta, 300_000, "2024-12-01"),
        (beta, 500_000, "2025-02-15"),  # won a deal before: expansion
        (gamma, 2_000_000, "2025-02-20"),  # new business
        (acme, 700_000, "2025-03-05"),  # after the period
    ):
        created = await deal(api, stages["id"], account["id"], amount=amount)
        marked = await api.mutate("markDealWon", {"id": created["id"], "closeDate": closed, "stageId": won}, "deal { id }")
        assert marked["userErrors"] == [], marked
    kpis = (await api.graphql(ACCOUNT_KPIS, {"first": "2025-02-01", "last": "2025-02-28"}))["customerKpis"]
    assert kpis == {"customersAtStart": 1, "expansionRevenue": 0, "expansionDealRevenue": 1_500_000}


async def test_without_the_sales_plugin_deal_revenue_is_left_out_not_zero(enishi_api):
    api = await enishi_api(disabled_plugins=frozenset({"sales"}))
    kpis = (await api.graphql(ACCOUNT_KPIS, {"first": "2025-02-01", "last": "2025-02-28"}))["customerKpis"]
    assert kpis["expansionDealRevenue"] is None


async def test_a_bad_setting_is_named_in_a_typed_error_not_an_internal_one(enishi_api):
    api = await enishi_api(extra={"insights_gross_margin_percent": 140, "insights_rfm_segments": [{"name": "X", "r": [0]}]})
    body = (await api.post(KPIS, {"first": "2025-02-01", "last": "2025-02-28"})).json()
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        ("[extra] insights_gross_margin_percent must be a number in (0, 100]", "MISCONFIGURED")
    ]
    body = (await api.post("{ rfmSegments { segment } }")).json()
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        ("[extra] insights_rfm_segments[0].r must be [low, high] within 1-5", "MISCONFIGURED")
    ]


async def test_reports_read_the_replica_when_one_is_configured(enishi_api, enishi_fresh_migrated):
    """`ENISHI_READ_DATABASE_URL`: here an empty database standing in for a replica that has not
    caught up, so what the reports read there is told apart from the primary."""
    primary = await enishi_api()
    with_replica = await enishi_api(read_database_url=enishi_fresh_migrated)
    primary.clock.set(day(2025, 4, 1))
    await customers_buying(with_replica, [[day(2025, 2, 10)], [day(2025, 2, 11)]])  # written to the primary
    period = {"first": "2025-02-01", "last": "2025-02-28"}
    assert (await with_replica.graphql(KPIS, period))["customerKpis"]["orders"] == 0
    same_user = await with_replica.token()  # one admin: the two apps share the primary's users
    assert (await primary.graphql(KPIS, period, token=same_user))["customerKpis"]["orders"] == 2

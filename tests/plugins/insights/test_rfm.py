"""RFM: tie-safe quintiles (issue example 2), segments, the scheduled full run and the incremental
rescoring on purchases and refunds."""

from enishi.worker import run_due_jobs
from tests.plugins.insights.helpers import buy, customer, rfm_of

# Issue example 2: ten customers A–J.
RECENCY = [3, 10, 20, 35, 60, 90, 120, 180, 250, 400]
FREQUENCY = [12, 2, 6, 5, 4, 3, 8, 2, 10, 1]
MONETARY = [50000, 3000, 30000, 28000, 15000, 9000, 42000, 5000, 20000, 1000]


async def _example_two(api) -> dict[str, str]:
    """Each customer's orders: the last `recency` days ago, the others a day apart before it, the
    amounts summing to the customer's monetary value."""
    ids = {}
    for name, recency, frequency, monetary in zip("ABCDEFGHIJ", RECENCY, FREQUENCY, MONETARY, strict=True):
        share = monetary // frequency
        amounts = [share] * (frequency - 1) + [monetary - share * (frequency - 1)]
        ids[name] = await customer(api, name, [(recency + n, amount) for n, amount in enumerate(amounts)])
    return ids


async def test_example_two_scores_a_555_b_511_j_111_after_the_scheduled_run(enishi_api):
    api = await enishi_api(extra={"insights_rfm_window_days": 730})  # J bought 400 days ago
    ids = await _example_two(api)
    assert "insights.rfm" in await run_due_jobs(api.runtime)
    scores = {name: await rfm_of(api, contact_id) for name, contact_id in ids.items()}
    assert {name: scores[name]["score"] for name in "ABJ"} == {"A": "555", "B": "511", "J": "111"}
    assert scores["A"] | {"recencyDays": 3} == {
        "score": "555",
        "segment": "Champions",
        "frequency": 12,
        "monetary": 50000,
        "recencyDays": 3,
        "recencyScore": 5,
        "frequencyScore": 5,
        "monetaryScore": 5,
    }
    # Worked by hand from the formula; B and H tie on two orders (only J bought less): both F 1.
    assert {name: (s["score"], s["segment"]) for name, s in scores.items()} == {
        "A": ("555", "Champions"),
        "B": ("511", "New"),
        "C": ("444", "Champions"),
        "D": ("434", "Loyal"),
        "E": ("333", "Loyal"),
        "F": ("322", "Hibernating"),
        "G": ("245", "Can't lose"),
        "H": ("212", "Hibernating"),
        "I": ("153", "Can't lose"),
        "J": ("111", "Lost"),
    }
    segments = (await api.graphql("{ rfmSegments { segment customers } }"))["rfmSegments"]
    assert segments == [
        {"segment": "Champions", "customers": 2},
        {"segment": "Loyal", "customers": 2},
        {"segment": "New", "customers": 1},
        {"segment": "Can't lose", "customers": 2},
        {"segment": "At risk", "customers": 0},
        {"segment": "Hibernating", "customers": 2},
        {"segment": "Lost", "customers": 1},
    ]
    listed = await api.graphql('{ rfmCustomers(segment: "Can\'t lose") { nodes { score contact { familyName } } } }')
    assert listed["rfmCustomers"]["nodes"] == [
        {"score": "245", "contact": {"familyName": "G"}},
        {"score": "153", "contact": {"familyName": "I"}},
    ]


async def test_a_window_leaves_out_older_purchases_and_their_customers(api):
    old = await customer(api, "古い", [(400, 1000)])
    recent = await customer(api, "新しい", [(10, 1000), (500, 99999)])
    await run_due_jobs(api.runtime)
    assert await rfm_of(api, old) is None
    assert (await rfm_of(api, recent))["monetary"] == 1000  # the order of 500 days ago is outside 365


async def test_a_purchase_rescores_its_customer_at_once_and_a_refund_takes_it_back(enishi_api):
    api = await enishi_api(extra={"insights_rfm_window_days": 730})
    ids = await _example_two(api)
    await run_due_jobs(api.runtime)
    order = await buy(api, ids["J"], 100000, days_ago=0)
    assert (await rfm_of(api, ids["J"]))["score"] == "515"  # the most recent, 2 orders (nobody fewer), the top spender
    await api.mutate("createPurchaseRefund", {"purchaseId": order}, "purchase { id }")
    assert (await rfm_of(api, ids["J"]))["score"] == "111"


async def test_segment_rules_are_configurable_and_the_first_match_names_the_segment(enishi_api):
    rules = [{"name": "Big spenders", "m": [5, 5]}, {"name": "Everyone else"}]
    api = await enishi_api(extra={"insights_rfm_window_days": 730, "insights_rfm_segments": rules})
    ids = await _example_two(api)
    await run_due_jobs(api.runtime)
    assert (await rfm_of(api, ids["A"]))["segment"] == "Big spenders"
    assert (await rfm_of(api, ids["B"]))["segment"] == "Everyone else"
    segments = (await api.graphql("{ rfmSegments { segment customers } }"))["rfmSegments"]
    assert segments == [{"segment": "Big spenders", "customers": 2}, {"segment": "Everyone else", "customers": 8}]


async def test_account_rfm_counts_the_purchases_bought_for_the_account(api):
    from tests.helpers import create_account, create_contact

    company = await create_account(api, name="縁商事")
    person = await create_contact(api, familyName="山田", accounts=[{"accountId": company["id"], "primary": True}])
    await buy(api, person["id"], 3000, days_ago=5)
    await buy(api, None, 7000, days_ago=1, accountId=company["id"])
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Account { rfm { score frequency monetary } } } }", {"id": company["id"]}
    )
    assert data["node"]["rfm"] == {"score": "111", "frequency": 2, "monetary": 10000}


async def test_purchases_score_without_the_loyalty_plugin(enishi_api):
    """The core keeps the one purchase record: insights reads it with loyalty uninstalled (and
    loyalty works without insights: tests/plugins/loyalty/test_earning.py)."""
    api = await enishi_api(disabled_plugins=frozenset({"loyalty"}))
    buyer = await customer(api, "単独", [(3, 5000), (10, 2000)])
    assert (await rfm_of(api, buyer))["frequency"] == 2

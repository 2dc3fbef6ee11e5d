"""`dealBoard`: columns with count, sum and weighted sum, paginated per column, without N+1;
rotting deals flagged stale after their stage's days without activity."""

from sqlalchemy import event

from tests.helpers import create_account, create_contact, log_activity
from tests.plugins.sales.helpers import deal, on_team, pipeline

BOARD = """query($p: ID!, $n: Int) { dealBoard(pipelineId: $p) {
  stage { name } count totals { currency amount weightedAmount }
  deals(first: $n) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { name amount isStale stage { name } account { name } owner { id } } } } } }"""


async def _selects(api, query, variables) -> tuple[dict, int]:
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        data = await api.graphql(query, variables)
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    return data, len([s for s in statements if s.strip().upper().startswith("SELECT")])


async def test_the_board_sums_each_column_and_pages_its_deals(api):
    created = await pipeline(api)
    account = await create_account(api, name="アクメ")
    for n, amount in enumerate((100_000, 250_000, 400_000)):
        await deal(api, created["id"], account["id"], name=f"lead {n}", amount=amount)
        api.clock.advance(minutes=1)
    proposal = await deal(api, created["id"], account["id"], name="proposal", amount=1_000_000)
    await api.mutate("moveDealStage", {"id": proposal["id"], "stageId": created["stages"]["提案"]}, "deal { id }")
    await deal(api, created["id"], account["id"], name="dollars", amount=12_345, currency="USD")
    board = (await api.graphql(BOARD, {"p": created["id"], "n": 2}))["dealBoard"]
    assert [(c["stage"]["name"], c["count"]) for c in board] == [
        ("リード", 4),
        ("提案", 1),
        ("交渉", 0),
        ("受注", 0),
        ("失注", 0),
    ]
    assert board[0]["totals"] == [
        {"currency": "JPY", "amount": 750_000, "weightedAmount": 75_000},
        {"currency": "USD", "amount": 12_345, "weightedAmount": 1_234},
    ]
    assert board[1]["totals"] == [{"currency": "JPY", "amount": 1_000_000, "weightedAmount": 600_000}]
    assert board[2]["totals"] == [] and board[2]["deals"]["edges"] == []
    first = board[0]["deals"]
    assert [e["node"]["name"] for e in first["edges"]] == ["dollars", "lead 2"] and first["totalCount"] == 4
    more = """query($p: ID!, $after: String) { dealBoard(pipelineId: $p) {
      deals(first: 2, after: $after) { pageInfo { hasNextPage } edges { node { name } } } } }"""
    rest = (await api.graphql(more, {"p": created["id"], "after": first["pageInfo"]["endCursor"]}))["dealBoard"][0]["deals"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["lead 1", "lead 0"] and not rest["pageInfo"]["hasNextPage"]


async def test_a_rep_sees_on_the_board_only_their_accounts_deals(api):
    created = await pipeline(api)
    mine, other = await create_account(api, name="担当"), await create_account(api, name="他")
    await on_team(api, mine["id"])
    await deal(api, created["id"], mine["id"], amount=300)
    await deal(api, created["id"], other["id"], amount=500)
    column = (await api.graphql(BOARD, {"p": created["id"], "n": 5}, role="sales"))["dealBoard"][0]
    assert column["count"] == 1 and column["totals"][0]["amount"] == 300
    assert [e["node"]["amount"] for e in column["deals"]["edges"]] == [300]


async def test_the_board_costs_the_same_statements_for_5_or_60_deals(api):
    created = await pipeline(api)
    accounts = [await create_account(api, name=f"会社 {i}") for i in range(3)]
    for i in range(5):
        await deal(api, created["id"], accounts[i % 3]["id"], name=f"d{i}")
    _, few = await _selects(api, BOARD, {"p": created["id"], "n": 50})
    for i in range(5, 60):
        await deal(api, created["id"], accounts[i % 3]["id"], name=f"d{i}")
    data, many = await _selects(api, BOARD, {"p": created["id"], "n": 50})
    assert len(data["dealBoard"][0]["deals"]["edges"]) == 50
    assert few == many, (few, many)


async def test_a_deal_rots_after_its_stage_days_without_activity_and_an_activity_revives_it(api):
    created = await pipeline(api)  # リード rots after 14 days, 交渉 never
    account = await create_account(api)
    person = await create_contact(api, familyName="佐藤")
    lead = await deal(api, created["id"], account["id"], name="lead")
    never = await deal(api, created["id"], account["id"], name="never")
    await api.mutate("moveDealStage", {"id": never["id"], "stageId": created["stages"]["交渉"]}, "deal { id }")
    await api.mutate("setDealContactRole", {"dealId": lead["id"], "contactId": person["id"]}, "contactRole { role }")
    stale = '{{ node(id: "{}") {{ ... on SalesDeal {{ isStale lastActivityAt }} }} }}'
    api.clock.advance(days=14)
    assert (await api.graphql(stale.format(lead["id"])))["node"]["isStale"] is False
    api.clock.advance(minutes=1)
    assert (await api.graphql(stale.format(lead["id"])))["node"]["isStale"] is True
    assert (await api.graphql(stale.format(never["id"])))["node"]["isStale"] is False
    await log_activity(api, contactIds=[person["id"]])  # a call with the deal's contact
    revived = (await api.graphql(stale.format(lead["id"])))["node"]
    assert revived == {"isStale": False, "lastActivityAt": api.clock.now().isoformat()}


async def test_a_columns_total_count_is_its_count_and_costs_no_statement(api):
    """The board's grouped sums count every column's deals: `totalCount` answers that count
    (known counts, NestedConnection) — for a rep too, within their team's accounts."""
    created = await pipeline(api)
    mine, other = await create_account(api, name="担当"), await create_account(api, name="他")
    await on_team(api, mine["id"])
    for n in range(3):
        await deal(api, created["id"], mine["id"] if n else other["id"], name=f"d{n}")
    counted = """query($p: ID!) { dealBoard(pipelineId: $p) { count deals(first: 1) { totalCount edges { node { name } } } } }"""
    uncounted = """query($p: ID!) { dealBoard(pipelineId: $p) { count deals(first: 1) { edges { node { name } } } } }"""
    board, with_count = await _selects(api, counted, {"p": created["id"]})
    _, without = await _selects(api, uncounted, {"p": created["id"]})
    assert [(c["count"], c["deals"]["totalCount"]) for c in board["dealBoard"]] == [(3, 3), (0, 0), (0, 0), (0, 0), (0, 0)]
    assert with_count == without, (with_count, without)
    rep = (await api.graphql(counted, {"p": created["id"]}, role="sales"))["dealBoard"][0]
    assert (rep["count"], rep["deals"]["totalCount"]) == (2, 2)

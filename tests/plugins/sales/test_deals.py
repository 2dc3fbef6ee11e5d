"""Pipelines, deals, stage moves, won and lost, contact roles: over GraphQL."""

import json

from sqlalchemy import text

from enishi.plugins.abm.models import ROLES as ABM_ROLES
from tests.helpers import create_account, create_contact
from tests.plugins.sales.helpers import DEAL, pipeline, user_id
from tests.plugins.sales.helpers import deal as new_deal

HISTORY = "stageHistory { fromStage { name } toStage { name } changedBy { id } changedAt }"


async def _outbox(api, prefix: str) -> list[tuple]:
    async with api.runtime.read_session() as session:
        rows = await session.execute(
            text("SELECT type, payload FROM core_outbox WHERE type LIKE :p ORDER BY seq"), {"p": f"{prefix}%"}
        )
        # Raw SQL reads JSON back as text on SQLite, as a document on PostgreSQL.
        return [(kind, payload if isinstance(payload, dict) else json.loads(payload)) for kind, payload in rows]


async def test_pipelines_list_their_stages_in_order_and_a_deal_starts_in_the_first_open_one(api):
    created = await pipeline(api)
    listed = (await api.graphql("{ pipelines { id name stages { name probability kind rottingDays } } }"))["pipelines"]
    assert [p["name"] for p in listed] == ["新規"]
    assert [(s["name"], s["probability"], s["kind"]) for s in listed[0]["stages"]] == [
        ("リード", 10, "open"),
        ("提案", 60, "open"),
        ("交渉", 90, "open"),
        ("受注", 100, "won"),
        ("失注", 0, "lost"),
    ]
    # Beyond GraphQL's Int: ¥5 billion is a plain integer of yen.
    deal = await new_deal(api, created["id"], amount=5_000_000_000)
    assert deal["stage"]["name"] == "リード" and deal["probability"] == 10
    assert (deal["amount"], deal["currency"], deal["weightedAmount"]) == (5_000_000_000, "JPY", 500_000_000)
    assert deal["owner"]["id"] == await user_id(api, "manager")
    assert [t for t, _ in await _outbox(api, "deal.")] == ["deal.created"]


async def test_bad_pipelines_and_deals_are_refused_with_user_errors(api):
    incomplete = await api.mutate(
        "createPipeline",
        {"name": "x", "stages": [{"name": "a", "probability": 120}, {"name": "a", "probability": 10}]},
        "pipeline { id }",
    )
    assert {(e["field"], e["code"]) for e in incomplete["userErrors"]} == {
        ("stages.0.probability", "OUT_OF_RANGE"),
        ("stages.1.name", "DUPLICATE"),
        ("stages", "INCOMPLETE_PIPELINE"),
    }
    created = await pipeline(api)
    account = await create_account(api)
    bad = await api.mutate(
        "createDeal",
        {"name": " ", "accountId": account["id"], "pipelineId": created["id"], "amount": -1, "currency": "XYZ"},
        "deal { id }",
    )
    assert {(e["field"], e["code"]) for e in bad["userErrors"]} == {
        ("name", "REQUIRED"),
        ("amount", "OUT_OF_RANGE"),
        ("currency", "INVALID_CHOICE"),
    }
    wrong_type = await api.mutate(
        "createDeal", {"name": "x", "accountId": created["id"], "pipelineId": created["id"], "amount": 1}, "deal { id }"
    )
    assert wrong_type["userErrors"][0]["code"] == "WRONG_ID_TYPE"
    too_big = (
        await api.post(
            "mutation($i: CreateDealInput!) { createDeal(input: $i) { deal { id } } }",
            {"i": {"name": "x", "accountId": account["id"], "pipelineId": created["id"], "amount": 2**53}},
        )
    ).json()
    assert too_big["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"  # past MinorUnits, not INTERNAL
    literal = f'mutation {{ createDeal(input: {{name: "x", accountId: "{account["id"]}", pipelineId: "{created["id"]}", '
    refused = (await api.post(literal + "amount: 144115188075855873}) { deal { id } } }")).json()
    assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await api.graphql("{ deals { totalCount } }"))["deals"]["totalCount"] == 0


async def test_moving_a_deal_records_history_and_a_timeline_entry_on_the_account_and_its_contacts(api):
    created = await pipeline(api)
    account = await create_account(api)
    person = await create_contact(api, familyName="田中", givenName="一郎")
    deal = await new_deal(api, created["id"], account["id"])
    role = await api.mutate(
        "setDealContactRole",
        {"dealId": deal["id"], "contactId": person["id"], "role": "decision_maker", "note": "予算決裁者", "isPrimary": True},
        "contactRole { role isPrimary note contact { id } }",
    )
    assert role["contactRole"] == {
        "role": "decision_maker",
        "isPrimary": True,
        "note": "予算決裁者",
        "contact": {"id": person["id"]},
    }
    noted = await api.mutate(
        "setDealContactRole",
        {"dealId": deal["id"], "contactId": person["id"], "note": "予算決裁者（来期）"},
        "contactRole { role isPrimary note }",
    )
    assert noted["contactRole"] == {"role": "decision_maker", "isPrimary": True, "note": "予算決裁者（来期）"}  # the rest kept
    api.clock.advance(days=2)
    moved = await api.mutate(
        "moveDealStage", {"id": deal["id"], "stageId": created["stages"]["提案"]}, DEAL.replace("deal {", "deal { " + HISTORY)
    )
    assert moved["userErrors"] == []
    assert moved["deal"]["probability"] == 60 and moved["deal"]["weightedAmount"] == 600_000
    history = moved["deal"]["stageHistory"]
    assert [(h["fromStage"], h["toStage"]["name"]) for h in history] == [(None, "リード"), ({"name": "リード"}, "提案")]
    assert history[1]["changedBy"]["id"] == await user_id(api, "admin")
    assert history[1]["changedAt"] == api.clock.now().isoformat()
    timeline = 'timeline(types: ["sales.deal_stage_changed"]) { edges { node { summary } } }'
    for type_name, node_id in (("Account", account["id"]), ("Contact", person["id"])):
        node = (await api.graphql(f'{{ node(id: "{node_id}") {{ ... on {type_name} {{ {timeline} }} }} }}'))["node"]
        assert [e["node"]["summary"] for e in node["timeline"]["edges"]] == ["基幹システム刷新: リード → 提案"]
    same = await api.mutate("moveDealStage", {"id": deal["id"], "stageId": created["stages"]["提案"]}, "deal { id }")
    assert same["userErrors"][0]["code"] == "UNCHANGED"
    other = await pipeline(api, "パートナー")
    foreign = await api.mutate("moveDealStage", {"id": deal["id"], "stageId": other["stages"]["提案"]}, "deal { id }")
    assert foreign["userErrors"] == [{"field": "stageId", "message": "no such stage in the deal's pipeline", "code": "NOT_FOUND"}]
    contact_deals = f'{{ node(id: "{person["id"]}") {{ ... on Contact {{ deals {{ edges {{ node {{ id }} }} }} }} }} }}'
    assert (await api.graphql(contact_deals))["node"]["deals"]["edges"] == [{"node": {"id": deal["id"]}}]


async def test_won_needs_a_close_date_and_lost_a_configured_reason(enishi_api):
    api = await enishi_api(extra={"sales_lost_reasons": ["価格", "時期", "競合"]})
    created = await pipeline(api)
    deal = await new_deal(api, created["id"])
    no_date = await api.mutate("moveDealStage", {"id": deal["id"], "stageId": created["stages"]["受注"]}, "deal { id }")
    assert no_date["userErrors"][0] == {
        "field": "closeDate",
        "message": "a won or lost deal needs its close date",
        "code": "REQUIRED",
    }
    bad_reason = await api.mutate("markDealLost", {"id": deal["id"], "closeDate": "2024-06-20", "reason": "price"}, "deal { id }")
    assert bad_reason["userErrors"][0]["field"] == "lostReason" and bad_reason["userErrors"][0]["code"] == "INVALID_CHOICE"
    assert (await api.graphql("{ salesLostReasons }"))["salesLostReasons"] == ["価格", "時期", "競合"]
    lost = await api.mutate(
        "markDealLost", {"id": deal["id"], "closeDate": "2024-06-20", "reason": "競合", "competitor": "他社A"}, DEAL
    )
    assert lost["userErrors"] == []
    assert (lost["deal"]["stage"]["kind"], lost["deal"]["closeDate"], lost["deal"]["lostReason"]) == (
        "lost",
        "2024-06-20",
        "競合",
    )
    assert lost["deal"]["lostToCompetitor"] == "他社A" and lost["deal"]["forecastCategory"] == "omitted"
    won = await api.mutate("markDealWon", {"id": deal["id"], "closeDate": "2024-06-21"}, DEAL)
    assert (
        won["deal"]["stage"]["name"] == "受注"
        and won["deal"]["lostReason"] is None
        and won["deal"]["forecastCategory"] == "closed"
    )
    events = await _outbox(api, "deal.")
    assert [t for t, _ in events] == ["deal.created", "deal.stage_changed", "deal.lost", "deal.stage_changed", "deal.won"]
    assert events[2][1]["reason"] == "競合" and events[4][1]["close_date"] == "2024-06-21"
    wrong_kind = await api.mutate(
        "markDealWon", {"id": deal["id"], "closeDate": "2024-06-21", "stageId": created["stages"]["失注"]}, "deal { id }"
    )
    assert wrong_kind["userErrors"][0]["code"] == "WRONG_STAGE_KIND"


async def test_deals_filter_order_and_paginate(api):
    created = await pipeline(api)
    account = await create_account(api)
    for n, amount in enumerate((300, 100, 200)):
        await new_deal(api, created["id"], account["id"], name=f"deal {n}", amount=amount)
        api.clock.advance(minutes=1)
    query = """query($f: SalesDealFilter, $o: [SalesDealOrder!], $after: String) {
      deals(filter: $f, orderBy: $o, first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { name amount } } } }"""
    by_amount = (await api.graphql(query, {"o": [{"field": "AMOUNT", "direction": "ASC"}]}))["deals"]
    assert [e["node"]["amount"] for e in by_amount["edges"]] == [100, 200] and by_amount["pageInfo"]["hasNextPage"]
    rest = await api.graphql(query, {"o": [{"field": "AMOUNT", "direction": "ASC"}], "after": by_amount["pageInfo"]["endCursor"]})
    assert [e["node"]["amount"] for e in rest["deals"]["edges"]] == [300]
    filtered = (await api.graphql(query, {"f": {"amount": {"gte": 200}, "stageKind": "open"}}))["deals"]
    assert filtered["totalCount"] == 2 and [e["node"]["name"] for e in filtered["edges"]] == ["deal 2", "deal 0"]


async def test_update_deal_sets_source_competitors_next_step_and_custom_fields_and_refuses_bad_ones(api):
    created = await pipeline(api)
    account = await create_account(api)
    deal = await new_deal(api, created["id"], account["id"])
    api.clock.advance(hours=1)
    fields = (
        "deal { department source competitors nextStep customFields forecastCategory updatedAt lastActivityAt " + HISTORY + " }"
    )
    update = {
        "id": deal["id"],
        "department": "情報システム部",
        "source": "展示会",
        "competitors": ["他社A", " 他社B ", ""],
        "nextStep": "3/5 役員プレゼン",
        "customFields": {"予算": 12_000_000, "稟議": True},
    }
    updated = await api.mutate("updateDeal", update, fields)
    assert updated["userErrors"] == []
    expected = {
        "department": "情報システム部",
        "source": "展示会",
        "competitors": ["他社A", "他社B"],  # trimmed, blanks dropped
        "nextStep": "3/5 役員プレゼン",
        "customFields": {"予算": 12_000_000, "稟議": True},
        "forecastCategory": "pipeline",
        "updatedAt": api.clock.now().isoformat(),
        "lastActivityAt": api.clock.now().isoformat(),  # a change to the deal is activity: it stops rotting
    }
    assert {k: updated["deal"][k] for k in expected} == expected
    read_back = f'{{ node(id: "{deal["id"]}") {{ ... on SalesDeal {{ {fields[7:-2]} }} }} }}'
    assert (await api.graphql(read_back))["node"] == updated["deal"]
    # The stage did not move: no stage history, no timeline entry; one `deal.updated` says what changed.
    assert [(h["fromStage"], h["toStage"]["name"]) for h in updated["deal"]["stageHistory"]] == [(None, "リード")]
    timeline = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ timeline {{ edges {{ node {{ type }} }} }} }} }} }}'
    assert [e["node"]["type"] for e in (await api.graphql(timeline))["node"]["timeline"]["edges"]] == ["sales.deal_created"]
    events = await _outbox(api, "deal.")
    changed_fields = sorted(["department", "source", "competitors", "next_step", "custom_fields"])
    assert events[-1] == ("deal.updated", {"account_id": events[0][1]["account_id"], "fields": changed_fields})

    api.clock.advance(hours=1)
    for bad, field, code in (
        ({"department": "d" * 201}, "department", "TOO_LONG"),
        ({"source": "s" * 101}, "source", "TOO_LONG"),
        ({"competitors": [f"他社{n}" for n in range(21)]}, "competitors", "TOO_LONG"),
        ({"competitors": ["x" * 201]}, "competitors", "TOO_LONG"),
        ({"nextStep": "n" * 501}, "nextStep", "TOO_LONG"),
        ({"customFields": ["not", "an", "object"]}, "customFields", "INVALID_CUSTOM_FIELDS"),
        ({"customFields": {"": 1}}, "customFields", "INVALID_CUSTOM_FIELDS"),
        ({"customFields": {"memo": "x" * 17_000}}, "customFields", "TOO_LONG"),
        ({"forecastCategory": None}, "forecastCategory", "REQUIRED"),
        ({"forecastCategory": "maybe"}, "forecastCategory", "INVALID_CHOICE"),
    ):
        refused = await api.mutate("updateDeal", {"id": deal["id"], **bad}, "deal { id }")
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(field, code)], bad
    assert (await api.graphql(read_back))["node"] == updated["deal"]  # nothing changed, not even updatedAt
    assert len(await _outbox(api, "deal.")) == len(events)


async def test_amounts_beyond_32_bits_filter_sum_and_forecast_in_yen(api):
    created = await pipeline(api)
    account = await create_account(api)
    for name, amount in (("大型案件", 5_000_000_000), ("小口", 2_147_483_647), ("中型", 3_000_000_000)):
        await new_deal(api, created["id"], account["id"], name=name, amount=amount, expectedCloseDate="2025-03-10")
    query = "query($f: SalesDealFilter) { deals(filter: $f, orderBy: [{field: AMOUNT}]) { edges { node { name amount } } } }"
    over = (await api.graphql(query, {"f": {"amount": {"gt": 2_147_483_647}}}))["deals"]["edges"]
    assert [e["node"] for e in over] == [{"name": "大型案件", "amount": 5_000_000_000}, {"name": "中型", "amount": 3_000_000_000}]
    exact = await api.graphql("{ deals(filter: {amount: {in: [5000000000], lte: 5000000000}}) { totalCount } }")
    assert exact["deals"]["totalCount"] == 1
    board = await api.graphql(f'{{ dealBoard(pipelineId: "{created["id"]}") {{ totals {{ amount weightedAmount }} }} }}')
    assert board["dealBoard"][0]["totals"] == [{"amount": 10_147_483_647, "weightedAmount": 1_014_748_364}]
    forecast = '{ salesForecast(period: MONTH, from: "2025-03-01", to: "2025-03-31") { pipeline weighted } }'
    assert (await api.graphql(forecast))["salesForecast"] == [{"pipeline": 10_147_483_647, "weighted": 1_014_748_364}]


async def test_contact_roles_are_abms_buying_roles(api):
    """The same words as ABM's buying committee (ABM is installed here; the sales plugin does not need it)."""
    created = await pipeline(api)
    deal = await new_deal(api, created["id"])
    person = await create_contact(api, familyName="佐々木", givenName="悟")
    for role in ABM_ROLES:
        given = await api.mutate(
            "setDealContactRole", {"dealId": deal["id"], "contactId": person["id"], "role": role}, "contactRole { role }"
        )
        assert given == {"contactRole": {"role": role}, "userErrors": []}
    refused = await api.mutate(
        "setDealContactRole", {"dealId": deal["id"], "contactId": person["id"], "role": "cfo"}, "contactRole { role }"
    )
    assert refused["userErrors"] == [
        {"field": "role", "message": f"must be one of: {', '.join(ABM_ROLES)}", "code": "INVALID_CHOICE"}
    ]

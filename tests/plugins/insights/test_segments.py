"""Saved segments: a named filter over core and plugin fields (ABM tier AND churn risk ≥ N AND
inactive N days), evaluated into members with entered/left events and a daily count history,
used by ABM's audience export; sensitive fields refused."""

import base64
import datetime as dt
import json
import uuid

from sqlalchemy import text

from enishi.worker import run_due_jobs
from tests.helpers import create_account, create_contact, log_activity
from tests.plugins.insights.helpers import buy

JST = dt.timezone(dt.timedelta(hours=9))
NOW = dt.datetime(2025, 6, 2, 9, 0, tzinfo=JST)
SEGMENT = (
    "segment { id name customer memberCount: members { totalCount } "
    "members { nodes { account { name } contact { familyName } } } }"
)
PAYLOAD = f"{SEGMENT} entered left"


async def _account(api, name: str, tier: str | None, purchases_days_ago: list[int]) -> str:
    account_id = (await create_account(api, name=name))["id"]
    if tier is not None:
        payload = await api.mutate("setTargetAccount", {"accountId": account_id, "tier": tier}, "account { id }")
        assert payload["userErrors"] == [], payload
    buyer = (await create_contact(api, familyName=f"{name}担当", accounts=[{"accountId": account_id, "primary": True}]))["id"]
    for days_ago in purchases_days_ago:
        await buy(api, buyer, 10000, days_ago=days_ago, accountId=account_id)
    return account_id


async def _segment(api, name: str, filter: dict, customer: str = "ACCOUNT", role: str = "marketing") -> dict:
    return await api.mutate("createSegment", {"name": name, "customer": customer, "filter": filter}, PAYLOAD, role=role)


async def _events(api) -> list[tuple[str, str | None]]:
    async with api.runtime.read_session() as session:
        rows = await session.execute(
            text("SELECT type, payload FROM core_outbox WHERE type LIKE 'insights.segment_%' ORDER BY seq")
        )
        return [(kind, (payload if isinstance(payload, dict) else json.loads(payload))["account_id"]) for kind, payload in rows]


def _raw(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":")[1]


async def test_hook_enishi_segment_terms_and_tier_1_at_risk_inactive_accounts_with_events_and_history(api):
    api.clock.set(NOW)
    drifting = await _account(api, "漂流", "tier_1", [45 + 10 * n for n in range(5)])
    loyal = await _account(api, "堅調", "tier_1", [1 + 10 * n for n in range(5)])
    other_tier = await _account(api, "対象外", "tier_2", [45 + 10 * n for n in range(5)])
    await run_due_jobs(api.runtime)  # health scores: the drifting accounts are fully overdue (40)
    payload = await _segment(
        api, "要フォロー", {"terms": [{"key": "abm.tier", "value": "tier_1"}], "churnRiskAtLeast": 30, "inactiveDays": 30}
    )
    assert payload["userErrors"] == [], payload
    assert payload["entered"] == 1 and payload["segment"]["memberCount"]["totalCount"] == 1
    assert payload["segment"]["members"]["nodes"] == [{"account": {"name": "漂流"}, "contact": None}]
    segment_id = payload["segment"]["id"]
    assert await _events(api) == [("insights.segment_entered", _raw(drifting))]

    # The drifting account is called (activity) and buys again: it leaves at the next evaluation.
    await log_activity(api, accountIds=[drifting])
    await buy(api, None, 10000, accountId=drifting)  # the account's own order
    api.clock.set(NOW + dt.timedelta(days=1))
    evaluated = await api.mutate("evaluateSegment", {"id": segment_id}, PAYLOAD, role="marketing")
    assert (evaluated["entered"], evaluated["left"]) == (0, 1)
    assert await _events(api) == [("insights.segment_entered", _raw(drifting)), ("insights.segment_left", _raw(drifting))]

    # The loyal account drifts too; the daily job brings it in and records the day's count.
    api.clock.set(NOW + dt.timedelta(days=60))
    await run_due_jobs(api.runtime)
    found = await api.graphql(
        "query($id: ID!) { segment(id: $id) { members { nodes { account { id } } } "
        'history(firstDay: "2025-06-01", lastDay: "2025-08-31") { day members } } }',
        {"id": segment_id},
    )
    assert {n["account"]["id"] for n in found["segment"]["members"]["nodes"]} == {loyal, drifting}
    assert found["segment"]["history"] == [
        {"day": "2025-06-02", "members": 1},
        {"day": "2025-06-03", "members": 0},
        {"day": "2025-08-01", "members": 2},
    ]
    assert other_tier not in {n["account"]["id"] for n in found["segment"]["members"]["nodes"]}


async def test_hook_enishi_segment_members_and_an_abm_audience_can_be_a_saved_segment(enishi_api):
    api = await enishi_api(disabled_plugins=frozenset({"privacy"}))  # no consent register: everyone may be exported
    api.clock.set(NOW)
    await _account(api, "漂流", "tier_1", [45 + 10 * n for n in range(5)])
    await _account(api, "堅調", "tier_1", [1 + 10 * n for n in range(5)])
    await run_due_jobs(api.runtime)
    segment = (await _segment(api, "離反リスク", {"churnRiskAtLeast": 30}))["segment"]["id"]
    payload = await api.mutate(
        "exportAudience",
        {"destination": "MA tool", "tier": "tier_1", "segmentId": segment},
        "members { contact { familyName } account { name } } userErrors { field code }",
        role="marketing",
    )
    assert payload["userErrors"] == []
    assert payload["members"] == [{"contact": {"familyName": "漂流担当"}, "account": {"name": "漂流"}}]


async def test_sensitive_fields_can_never_be_used_in_a_segment(api):
    marked = await api.mutate(
        "markFieldSensitive", {"entity": "contact", "field": "custom_fields.病歴"}, "sensitiveField { field }", role="compliance"
    )
    assert marked["userErrors"] == [], marked
    for filter in (
        {"contact": {"customField": [{"key": "病歴", "exists": True}]}},
        {"or": [{"inactiveDays": 30}, {"not": {"contact": {"and": [{"customField": [{"key": "病歴", "eq": "糖尿病"}]}]}}}]},
    ):
        payload = await _segment(api, "禁止", filter, customer="CONTACT")
        assert payload["segment"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [("filter.contact.customField", "SENSITIVE_FIELD")]
    assert (await api.graphql("{ segments { id } }"))["segments"] == []
    allowed = await _segment(api, "許可", {"contact": {"customField": [{"key": "趣味", "exists": True}]}}, customer="CONTACT")
    assert allowed["userErrors"] == []


async def test_bad_segments_are_refused_with_typed_errors(api):
    cases = [
        ({"terms": [{"key": "nobody.term", "value": 1}]}, "ACCOUNT", ("filter.terms.0.key", "UNKNOWN_TERM")),
        ({"terms": [{"key": "abm.tier", "value": "tier_9"}]}, "ACCOUNT", ("filter.terms.0.value", "INVALID_FILTER")),
        ({"terms": [{"key": "loyalty.tier", "value": "Gold"}]}, "ACCOUNT", ("filter.terms.0.key", "INVALID_FILTER")),
        ({"churnRiskAtLeast": 101}, "CONTACT", ("filter.churnRiskAtLeast", "INVALID_FILTER")),
        ({"contact": {"search": "山田"}}, "ACCOUNT", ("filter.contact", "INVALID_FILTER")),
    ]
    for filter, customer, expected in cases:
        payload = await _segment(api, "不正", filter, customer=customer)
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [expected], (filter, payload)
    made = await _segment(api, "消す", {"inactiveDays": 30}, customer="CONTACT")
    gone = made["segment"]["id"]
    assert (await api.mutate("deleteSegment", {"id": gone}, role="marketing"))["userErrors"] == []
    for mutation in ("evaluateSegment", "deleteSegment"):  # the error says what was not found
        missing = await api.mutate(mutation, {"id": gone}, role="marketing")
        assert missing["userErrors"] == [{"field": "id", "message": "no such saved segment", "code": "NOT_FOUND"}]
    errors = await api.errors('mutation { createSegment(input: {name: "x", filter: {}}) { userErrors { code } } }', role="sales")
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]


async def test_rfm_segment_and_loyalty_terms_compose(api):
    api.clock.set(NOW)
    champion = (await create_contact(api, familyName="優良"))["id"]
    for n in range(5):
        await buy(api, champion, 20000, days_ago=1 + n)
    await run_due_jobs(api.runtime)
    rfm = await api.graphql(f'{{ node(id: "{champion}") {{ ... on Contact {{ rfm {{ segment }} }} }} }}')
    payload = await _segment(
        api, "優良顧客", {"rfmSegment": [rfm["node"]["rfm"]["segment"]], "not": {"inactiveDays": 365}}, customer="CONTACT"
    )
    assert payload["userErrors"] == [] and payload["segment"]["members"]["nodes"] == []  # never in touch: inactive
    await log_activity(api, contactIds=[champion])
    evaluated = await api.mutate("evaluateSegment", {"id": payload["segment"]["id"]}, PAYLOAD, role="marketing")
    assert evaluated["segment"]["members"]["nodes"] == [{"contact": {"familyName": "優良"}, "account": None}]
    terms = await api.graphql("{ segmentTerms { key customers } }")
    assert {"key": "loyalty.tier", "customers": ["CONTACT"]} in terms["segmentTerms"]
    assert {"key": "abm.tier", "customers": ["CONTACT", "ACCOUNT"]} in terms["segmentTerms"]


async def test_memberships_are_exported_with_the_person_erased_with_them_and_dropped_on_merge(api):
    from enishi.plugin import DataSubject
    from tests.helpers import count_rows

    api.clock.set(NOW)
    person = (await create_contact(api, familyName="山田"))["id"]
    duplicate = (await create_contact(api, familyName="山田"))["id"]
    payload = await _segment(api, "未接触", {"inactiveDays": 30}, customer="CONTACT")
    assert payload["entered"] == 2
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": person}, role="compliance"
    )
    assert [m["segment"] for m in exported["node"]["personalData"]["insights"]["segments"]] == ["未接触"]
    catalog = await api.graphql("{ personalDataCatalog { entity field provenance portable } }", role="compliance")
    assert {"entity": "insights_segment_member", "field": "segment_id", "provenance": "inferred", "portable": False} in catalog[
        "personalDataCatalog"
    ]
    merged = await api.mutate("mergeContacts", {"survivorId": person, "mergedIds": [duplicate]}, "moves { plugin entity count }")
    assert {"plugin": "insights", "entity": "insights_segment_member", "count": 1} in merged["moves"]
    async with api.runtime.unit_of_work() as uow:
        reports = dict(
            await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(uuid.UUID(_raw(person))))
        )
    assert reports["insights"].affected["insights_segment_member:delete"] == 1
    assert await count_rows(api, "insights_segment_member") == 0

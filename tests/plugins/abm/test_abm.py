"""ABM over GraphQL: the issue's Acme Holdings example and every bullet around it."""

import base64
import datetime as dt
import uuid

import pytest

from enishi import hookimpl
from enishi.worker import run_due_jobs
from tests.helpers import create_account, create_contact, root_fields_added_by

ABM = """abm { tier stage icpScore rationale
    engagement { score raw departmentsEngaged byDepartment { name points } byRole { name points } }
    coverage { required present missing percent }
    buyingCommittee { role seniority contact { familyName } department { name kind } } }"""


async def _target(api, account_id, **input):
    payload = await api.mutate("setTargetAccount", {"accountId": account_id, **input}, "account { id }")
    assert payload["userErrors"] == [], payload


async def _department(api, account_id, name, kind, parent=None) -> str:
    payload = await api.mutate(
        "createDepartment", {"accountId": account_id, "name": name, "kind": kind, "parentId": parent}, "department { id }"
    )
    assert payload["userErrors"] == [], payload
    return payload["department"]["id"]


async def _role(api, account_id, contact_id, role, department_id=None, seniority=None):
    payload = await api.mutate(
        "assignBuyingRole",
        {"accountId": account_id, "contactId": contact_id, "role": role, "departmentId": department_id, "seniority": seniority},
        "account { id }",
    )
    assert payload["userErrors"] == [], payload


async def _meeting(api, contact_id, day):
    payload = await api.mutate(
        "logActivity",
        {"type": "meeting", "summary": "打ち合わせ", "contactIds": [contact_id], "occurredAt": f"2024-{day}T10:00:00+09:00"},
        "activity { id }",
    )
    assert payload["userErrors"] == []


async def _abm(api, account_id):
    return (await api.graphql(f"query($id: ID!) {{ node(id: $id) {{ ... on Account {{ {ABM} }} }} }}", {"id": account_id}))[
        "node"
    ]["abm"]


@pytest.fixture
async def acme(api):
    account = await create_account(
        api, name="Acme Holdings", employeeCount=5000, industry="manufacturing", customFields={"country": "JP"}
    )
    await _target(api, account["id"], rationale="国内製造業トップ10")
    purchasing = await _department(api, account["id"], "購買部", "purchasing")
    engineering = await _department(api, account["id"], "技術部", "engineering")
    people = {}
    for name, department, role in (
        ("Tanaka", purchasing, "decision_maker"),
        ("Suzuki", engineering, "champion"),
        ("Sato", engineering, "end_user"),
    ):
        contact = await create_contact(api, familyName=name, accounts=[{"accountId": account["id"]}])
        await _role(api, account["id"], contact["id"], role, department)
        people[name] = contact["id"]
    return account["id"], people


async def test_the_acme_holdings_example(api, acme):
    account_id, people = acme
    abm = await _abm(api, account_id)
    assert abm["tier"] == "tier_1" and abm["icpScore"] == 90
    assert abm["coverage"] == {
        "required": ["decision_maker", "budget_holder", "champion", "influencer", "end_user"],
        "present": ["champion", "decision_maker", "end_user"],
        "missing": ["budget_holder", "influencer"],
        "percent": 60,
    }
    await _meeting(api, people["Tanaka"], "05-12")
    await _meeting(api, people["Suzuki"], "05-25")
    await _meeting(api, people["Sato"], "06-05")
    abm = await _abm(api, account_id)  # evaluated 2024-06-10
    assert abm["engagement"]["raw"] == 45.0 and abm["engagement"]["departmentsEngaged"] == 2
    assert abm["engagement"]["score"] == 49.5 and abm["stage"] == "engaged"
    assert abm["engagement"]["byRole"] == [
        {"name": "champion", "points": 15.0},
        {"name": "decision_maker", "points": 20.0},
        {"name": "end_user", "points": 10.0},
    ]
    assert abm["engagement"]["byDepartment"] == [{"name": "技術部", "points": 25.0}, {"name": "購買部", "points": 20.0}]
    api.clock.set(dt.datetime(2024, 6, 12, tzinfo=dt.UTC))
    assert "abm.recompute" in await run_due_jobs(api.runtime)
    abm = await _abm(api, account_id)
    assert abm["engagement"]["score"] == 25.0 and abm["stage"] == "aware"


async def test_an_activity_with_several_participants_counts_once_at_the_highest_multiplier(api, acme):
    account_id, people = acme
    payload = await api.mutate(
        "logActivity", {"type": "meeting", "summary": "全員", "contactIds": list(people.values())}, "activity { id }"
    )
    assert payload["userErrors"] == []
    abm = await _abm(api, account_id)
    assert abm["engagement"]["raw"] == 20.0 and abm["engagement"]["score"] == 22.0


async def test_weights_by_activity_kind(api, acme):
    account_id, people = acme
    sato = people["Sato"]  # end_user: multiplier 1.0
    for activity in (
        {"type": "call", "durationSeconds": 300},
        {"type": "call"},
        {"type": "email", "direction": "inbound"},
        {"type": "email", "direction": "outbound"},
        {"type": "event"},
        {"type": "note"},
    ):
        await api.mutate("logActivity", {"summary": "x", "contactIds": [sato], **activity}, "activity { id }")
    assert (await _abm(api, account_id))["engagement"]["raw"] == 5 + 0 + 3 + 0.5 + 8 + 0


async def test_mqa_needs_score_two_departments_and_a_decision_maker(api, acme):
    account_id, people = acme
    for day in ("06-01", "06-02", "06-03"):
        await _meeting(api, people["Tanaka"], day)  # 3 × 20
    await _meeting(api, people["Suzuki"], "06-04")  # 15
    abm = await _abm(api, account_id)
    assert abm["engagement"]["score"] == 82.5 and abm["stage"] == "mqa"


class Deals:
    def __init__(self):
        self.stages = {}

    @hookimpl
    def enishi_abm_deal_stages(self, uow, account_ids):
        return {a: self.stages[a] for a in account_ids if a in self.stages}


async def test_deal_plugins_move_accounts_to_opportunity_and_customer(enishi_api):
    import base64
    import uuid

    deals = Deals()
    api = await enishi_api(plugins=[("deals", deals)])
    account = await create_account(api, name="Globex")
    raw = uuid.UUID(base64.b64decode(account["id"]).decode().split(":")[1])
    deals.stages[raw] = "open"
    await _target(api, account["id"])
    assert (await _abm(api, account["id"]))["stage"] == "opportunity"
    deals.stages[raw] = "won"
    await run_due_jobs(api.runtime)
    assert (await _abm(api, account["id"]))["stage"] == "customer"


async def test_icp_tiers_follow_the_rules_unless_set_by_hand(api):
    small = await create_account(api, name="Small", employeeCount=50, industry="it", customFields={"country": "JP"})
    await _target(api, small["id"])
    assert (await _abm(api, small["id"]))["tier"] == "tier_2"  # 30 + 20
    await api.mutate("updateAccount", {"id": small["id"], "employeeCount": 1500}, "account { id }")
    assert (await _abm(api, small["id"]))["tier"] == "tier_1"  # rescored when the account changed
    await _target(api, small["id"], tier="tier_3")
    assert (await _abm(api, small["id"]))["tier"] == "tier_3"
    bad = await api.mutate("setTargetAccount", {"accountId": small["id"], "tier": "tier_9"}, "account { id }")
    assert bad["userErrors"][0]["code"] == "INVALID_CHOICE"


async def test_hierarchy_rollup_counts_an_activity_on_several_accounts_once(api):
    parent = await create_account(api, name="Acme Holdings")
    child = await create_account(api, name="Acme Japan", parentId=parent["id"])
    for account in (parent, child):
        await _target(api, account["id"])
    contact = await create_contact(api, familyName="田中", accounts=[{"accountId": parent["id"]}, {"accountId": child["id"]}])
    await api.mutate(
        "logActivity",
        {"type": "meeting", "summary": "x", "contactIds": [contact["id"]], "accountIds": [child["id"]]},
        "activity { id }",
    )
    await api.mutate("logActivity", {"type": "event", "summary": "y", "accountIds": [child["id"]]}, "activity { id }")
    data = await api.graphql(
        """query($id: ID!) { node(id: $id) { ... on Account { abm {
        engagement { score } hierarchy { parent { name } children { name } rollupScore rollupActivities } } } } }""",
        {"id": parent["id"]},
    )
    abm = data["node"]["abm"]
    assert abm["engagement"]["score"] == 10.0  # the meeting reaches the parent through the contact
    assert abm["hierarchy"] == {"parent": None, "children": [{"name": "Acme Japan"}], "rollupScore": 18.0, "rollupActivities": 2}


async def test_target_accounts_list_filters_and_orders(api, acme):
    _account_id, people = acme
    other = await create_account(api, name="Beta", employeeCount=10)
    await _target(api, other["id"], tier="tier_3")
    await _meeting(api, people["Tanaka"], "06-01")
    data = await api.graphql("""{ targetAccounts { totalCount nodes { name abm { tier stage engagement { score } } } } }""")
    assert [n["name"] for n in data["targetAccounts"]["nodes"]] == ["Acme Holdings", "Beta"]
    tier3 = await api.graphql('{ targetAccounts(filter: {tier: "tier_3"}) { nodes { name } } }')
    assert tier3["targetAccounts"]["nodes"] == [{"name": "Beta"}]
    by_name = await api.graphql("{ targetAccounts(orderBy: [{field: NAME, direction: ASC}]) { nodes { name } } }")
    assert [n["name"] for n in by_name["targetAccounts"]["nodes"]] == ["Acme Holdings", "Beta"]
    untarget = await api.mutate("untargetAccount", {"accountId": other["id"]}, "accountId")
    assert untarget["userErrors"] == []
    assert (await api.graphql("{ targetAccounts { totalCount } }"))["targetAccounts"]["totalCount"] == 1


async def test_coverage_gaps_become_core_tasks(api, acme):
    account_id, _ = acme
    payload = await api.mutate("createCoverageTasks", {"accountId": account_id}, "tasks { title account { name } }")
    assert [t["title"] for t in payload["tasks"]] == [
        "Find the budget holder at Acme Holdings",
        "Find the influencer at Acme Holdings",
    ]
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Account { nextActionAt tasks { title } } } }", {"id": account_id}
    )
    assert len(data["node"]["tasks"]) == 2


async def test_account_plans_and_nested_departments(api, acme):
    account_id, _ = acme
    plan = await api.mutate(
        "upsertAccountPlan",
        {
            "accountId": account_id,
            "objectives": ["PoC を完了", "全社展開"],
            "targetClose": "2024-09-30",
            "reviewCadence": "monthly",
        },
        "plan { objectives targetClose reviewCadence }",
    )
    assert plan["plan"] == {"objectives": ["PoC を完了", "全社展開"], "targetClose": "2024-09-30", "reviewCadence": "monthly"}
    bad = await api.mutate("upsertAccountPlan", {"accountId": account_id, "reviewCadence": "hourly"}, "plan { notes }")
    assert bad["userErrors"][0]["code"] == "INVALID_CHOICE"
    departments = await _abm(api, account_id)
    assert departments["buyingCommittee"][0]["department"] is not None
    parent = (
        await api.graphql(
            "query($id: ID!) { node(id: $id) { ... on Account { abm { departments { id name } } } } }", {"id": account_id}
        )
    )["node"]["abm"]["departments"][0]["id"]
    child = await _department(api, account_id, "調達課", "purchasing", parent)
    data = await api.graphql("query($id: ID!) { node(id: $id) { ... on AbmDepartment { name parent { name } } } }", {"id": child})
    assert data["node"]["parent"]["name"] in ("技術部", "購買部")


async def test_engagement_formula_is_configurable(api, acme):
    account_id, people = acme
    await _meeting(api, people["Sato"], "06-01")
    payload = await api.mutate(
        "setEngagementConfig",
        {"weights": [{"activityType": "meeting", "weight": 12}]},
        "config { windowDays weights { activityType weight } }",
    )
    assert {"activityType": "meeting", "weight": 12.0} in payload["config"]["weights"]
    assert payload["config"]["windowDays"] == 30
    assert (await _abm(api, account_id))["engagement"]["raw"] == 12.0
    denied = await api.post("mutation { setEngagementConfig(input: {windowDays: 60}) { config { windowDays } } }", role="sales")
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_engagement_config_is_typed_and_every_bad_value_is_a_user_error(api, acme):
    account_id, _ = acme
    before = await api.graphql(
        "{ engagementConfig { windowDays tierThresholds { tier minScore } icpRules { field op value points } } }"
    )
    assert before["engagementConfig"]["icpRules"][0] == {"field": "employee_count", "op": "GTE", "value": 1000, "points": 40}
    bad = await api.mutate(
        "setEngagementConfig",
        {
            "windowDays": 1_000_000_000,
            "departmentCap": -1.0,
            "weights": [
                {"activityType": "meeting", "weight": 1},
                {"activityType": "meeting", "weight": 2},
                {"activityType": " ", "weight": 1},
            ],
            "roleMultipliers": [{"role": "king", "multiplier": 2}],
            "tierThresholds": [{"tier": "tier_1", "minScore": -5}],
            "requiredRoles": [{"tier": "tier_9", "roles": []}, {"tier": "tier_1", "roles": ["king"]}],
            "icpRules": [
                {"field": "password", "op": "EQ", "value": "x", "points": 1},
                {"field": "employee_count", "op": "GTE", "value": "many", "points": 1},
                {"field": "custom_fields.country", "op": "IN", "value": {"a": 1}, "points": 5000},
            ],
        },
        "config { windowDays }",
    )
    assert bad["config"] is None
    assert {(e["field"], e["code"]) for e in bad["userErrors"]} == {
        ("windowDays", "OUT_OF_RANGE"),
        ("departmentCap", "OUT_OF_RANGE"),
        ("weights.1", "DUPLICATE"),
        ("weights.2.activityType", "REQUIRED"),
        ("roleMultipliers.0.role", "INVALID_CHOICE"),
        ("tierThresholds.0.minScore", "OUT_OF_RANGE"),
        ("requiredRoles.0.tier", "INVALID_CHOICE"),
        ("requiredRoles.1.roles", "INVALID_CHOICE"),
        ("icpRules.0.field", "INVALID_CHOICE"),
        ("icpRules.1.value", "INVALID_VALUE"),
        ("icpRules.2.value", "INVALID_VALUE"),
        ("icpRules.2.points", "OUT_OF_RANGE"),
    }
    assert (
        await api.graphql(
            "{ engagementConfig { windowDays tierThresholds { tier minScore } icpRules { field op value points } } }"
        )
        == before
    )
    # One threshold changes, the others stay; a rule comparing a text field with a number simply does not match.
    good = await api.mutate(
        "setEngagementConfig",
        {
            "tierThresholds": [{"tier": "tier_1", "minScore": 90}],
            "icpRules": [{"field": "custom_fields.country", "op": "GTE", "value": 5, "points": 10}],
        },
        "config { tierThresholds { tier minScore } }",
    )
    assert good["userErrors"] == []
    assert good["config"]["tierThresholds"] == [
        {"tier": "tier_1", "minScore": 90.0},
        {"tier": "tier_2", "minScore": 50.0},
        {"tier": "tier_3", "minScore": 30.0},
    ]
    await _target(api, account_id, rationale="再評価")
    assert (await _abm(api, account_id))["icpScore"] == 0


class FakePrivacy:
    """Stands in for the privacy plugin's consent ledger."""

    def __init__(self):
        self.consented = set()
        self.provisions = []

    @hookimpl
    def enishi_consent_check(self, uow, contact_ids, purpose):
        return {c: c in self.consented for c in contact_ids}

    @hookimpl
    def enishi_record_provision(self, uow, contact_ids, recipient, purpose):
        self.provisions.append((tuple(contact_ids), recipient, purpose))


async def _audience_setup(api):
    account = await create_account(api, name="Acme")
    await _target(api, account["id"], tier="tier_1")
    ids = []
    for name in ("同意あり", "同意なし"):
        contact = await create_contact(api, familyName=name, accounts=[{"accountId": account["id"]}])
        await _role(api, account["id"], contact["id"], "champion")
        ids.append(contact["id"])
    return ids


EXPORT = "members { role contact { familyName } account { name } } excludedWithoutConsent"


async def test_hook_enishi_consent_check(enishi_api):
    import base64
    import uuid

    privacy = FakePrivacy()
    api = await enishi_api(plugins=[("fakeprivacy", privacy)], disabled_plugins=frozenset({"privacy"}))
    consenting, _ = await _audience_setup(api)
    privacy.consented.add(uuid.UUID(base64.b64decode(consenting).decode().split(":")[1]))
    payload = await api.mutate("exportAudience", {"destination": "MA tool", "tier": "tier_1"}, EXPORT, role="marketing")
    assert payload["members"] == [{"role": "champion", "contact": {"familyName": "同意あり"}, "account": {"name": "Acme"}}]
    assert payload["excludedWithoutConsent"] == 1
    assert privacy.provisions == []  # not a third party


async def test_hook_enishi_record_provision(enishi_api):
    from sqlalchemy import select

    from enishi.models import Contact

    privacy = FakePrivacy()
    api = await enishi_api(plugins=[("fakeprivacy", privacy)], disabled_plugins=frozenset({"privacy"}))
    await _audience_setup(api)
    payload = await api.mutate(
        "exportAudience", {"destination": "Partner Ads Inc.", "thirdParty": True}, EXPORT, role="marketing"
    )
    assert payload["members"] == [] and payload["excludedWithoutConsent"] == 2
    assert privacy.provisions == []  # nothing provided: nothing recorded
    async with api.runtime.read_session() as session:
        privacy.consented.update((await session.execute(select(Contact.id))).scalars())
    payload = await api.mutate(
        "exportAudience", {"destination": "Partner Ads Inc.", "thirdParty": True}, EXPORT, role="marketing"
    )
    assert len(payload["members"]) == 2
    assert [(len(ids), recipient, purpose) for ids, recipient, purpose in privacy.provisions] == [
        (2, "Partner Ads Inc.", "marketing")
    ]


async def test_audience_export_works_without_a_privacy_plugin(enishi_api):
    api = await enishi_api(disabled_plugins=frozenset({"privacy"}))
    await _audience_setup(api)
    payload = await api.mutate("exportAudience", {"destination": "MA tool", "roles": ["champion"]}, EXPORT, role="marketing")
    assert len(payload["members"]) == 2 and payload["excludedWithoutConsent"] == 0
    denied = await api.post('mutation { exportAudience(input: {destination: "x"}) { excludedWithoutConsent } }', role="support")
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_roles_are_personal_data_exported_and_erased(api, acme):
    import base64
    import uuid

    from enishi import DataSubject

    account_id, people = acme
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": people["Tanaka"]}, role="compliance"
    )
    assert data["node"]["personalData"]["abm"] == {"buying_roles": [{"account": "Acme Holdings", "role": "decision_maker"}]}
    await _meeting(api, people["Tanaka"], "06-01")
    tanaka = uuid.UUID(base64.b64decode(people["Tanaka"]).decode().split(":")[1])
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(tanaka)))
    assert reports["abm"].affected == {"abm_buying_role:delete": 1}
    abm = await _abm(api, account_id)
    assert "decision_maker" in abm["coverage"]["missing"]


async def test_merging_contacts_moves_their_roles(api, acme):
    account_id, people = acme
    duplicate = await create_contact(api, familyName="Tanaka", accounts=[{"accountId": account_id}])
    payload = await api.mutate(
        "mergeContacts", {"survivorId": duplicate["id"], "mergedIds": [people["Tanaka"]]}, "moves { plugin count }"
    )
    assert {"plugin": "abm", "count": 1} in payload["moves"]
    committee = (await _abm(api, account_id))["buyingCommittee"]
    assert sorted(m["role"] for m in committee) == ["champion", "decision_maker", "end_user"]


async def test_buying_committee_is_hidden_from_roles_without_people_access(api, acme):
    account_id, _ = acme
    body = (
        await api.post(
            "query($id: ID!) { node(id: $id) { ... on Account { abm { stage buyingCommittee { role } } } } }",
            {"id": account_id},
            role="support",
        )
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_assigning_a_role_requires_the_contact_to_be_at_the_account(api, acme):
    account_id, _ = acme
    outsider = await create_contact(api, familyName="部外者")
    payload = await api.mutate(
        "assignBuyingRole", {"accountId": account_id, "contactId": outsider["id"], "role": "champion"}, "account { id }"
    )
    assert payload["userErrors"][0] == {"field": "contactId", "message": "is not a contact of this account", "code": "NOT_LINKED"}


ABM_FIELDS = {
    "Query.targetAccounts": "abm.read",
    "Query.engagementConfig": "abm.read",
    "Mutation.setTargetAccount": "abm.write",
    "Mutation.untargetAccount": "abm.write",
    "Mutation.createDepartment": "abm.write",
    "Mutation.assignBuyingRole": "abm.write",
    "Mutation.upsertAccountPlan": "abm.write",
    "Mutation.createCoverageTasks": "abm.write",
    "Mutation.setEngagementConfig": "abm.configure",
    "Mutation.exportAudience": "abm.export",
}


async def test_every_abm_root_field_has_a_permission(enishi_api):
    assert await root_fields_added_by(enishi_api, "abm") == set(ABM_FIELDS)


@pytest.mark.parametrize("role", ["sales", "support", "marketing", "compliance"])
async def test_roles_reach_abm_fields_per_their_permissions(api, role):
    account = await create_account(api, name="Acme")
    granted = api.runtime.permissions.for_roles([role])
    body = (
        await api.post(
            "mutation($a: ID!) { setTargetAccount(input: {accountId: $a}) { userErrors { code } } }",
            {"a": account["id"]},
            role=role,
        )
    ).json()
    assert ("errors" in body) == ("abm.write" not in granted), body
    body = (await api.post("{ targetAccounts { totalCount } }", role=role)).json()
    assert ("errors" in body) == ("abm.read" not in granted), body


async def test_engagement_trend_shows_the_score_week_by_week(api, acme):
    account_id, people = acme
    await _meeting(api, people["Tanaka"], "05-12")
    await _meeting(api, people["Sato"], "06-05")
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Account { abm { engagement { activities trend { at score } } } } } }",
        {"id": account_id},
    )
    engagement = data["node"]["abm"]["engagement"]
    assert engagement["activities"] == 2
    assert [(p["at"][:10], p["score"]) for p in engagement["trend"]] == [
        ("2024-05-20", 20.0),
        ("2024-05-27", 20.0),
        ("2024-06-03", 20.0),
        ("2024-06-10", 33.0),
    ]


async def test_the_daily_job_stores_the_scores_and_stages_each_account_computes_alone(enishi_api):
    """The job scores 500 accounts at a time; what it stores for a varied set of accounts is what
    each account's live engagement computes alone, and what the job stored before it batched."""
    deals = Deals()
    api = await enishi_api(plugins=[("deals", deals)])
    kinds = [
        {"type": "meeting"},
        {"type": "call", "durationSeconds": 300},
        {"type": "call"},
        {"type": "email", "direction": "inbound"},
        {"type": "email", "direction": "outbound"},
        {"type": "event"},
    ]
    roles = ["decision_maker", "champion", "influencer", "end_user", None]
    accounts = []
    for i in range(6):
        account = await create_account(api, name=f"Account {i}")
        await _target(api, account["id"])
        departments = [await _department(api, account["id"], f"部{n}", "other") for n in range(i % 3)]
        people = []
        for n in range(i % 4 + 1):
            person = await create_contact(api, familyName=f"P{i}-{n}", accounts=[{"accountId": account["id"]}])
            if (role := roles[(i + n) % len(roles)]) is not None:
                await _role(api, account["id"], person["id"], role, departments[n % len(departments)] if departments else None)
            people.append(person["id"])
        for n in range(i * 2):
            await api.mutate(
                "logActivity",
                {
                    "summary": "x",
                    "contactIds": people[n % len(people) :][:2],
                    "occurredAt": f"2024-{5 + n % 2:02d}-{1 + 4 * n % 28:02d}T10:00:00+09:00",
                    **kinds[(i + n) % len(kinds)],
                },
                "activity { id }",
            )
        accounts.append(account["id"])
    await api.mutate(
        "logActivity", {"type": "event", "summary": "y", "accountIds": accounts[1:3], "contactIds": []}, "activity { id }"
    )
    deals.stages[uuid.UUID(base64.b64decode(accounts[5]).decode().split(":")[1])] = "open"
    api.clock.set(dt.datetime(2024, 6, 20, tzinfo=dt.UTC))
    assert "abm.recompute" in await run_due_jobs(api.runtime)
    stored = []
    for account_id in accounts:
        data = await api.graphql(
            "query($id: ID!) { node(id: $id) { ... on Account { abm { stage engagement { score raw trend { score } } } } } }",
            {"id": account_id},
        )
        abm = data["node"]["abm"]
        assert abm["engagement"]["score"] == abm["engagement"]["trend"][-1]["score"]  # live, this account alone
        stored.append((abm["stage"], abm["engagement"]["score"], abm["engagement"]["raw"]))
    # As the job stored them when it scored, asked deal plugins and wrote one account at a time.
    assert stored == [
        ("target", 0.0, 0.0),
        ("aware", 8.0, 8.0),
        ("aware", 22.7, 20.6),
        ("aware", 16.0, 16.0),
        ("aware", 21.5, 21.5),
        ("opportunity", 50.6, 46.0),
    ]

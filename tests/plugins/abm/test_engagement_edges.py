"""Engagement where its aggregation has edges: a contact with a role at two target accounts, several
roles on one activity (the best multiplier, a tie broken by the role's name), departments counted per
activity, an activity of weight 0 and one outside the window."""

from tests.helpers import create_account, create_contact
from tests.plugins.abm.test_abm import _department, _role, _target

ENGAGEMENT = """query($id: ID!) { node(id: $id) { ... on Account { abm { stage engagement {
    score raw activities departmentsEngaged byRole { name points } byDepartment { name points } } } } } }"""


async def _log(api, activity_type, contacts, occurred_at=None):
    extra = {"occurredAt": occurred_at} if occurred_at else {}
    payload = await api.mutate(
        "logActivity", {"type": activity_type, "summary": "x", "contactIds": contacts, **extra}, "activity { id }"
    )
    assert payload["userErrors"] == [], payload


async def _engagement(api, account_id):
    abm = (await api.graphql(ENGAGEMENT, {"id": account_id}))["node"]["abm"]
    return abm["stage"], abm["engagement"]


async def test_each_account_counts_its_own_roles_and_each_activity_once(api):
    a = await create_account(api, name="A")
    b = await create_account(api, name="B")
    for account in (a, b):
        await _target(api, account["id"])
    sales = await _department(api, a["id"], "営業", "sales")
    finance = await _department(api, a["id"], "経理", "finance")
    development = await _department(api, b["id"], "開発", "engineering")
    x = await create_contact(api, familyName="X", accounts=[{"accountId": a["id"]}, {"accountId": b["id"]}])
    y = await create_contact(api, familyName="Y", accounts=[{"accountId": a["id"]}])
    z = await create_contact(api, familyName="Z", accounts=[{"accountId": a["id"]}])
    await _role(api, a["id"], x["id"], "influencer", sales)  # 1.2 at A
    await _role(api, b["id"], x["id"], "decision_maker", development)  # 2.0 at B
    await _role(api, a["id"], y["id"], "executive_sponsor", finance)  # 2.0
    await _role(api, a["id"], z["id"], "budget_holder")  # 2.0, no department
    for _ in range(3):
        await _log(api, "meeting", [x["id"], y["id"]])
    await _log(api, "note", [z["id"]])  # weight 0: an activity, but Z's role engages nothing
    await _log(api, "meeting", [z["id"]], "2024-04-10T10:00:00+09:00")  # before the 30-day window

    # A: each meeting at Y's 2.0 (X's 1.2 loses), both departments; no decision maker yet.
    assert await _engagement(api, a["id"]) == (
        "engaged",
        {
            "score": 66.0,
            "raw": 60.0,
            "activities": 4,
            "departmentsEngaged": 2,
            "byRole": [{"name": "executive_sponsor", "points": 60.0}],
            "byDepartment": [{"name": "営業", "points": 60.0}, {"name": "経理", "points": 60.0}],
        },
    )
    # B: the same meetings through X, at X's role there; one department.
    assert await _engagement(api, b["id"]) == (
        "engaged",
        {
            "score": 60.0,
            "raw": 60.0,
            "activities": 3,
            "departmentsEngaged": 1,
            "byRole": [{"name": "decision_maker", "points": 60.0}],
            "byDepartment": [{"name": "開発", "points": 60.0}],
        },
    )

    # Y and Z tie at 2.0: the role named last (executive_sponsor) takes the points, and Z, a budget
    # holder, engages a decision maker: A becomes an MQA.
    await _log(api, "meeting", [y["id"], z["id"]])
    stage, engagement = await _engagement(api, a["id"])
    assert (stage, engagement["score"], engagement["activities"]) == ("mqa", 88.0, 5)
    assert engagement["byRole"] == [{"name": "executive_sponsor", "points": 80.0}]
    assert engagement["byDepartment"] == [{"name": "営業", "points": 60.0}, {"name": "経理", "points": 80.0}]

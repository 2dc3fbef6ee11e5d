import uuid

from enishi.plugin import to_global_id
from tests.helpers import count_rows, create_account, create_contact, log_activity

TIMELINE = "timeline { totalCount edges { node { summary occurredAt } } pageInfo { hasNextPage endCursor } }"


async def test_timeline_orders_by_when_it_happened_not_when_it_was_logged(api):
    contact = await create_contact(api, familyName="山田")
    await log_activity(api, contactIds=[contact["id"]], summary="today", occurredAt="2024-06-10T09:00:00+09:00")
    await log_activity(api, contactIds=[contact["id"]], summary="last week, logged late", occurredAt="2024-06-03T15:00:00+09:00")
    await log_activity(api, contactIds=[contact["id"]], summary="yesterday", occurredAt="2024-06-09T10:00:00+09:00")
    data = await api.graphql(f"query($id: ID!) {{ node(id: $id) {{ ... on Contact {{ {TIMELINE} }} }} }}", {"id": contact["id"]})
    timeline = data["node"]["timeline"]
    assert [e["node"]["summary"] for e in timeline["edges"]] == ["today", "yesterday", "last week, logged late"]
    assert timeline["edges"][2]["node"]["occurredAt"] == "2024-06-03T06:00:00+00:00"  # stored as the UTC instant


async def test_timeline_pages_with_cursors_after_the_first_page(api):
    contact = await create_contact(api, familyName="山田")
    for day in range(1, 6):
        await log_activity(api, contactIds=[contact["id"]], summary=f"day {day}", occurredAt=f"2024-06-0{day}T09:00:00+09:00")
    query = """query($id: ID!, $after: String) { node(id: $id) { ... on Contact {
        timeline(first: 2, after: $after) { totalCount edges { node { summary } } pageInfo { hasNextPage endCursor } } } } }"""
    seen, after = [], None
    while True:
        page = (await api.graphql(query, {"id": contact["id"], "after": after}))["node"]["timeline"]
        assert page["totalCount"] == 5
        seen += [e["node"]["summary"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["day 5", "day 4", "day 3", "day 2", "day 1"]


async def test_account_timeline_includes_its_contacts_activities_once(api):
    account = await create_account(api, name="Acme")
    tanaka = await create_contact(api, familyName="田中", accounts=[{"accountId": account["id"]}])
    suzuki = await create_contact(api, familyName="鈴木", accounts=[{"accountId": account["id"]}])
    outsider = await create_contact(api, familyName="部外者")
    await log_activity(
        api, accountIds=[account["id"]], summary="account-level note", type="note", occurredAt="2024-06-01T00:00:00Z"
    )
    await log_activity(
        api,
        contactIds=[tanaka["id"], suzuki["id"]],
        accountIds=[account["id"]],
        summary="meeting with both",
        type="meeting",
        occurredAt="2024-06-02T00:00:00Z",
    )
    await log_activity(api, contactIds=[suzuki["id"]], summary="call with suzuki", occurredAt="2024-06-03T00:00:00Z")
    await log_activity(api, contactIds=[outsider["id"]], summary="unrelated", occurredAt="2024-06-04T00:00:00Z")
    data = await api.graphql(f"query($id: ID!) {{ node(id: $id) {{ ... on Account {{ {TIMELINE} }} }} }}", {"id": account["id"]})
    assert [e["node"]["summary"] for e in data["node"]["timeline"]["edges"]] == [
        "call with suzuki",
        "meeting with both",
        "account-level note",
    ]
    assert data["node"]["timeline"]["totalCount"] == 3
    typed = await api.graphql(
        'query($id: ID!) { node(id: $id) { ... on Account { timeline(types: ["meeting"]) { totalCount } } } }',
        {"id": account["id"]},
    )
    assert typed["node"]["timeline"]["totalCount"] == 1


async def test_activity_shows_its_targets_actor_and_source(api):
    account = await create_account(api, name="Acme")
    contact = await create_contact(api, familyName="田中")
    activity = await log_activity(
        api, contactIds=[contact["id"]], accountIds=[account["id"]], durationSeconds=600, channel="phone", direction="outbound"
    )
    data = await api.graphql(
        """query($id: ID!) { node(id: $id) { ... on Activity {
        type channel direction durationSeconds sourcePlugin contacts { familyName }
        accounts { name } actor { displayName } } } }""",
        {"id": activity["id"]},
    )
    assert data["node"] == {
        "type": "call",
        "channel": "phone",
        "direction": "outbound",
        "durationSeconds": 600,
        "sourcePlugin": "core",
        "contacts": [{"familyName": "田中"}],
        "accounts": [{"name": "Acme"}],
        "actor": {"displayName": "test admin"},
    }


async def test_bad_activities_are_refused_and_leave_no_trace(api):
    contact = await create_contact(api, familyName="田中")
    payload = await api.mutate(
        "logActivity",
        {"type": "carrier_pigeon", "summary": "", "contactIds": [], "direction": "sideways", "durationSeconds": -5},
        "activity { id }",
    )
    assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {
        ("type", "UNKNOWN_ACTIVITY_TYPE"),
        ("summary", "REQUIRED"),
        ("contactIds", "REQUIRED"),
        ("direction", "INVALID_CHOICE"),
        ("durationSeconds", "OUT_OF_RANGE"),
    }
    naive = await api.mutate(
        "logActivity",
        {"type": "call", "summary": "x", "contactIds": [contact["id"]], "occurredAt": "2024-06-10T09:00:00"},
        "activity { id }",
    )
    assert naive["userErrors"] == [{"field": "occurredAt", "message": "needs a time zone offset", "code": "NAIVE_DATETIME"}]
    assert await count_rows(api, "core_activity") == 0


async def test_activities_query_filters_the_whole_timeline(api):
    contact = await create_contact(api, familyName="田中")
    await log_activity(api, contactIds=[contact["id"]], type="email", summary="提案書を送付", occurredAt="2024-05-01T00:00:00Z")
    await log_activity(api, contactIds=[contact["id"]], type="call", summary="電話", occurredAt="2024-06-01T00:00:00Z")
    data = await api.graphql("""{ activities(filter: {type: {in: ["email"]}, occurredAt: {lt: "2024-05-15T00:00:00Z"}}) {
        totalCount edges { node { summary } } } }""")
    assert data["activities"] == {"totalCount": 1, "edges": [{"node": {"summary": "提案書を送付"}}]}


async def test_next_action_is_the_earliest_open_task_on_the_account_or_its_contacts(api):
    account = await create_account(api, name="Acme")
    contact = await create_contact(api, familyName="田中", accounts=[{"accountId": account["id"]}])
    query = "query($id: ID!) { node(id: $id) { ... on Account { nextActionAt tasks { title } } } }"
    assert (await api.graphql(query, {"id": account["id"]}))["node"]["nextActionAt"] is None
    late = await api.mutate(
        "createTask", {"title": "契約書送付", "dueAt": "2024-06-20T10:00:00+09:00", "accountId": account["id"]}, "task { id }"
    )
    soon = await api.mutate(
        "createTask",
        {"title": "電話する", "dueAt": "2024-06-12T10:00:00+09:00", "contactId": contact["id"]},
        "task { id status assignee { displayName } }",
    )
    assert soon["task"]["status"] == "open" and soon["task"]["assignee"] == {"displayName": "test admin"}
    data = (await api.graphql(query, {"id": account["id"]}))["node"]
    assert data["nextActionAt"] == "2024-06-12T01:00:00+00:00"
    assert data["tasks"] == [{"title": "契約書送付"}]
    done = await api.mutate("updateTask", {"id": soon["task"]["id"], "status": "done"}, "task { status completedAt }")
    assert done["task"] == {"status": "done", "completedAt": "2024-06-10T00:00:00+00:00"}
    assert (await api.graphql(query, {"id": account["id"]}))["node"]["nextActionAt"] == "2024-06-20T01:00:00+00:00"
    assert await count_rows(api, "core_outbox WHERE type = 'task.completed'") == 1
    assert late["userErrors"] == []


async def test_tasks_query_lists_soonest_first(api):
    for title, due in [("later", "2024-07-01T00:00:00Z"), ("undated", None), ("soon", "2024-06-11T00:00:00Z")]:
        await api.mutate("createTask", {"title": title, "dueAt": due}, "task { id }")
    data = await api.graphql('{ tasks(filter: {status: {eq: "open"}}) { edges { node { title } } } }')
    assert [e["node"]["title"] for e in data["tasks"]["edges"]] == ["soon", "later", "undated"]


async def test_activities_can_be_corrected_and_deleted_with_events(api):
    contact = await create_contact(api, familyName="田中")
    activity = await log_activity(api, contactIds=[contact["id"]], summary="電話", occurredAt="2024-06-10T09:00:00+09:00")
    fixed = await api.mutate(
        "updateActivity",
        {"id": activity["id"], "summary": "電話（不在）", "occurredAt": "2024-06-07T17:30:00+09:00"},
        "activity { summary occurredAt type }",
    )
    assert fixed["activity"] == {"summary": "電話（不在）", "occurredAt": "2024-06-07T08:30:00+00:00", "type": "call"}
    blank = await api.mutate("updateActivity", {"id": activity["id"], "summary": ""}, "activity { id }")
    assert blank["userErrors"][0]["code"] == "REQUIRED"
    deleted = await api.mutate("deleteActivity", {"id": activity["id"]}, "destroyedId")
    assert deleted["destroyedId"] == activity["id"]
    events = [
        t
        for t in ("activity.logged", "activity.updated", "activity.deleted")
        if await count_rows(api, f"core_outbox WHERE type = '{t}'") == 1
    ]
    assert events == ["activity.logged", "activity.updated", "activity.deleted"]
    assert await count_rows(api, "core_activity") == 0


async def test_tasks_can_be_deleted(api):
    created = await api.mutate("createTask", {"title": "電話する"}, "task { id }")
    deleted = await api.mutate("deleteTask", {"id": created["task"]["id"]}, "destroyedId")
    assert deleted == {"destroyedId": created["task"]["id"], "userErrors": []}
    again = await api.mutate("deleteTask", {"id": created["task"]["id"]}, "destroyedId")
    assert again["userErrors"][0]["code"] == "NOT_FOUND"
    assert await count_rows(api, "core_task") == 0
    assert await count_rows(api, "core_outbox WHERE type = 'task.deleted'") == 1


async def test_not_found_says_what_kind_of_record_was_not_found(api):
    def missing(type_name: str) -> str:
        return to_global_id(type_name, uuid.uuid4())

    def not_found(field: str, what: str) -> list[dict]:
        return [{"field": field, "message": f"no such {what}", "code": "NOT_FOUND"}]

    activity = (await api.mutate("updateActivity", {"id": missing("Activity"), "summary": "x"}))["userErrors"]
    assert activity == not_found("id", "activity")
    assert (await api.mutate("deleteActivity", {"id": missing("Activity")}))["userErrors"] == not_found("id", "activity")
    target = await api.mutate("logActivity", {"type": "call", "summary": "x", "contactIds": [missing("Contact")]})
    assert target["userErrors"] == not_found("contactIds.0", "contact")
    task = await api.mutate("createTask", {"title": "電話する", "accountId": missing("Account")})
    assert task["userErrors"] == not_found("accountId", "account")
    assert (await api.mutate("deleteTask", {"id": missing("Task")}))["userErrors"] == not_found("id", "task")
    purchase = await api.mutate("createPurchase", {"contactId": missing("Contact"), "amount": 1000})
    assert purchase["userErrors"] == not_found("contactId", "contact")
    survivor = await create_contact(api, familyName="田中")
    merged = await api.mutate("mergeContacts", {"survivorId": survivor["id"], "mergedIds": [missing("Contact")]})
    assert merged["userErrors"] == not_found("mergedIds", "contact")
    assert [await count_rows(api, table) for table in ("core_activity", "core_task", "core_purchase")] == [0, 0, 0]


async def test_first_pages_of_many_timelines_come_right_in_one_page_of_owners(api):
    """The first pages of every owner on a page are loaded together (a window on SQLite, a lateral
    join on PostgreSQL): each owner gets its own items, newest first, cut at `first`, with the
    right `hasNextPage` and count, filters and the account timeline's de-duplication included."""
    acme, globex = await create_account(api, name="Acme"), await create_account(api, name="Globex")
    await create_contact(api, familyName="空", accounts=[{"accountId": acme["id"]}])
    two = await create_contact(api, familyName="二", accounts=[{"accountId": acme["id"]}])
    five = await create_contact(api, familyName="五", accounts=[{"accountId": globex["id"]}])
    for day in (1, 2):
        await log_activity(
            api, contactIds=[two["id"]], summary=f"two {day}", type="meeting", occurredAt=f"2024-06-0{day}T09:00:00Z"
        )
    for day in range(1, 6):
        await log_activity(
            api,
            contactIds=[five["id"], two["id"]] if day == 5 else [five["id"]],
            summary=f"five {day}",
            occurredAt=f"2024-06-0{day}T10:00:00Z",
        )
    await log_activity(
        api,
        accountIds=[acme["id"]],
        contactIds=[two["id"]],
        summary="acme and two",
        type="meeting",
        occurredAt="2024-05-01T00:00:00Z",
    )
    people = await api.graphql("""{ contacts(first: 10, orderBy: [{field: FAMILY_NAME}]) { nodes { familyName
        timeline(first: 3) { totalCount edges { node { summary } } pageInfo { hasNextPage } } } } }""")
    got = {
        c["familyName"]: (
            [e["node"]["summary"] for e in c["timeline"]["edges"]],
            c["timeline"]["pageInfo"]["hasNextPage"],
            c["timeline"]["totalCount"],
        )
        for c in people["contacts"]["nodes"]
    }
    assert got == {
        "空": ([], False, 0),
        "二": (["five 5", "two 2", "two 1"], True, 4),
        "五": (["five 5", "five 4", "five 3"], True, 5),
    }
    accounts = await api.graphql("""{ accounts(first: 10) { nodes { name
        timeline(first: 2, types: ["meeting"]) { totalCount edges { node { summary } } pageInfo { hasNextPage } } } } }""")
    got = {
        a["name"]: (
            [e["node"]["summary"] for e in a["timeline"]["edges"]],
            a["timeline"]["pageInfo"]["hasNextPage"],
            a["timeline"]["totalCount"],
        )
        for a in accounts["accounts"]["nodes"]
    }
    assert got == {"Acme": (["two 2", "two 1"], True, 3), "Globex": ([], False, 0)}

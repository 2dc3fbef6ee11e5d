"""`enishi keys rotate`: every subject and record key (activities, tasks, tickets) re-wrapped under the new
key-encryption key, resumably, while the old key still unwraps what is not re-wrapped yet."""

import base64
import secrets

from sqlalchemy import text

from tests.core.test_cli import enishi
from tests.helpers import create_contact, log_activity

OLD = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="  # the test suite's KEK
NEW = base64.b64encode(secrets.token_bytes(32)).decode()


async def _evidence(api, contact_id):
    data = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": contact_id}, role="compliance"
    )
    return data["node"]["personalData"]["privacy"]["consents"][0]["evidence"]


async def test_keys_rotate_rewraps_every_subject_key(enishi_api, enishi_fresh_migrated):
    api = await enishi_api(database_url=enishi_fresh_migrated)
    people = [await create_contact(api, familyName=f"鍵{i}") for i in range(3)]
    for person in people:
        await api.mutate(
            "recordConsent",
            {"contactId": person["id"], "purpose": "marketing", "state": "granted", "evidence": f"form {person['id']}"},
            "consent { state }",
        )
    await log_activity(api, summary="鍵の件で電話", contactIds=[people[0]["id"], people[1]["id"]])
    await api.mutate("createTask", {"title": "鍵を返す", "contactId": people[2]["id"]}, "task { id }")
    await api.mutate("createTicket", {"subject": "鍵の再発行", "requesterId": people[2]["id"]}, "ticket { id }", role="manager")
    async with api.runtime.read_session() as session:
        before = dict((await session.execute(text("SELECT contact_id, wrapped_key FROM core_subject_key"))).all())

    env = {
        "ENISHI_DATABASE_URL": enishi_fresh_migrated,
        "ENISHI_KEK": NEW,
        "ENISHI_KEK_PREVIOUS": OLD,
        "ENISHI_ENVIRONMENT": "production",
    }
    assert "subject keys 3, record keys 3 " in enishi("keys", "rotate", env=env).stdout
    assert "subject keys 0, record keys 0 " in enishi("keys", "rotate", env=env).stdout  # resumable: nothing left

    async with api.runtime.read_session() as session:
        after = dict((await session.execute(text("SELECT contact_id, wrapped_key FROM core_subject_key"))).all())
    assert set(after) == set(before) and all(after[c] != before[c] for c in before)
    rotated = await enishi_api(database_url=enishi_fresh_migrated, key_encryption_key=NEW)
    assert await _evidence(rotated, people[0]["id"]) == f"form {people[0]['id']}"
    # Blind indexes and search tokens were recomputed under the new key: search still finds people.
    found = await rotated.graphql('{ contacts(filter: {search: "鍵1"}) { nodes { familyName } } }', role="compliance")
    assert [node["familyName"] for node in found["contacts"]["nodes"]] == ["鍵1"]
    timeline = await rotated.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { timeline { nodes { summary } } } } }",
        {"id": people[1]["id"]},
        role="compliance",
    )
    assert timeline["node"]["timeline"]["nodes"] == [{"summary": "鍵の件で電話"}]
    records = await rotated.graphql("{ tasks { nodes { title } } tickets { nodes { subject } } }", role="compliance")
    assert records == {"tasks": {"nodes": [{"title": "鍵を返す"}]}, "tickets": {"nodes": [{"subject": "鍵の再発行"}]}}
    without_old = enishi(
        "keys",
        "rotate",
        env={**env, "ENISHI_KEK": base64.b64encode(secrets.token_bytes(32)).decode(), "ENISHI_KEK_PREVIOUS": ""},
        check=False,
    )
    assert without_old.returncode != 0 and "ENISHI_KEK_PREVIOUS" in without_old.stderr

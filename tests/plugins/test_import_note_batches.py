"""An import's dated notes reach the bundled plugins together (`enishi_on_events`): each reacts to
the chunk's notes at once as it reacted to each note — a deal revived, points awarded, an account
rescored, customers' health scored, a restricted person's note refused."""

from sqlalchemy import event

from enishi.services.imports import create_import, run_import
from tests.core.import_files import csv_bytes, graphql_import
from tests.helpers import create_account, create_contact
from tests.plugins.loyalty.helpers import program
from tests.plugins.privacy.helpers import intake, run_request
from tests.plugins.sales.helpers import deal, pipeline

BALANCE = "query($id: ID!) { node(id: $id) { ... on LoyaltyMember { balance } } }"
STALE = "query($id: ID!) { node(id: $id) { ... on SalesDeal { isStale lastActivityAt } } }"
ABM = "query($id: ID!) { node(id: $id) { ... on Account { abm { engagement { raw } } } } }"
HEALTH = "query($id: ID!) { node(id: $id) { ... on Contact { health { band } } } }"


def _notes_file(api, contact_ids: list[str]) -> bytes:
    today = api.clock.now().astimezone(api.runtime.settings.zone).date()
    rows = [["ID", "最終対応日", "メモ"]] + [
        [contact_id, f"{today:%Y/%m/%d}", f"対応{i}"] for i, contact_id in enumerate(contact_ids)
    ]
    return csv_bytes(rows)


async def _import_notes(api, contact_ids: list[str]) -> dict:
    return (await graphql_import(api, "notes.csv", _notes_file(api, contact_ids)))["import"]


async def test_an_imports_notes_revive_deals_award_points_rescore_accounts_and_customers(api):
    created = await pipeline(api)  # its first stage rots after 14 days
    account = await create_account(api, name="縁商事")
    buyer = await create_contact(api, familyName="佐藤", accounts=[{"accountId": account["id"]}])
    lead = await deal(api, created["id"], account["id"], name="lead")
    await api.mutate("setDealContactRole", {"dealId": lead["id"], "contactId": buyer["id"]}, "contactRole { role }")
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    await api.mutate("setEngagementConfig", {"weights": [{"activityType": "note", "weight": 2}]}, "config { windowDays }")
    program_id = await program(api)
    rule = {
        "programId": program_id,
        "name": "対応",
        "kind": "activity",
        "activityType": "note",
        "points": 10,
        "limitCount": 5,
        "limitPeriod": "day",
    }
    assert (await api.mutate("createEarningRule", rule, "rule { id }"))["userErrors"] == []
    regular = await create_contact(api, familyName="山田")
    member_id = (await api.mutate("enrollMember", {"programId": program_id, "contactId": regular["id"]}, "member { id }"))[
        "member"
    ]["id"]
    api.clock.advance(days=15)
    assert (await api.graphql(STALE, {"id": lead["id"]}))["node"]["isStale"] is True

    done = await _import_notes(api, [buyer["id"], regular["id"]])
    assert (done["status"], done["updatedCount"], done["errorCount"]) == ("completed", 2, 0)

    assert (await api.graphql(STALE, {"id": lead["id"]}))["node"] == {
        "isStale": False,
        "lastActivityAt": api.clock.now().isoformat(),
    }
    assert (await api.graphql(BALANCE, {"id": member_id}))["node"]["balance"] == 10
    assert (await api.graphql(ABM, {"id": account["id"]}))["node"]["abm"]["engagement"]["raw"] == 2.0
    assert (await api.graphql(HEALTH, {"id": buyer["id"]}))["node"]["health"] is not None


async def test_a_restricted_persons_note_in_an_import_stops_its_chunk(api):
    person = await create_contact(api, familyName="制限", emails=[{"address": "seigen@example.jp"}])
    other = await create_contact(api, familyName="自由")
    await run_request(api, (await intake(api, person["id"], "restriction"))["id"])
    done = await _import_notes(api, [other["id"], person["id"]])
    assert (done["status"], done["processed"]) == ("failed", 0)
    timeline = "query($id: ID!) { node(id: $id) { ... on Contact { timeline { totalCount } } } }"
    assert (await api.graphql(timeline, {"id": other["id"]}))["node"]["timeline"]["totalCount"] == 0


async def _statements_of_a_run(api, contact_ids: list[str]) -> int:
    async with api.runtime.unit_of_work() as uow:
        job = await create_import(uow, _notes_file(api, contact_ids), "notes.csv")
    sent = 0

    def count(*_) -> None:
        nonlocal sent
        sent += 1

    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert (await run_import(api.runtime, job.id)).status == "completed"  # type: ignore[union-attr]
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", count)
    return sent


async def test_the_plugins_react_to_a_chunks_notes_in_a_few_statements_whatever_their_number(api):
    """Each note of the chunk costs the core a few statements (the contact's emails and phones
    looked at); the plugins' share does not grow with the notes (it was some fifteen a note)."""
    account = await create_account(api, name="縁商事")
    contacts = [
        (await create_contact(api, familyName=f"顧客{i}", accounts=[{"accountId": account["id"]}]))["id"] for i in range(22)
    ]
    two, twenty = await _statements_of_a_run(api, contacts[:2]), await _statements_of_a_run(api, contacts[2:])
    assert (twenty - two) / 18 <= 4, (two, twenty)

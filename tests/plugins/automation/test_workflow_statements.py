"""What a workflow step reads and writes (issue 26, bench/workflows.py): a step is its run
locked, its effect, its log entry and the run moved on, with no savepoint and no key of its own;
`add_tag` writes its tag by one insert that does nothing when the row is there (no read first);
a `send_email` step judges its recipient in one statement (the contact locked, its primary
address and the purpose's cap joined) and reads no row for a field its record has no
column for (a contact's `account_id`), and the outbox's delivery takes the version's
definition from the process's cache and reads the trigger's record only when a template names
it. Counted per statement, on either database."""

import re

from sqlalchemy import event

from enishi.plugins.automation import workflow_engine
from enishi.worker import deliver_waiting_events
from tests.helpers import create_account, create_contact
from tests.plugins.automation.test_workflow_email import ON_CONTACT_UPDATE
from tests.plugins.automation.test_workflow_runs import on_account
from tests.plugins.automation.workflow_helpers import create_workflow, runs


async def _statements(api, work) -> list[str]:
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        await work(api.runtime)
    finally:
        event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    return statements


def _reading(table: str, statements: list[str]) -> list[str]:
    """The SELECTs that read `table` (in FROM or a JOIN)."""
    return [s for s in statements if s.startswith("SELECT") and re.search(rf"(FROM|JOIN) {table}\b(?!_)", s)]


async def test_a_workflow_mail_judges_its_recipient_in_one_read_and_the_delivery_reads_only_what_the_templates_name(
    enishi_api, enishi_sent_mail
):
    api = await enishi_api(disabled_plugins=frozenset({"privacy"}))  # no consent ledger: no consent read
    workflow = await create_workflow(api, ON_CONTACT_UPDATE)
    contact = await create_contact(api, familyName="山田", emails=[{"address": "yamada@mail.example.jp"}])
    updated = await api.mutate("updateContact", {"id": contact["id"], "givenName": "花子"}, "contact { id }")
    assert updated["userErrors"] == []
    await deliver_waiting_events(api.runtime)  # the outbox starts the run

    step = await _statements(api, workflow_engine.run_due)
    [judged] = _reading("core_contact_email", step)  # lock, address and cap: one statement
    assert _reading("automation_frequency_cap", step) == [judged]
    assert _reading("core_contact", step) == [judged]  # not the row again for an account it has no column for
    # Mailed: the send names the run for a data subject's erasure; no row in the index of people.
    assert [s for s in step if "automation_workflow_person" in s] == []

    delivery = await _statements(api, deliver_waiting_events)
    [mail] = [m for m in enishi_sent_mail().values() if m["To"] == "yamada@mail.example.jp"]
    assert mail["Subject"] == "お知らせ" and mail.get_body(("plain",)).get_content() == "山田 様\n"
    assert len(_reading("core_contact", delivery)) == 1  # the recipient; no template names the record
    # The hand-over looks up workflows the mail's event triggers (none); the definition the step read already.
    assert [s for s in _reading("automation_workflow_version", delivery) if "JOIN automation_workflow " not in s] == []
    [run] = await runs(api, workflow["id"])
    assert run["status"] == "SUCCEEDED" and run["steps"][0]["output"]["sent"] == 1


async def test_a_tag_already_there_is_not_added_again_and_no_step_reads_before_it_writes(api):
    tag_twice = ({"id": "tag", "type": "add_tag", "tag": "vip"}, {"id": "again", "type": "add_tag", "tag": "vip"})
    workflow = await create_workflow(api, on_account("account.created", *tag_twice))
    await create_account(api, name="株式会社タグ")
    start = await _statements(api, deliver_waiting_events)  # the outbox starts the run

    steps = await _statements(api, workflow_engine.run_due)
    [run] = await runs(api, workflow["id"])
    assert [(s["stepId"], s["output"]) for s in run["steps"]] == [("tag", {"added": True}), ("again", {"added": False})]
    assert _reading("automation_record_tag", steps) == []
    # Each step: its run locked, the tag written, the run moved on, the step logged — no savepoint,
    # no key of its own (the run's position is the key); then the look for the next due run.
    kinds = [s.split(" ")[0] for s in steps if not s.startswith("SELECT automation_workflow_version")]
    assert [kind for kind in kinds if kind != "BEGIN"] == [  # SQLite's BEGIN IMMEDIATE is a statement
        *("SELECT", "INSERT", "UPDATE", "INSERT") * 2,
        "SELECT",
    ]
    # Its trigger's payload names no contact: neither its start nor a tag touches the index of people.
    assert [s for s in start + steps if "automation_workflow_person" in s] == []

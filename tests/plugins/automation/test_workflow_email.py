"""The `send_email` step: templates rendered for each recipient when the outbox delivers (the HTML
part escaped), consent where the privacy plugin keeps a ledger, frequency caps shared by every
workflow (and, on PostgreSQL, not passed twice by two workflows at once), the dry run, and
nothing personal kept but the mail the file transport files under the person."""

import asyncio
import uuid

import pytest
from sqlalchemy import select, text

from enishi.db import is_sqlite
from enishi.plugin import DataSubject, split_global_id
from enishi.plugins.automation import workflow_engine
from enishi.plugins.automation.workflow_models import AutomationWorkflowRun
from enishi.worker import deliver_waiting_events
from tests.helpers import count_rows, create_account, create_contact
from tests.plugins.automation.workflow_helpers import WORKFLOW, create_workflow, runs, work
from tests.plugins.sales.test_contracts import _lock_waiters

CAP = "frequencyCap { channel purpose maxSends periodDays }"
STEP = {
    "id": "welcome",
    "type": "send_email",
    "to": "account_contacts",
    "purpose": "marketing",
    "subject": "{{ account.name }}：{{ contact.family_name }}様へ",
    "body": "{{ contact.family_name }} 様\n{{ account.name }}\n",
    "html": "<p>{{ account.name }}</p>",
}
ON_NEW_ACCOUNT = {"trigger": {"type": "event", "event": "account.created"}, "steps": [STEP]}
ON_CONTACT_UPDATE = {
    "trigger": {"type": "event", "event": "contact.updated"},
    "steps": [{**STEP, "to": "contact", "subject": "お知らせ", "body": "{{ contact.family_name }} 様\n"}],
}


async def _person(api, name: str, *, account_id: str | None = None, marketing: bool = True, email: bool = True) -> str:
    contact = await create_contact(
        api,
        familyName=name,
        emails=[{"address": f"{name}@mail.example.jp"}] if email else [],
        accounts=[{"accountId": account_id}] if account_id else [],
    )
    if marketing and api.runtime.plugins.is_enabled("privacy"):
        recorded = await api.mutate(
            "recordConsent", {"contactId": contact["id"], "purpose": "marketing", "state": "granted"}, "consent { state }"
        )
        assert recorded["userErrors"] == [], recorded
    return contact["id"]


def _raw(global_id: str) -> str:
    return str(split_global_id(global_id, ("Contact", "Account"), "id")[1])


def _mails_to(sent_mail, name: str) -> list:
    return [mail for mail in sent_mail().values() if mail["To"] == f"{name}@mail.example.jp"]


async def _raw_text(api, table: str) -> str:
    async with api.runtime.read_session() as session:
        return " ".join(str(tuple(row)) for row in (await session.execute(text(f"SELECT * FROM {table}"))).all())


async def test_each_consenting_contact_gets_the_rendered_mail_once_and_nothing_personal_is_kept(api, enishi_sent_mail):
    workflow = await create_workflow(api, ON_NEW_ACCOUNT)
    account = await create_account(api, name="A&B <商事>")
    yamada = await _person(api, "yamada", account_id=account["id"])
    suzuki = await _person(api, "suzuki", account_id=account["id"], marketing=False)
    for _ in range(3):  # the outbox starts the run, the step queues the mail, the outbox sends it; then nothing more
        await work(api)

    [mail] = _mails_to(enishi_sent_mail, "yamada")
    assert mail["Subject"] == "A&B <商事>：yamada様へ"
    assert mail.get_body(("plain",)).get_content() == "yamada 様\nA&B <商事>\n"
    assert mail.get_body(("html",)).get_content().strip() == "<p>A&amp;B &lt;商事&gt;</p>"
    assert _mails_to(enishi_sent_mail, "suzuki") == []
    [run] = await runs(api, workflow["id"])
    [step] = run["steps"]
    assert step["status"] == "SUCCEEDED" and step["output"]["sent"] == 1
    recipients = {r["contact_id"]: r.get("skipped") for r in step["output"]["recipients"]}
    assert recipients == {_raw(yamada): None, _raw(suzuki): "no_consent"}
    # The outbox, the run and the caps' log hold ids; the name and the address went only into the mail.
    for table in ("core_outbox", "automation_workflow_run", "automation_workflow_step", "automation_contact_send"):
        kept = await _raw_text(api, table)
        assert "yamada" not in kept and "mail.example.jp" not in kept, table

    # The send the caps count is the person's data: in their export, gone with their erasure.
    query = "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }"
    exported = (await api.graphql(query, {"id": yamada}, role="compliance"))["node"]["personalData"]["automation"]
    assert [(m["channel"], m["purpose"]) for m in exported["workflow_messages"]] == [("email", "marketing")]
    async with api.runtime.unit_of_work() as uow:
        subject = DataSubject(uuid.UUID(_raw(yamada)))
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=subject))
    assert reports["automation"].affected == {
        "automation_contact_send:delete": 1,
        "automation_workflow_run:anonymise": 0,  # the account's run named them only in its step's log
        "automation_workflow_step:anonymise": 1,
        "automation_record_tag:delete": 0,
        "automation_workflow_person:delete": 0,  # mailed: the send names the run, no index row
    }
    assert await count_rows(api, "automation_contact_send") == 0


async def test_without_consent_the_step_is_skipped_and_the_dry_run_says_so_without_sending(api, enishi_sent_mail):
    workflow = await create_workflow(api, ON_NEW_ACCOUNT)
    account = await create_account(api, name="株式会社同意なし")
    await _person(api, "tanaka", account_id=account["id"], marketing=False)

    dry = await api.mutate("dryRunWorkflow", {"id": workflow["id"], "recordId": account["id"]}, "steps { stepId type input }")
    [step] = dry["steps"]
    assert step["type"] == "send_email" and step["input"]["skipped"] == "no_consent" and step["input"]["sent"] == 0

    for _ in range(3):
        await work(api)
    assert _mails_to(enishi_sent_mail, "tanaka") == []
    [run] = await runs(api, workflow["id"])
    assert run["status"] == "SUCCEEDED"
    assert [(s["status"], s["output"]["skipped"], s["error"]) for s in run["steps"]] == [("SKIPPED", "no_consent", None)]


async def test_without_a_consent_ledger_every_contact_with_an_address_is_mailed(enishi_api, enishi_sent_mail):
    api = await enishi_api(disabled_plugins=frozenset({"privacy"}))
    workflow = await create_workflow(api, ON_NEW_ACCOUNT)
    account = await create_account(api, name="株式会社台帳なし")
    await _person(api, "kato", account_id=account["id"])
    await _person(api, "ito", account_id=account["id"], email=False)
    for _ in range(3):
        await work(api)
    assert len(_mails_to(enishi_sent_mail, "kato")) == 1
    [run] = await runs(api, workflow["id"])
    assert sorted(r.get("skipped", "sent") for r in run["steps"][0]["output"]["recipients"]) == ["no_email", "sent"]


async def _update(api, contact_id: str, given_name: str = "花子") -> None:
    updated = await api.mutate("updateContact", {"id": contact_id, "givenName": given_name}, "contact { id }")
    assert updated["userErrors"] == [], updated


async def test_a_frequency_cap_is_shared_by_every_workflow_and_slides_with_its_window(api, enishi_sent_mail):
    two_a_week = {"channel": "email", "purpose": "marketing", "maxSends": 2, "periodDays": 7}
    assert await api.mutate("setFrequencyCap", two_a_week, CAP) == {"frequencyCap": two_a_week, "userErrors": []}
    workflows = [await create_workflow(api, ON_CONTACT_UPDATE, name=f"お知らせ{n}") for n in range(3)]
    contact = await _person(api, "capped")

    await _update(api, contact)
    for _ in range(3):
        await work(api)
    assert len(_mails_to(enishi_sent_mail, "capped")) == 2
    skipped = [s["output"].get("skipped") for w in workflows for r in await runs(api, w["id"]) for s in r["steps"]]
    assert sorted(map(str, skipped)) == ["None", "None", "frequency_cap"]

    api.clock.advance(days=7)  # the first two fall out of the window
    await _update(api, contact, "桜")
    for _ in range(3):
        await work(api)
    assert len(_mails_to(enishi_sent_mail, "capped")) == 4

    # A duplicate merged into the person brings its sends along: the cap counts them for the one person.
    duplicate = await _person(api, "duplicate")
    merged = await api.mutate("mergeContacts", {"survivorId": duplicate, "mergedIds": [contact]}, "moves { plugin entity count }")
    assert {"plugin": "automation", "entity": "automation_contact_send", "count": 4} in merged["moves"]
    await _update(api, duplicate)
    for _ in range(3):
        await work(api)
    assert _mails_to(enishi_sent_mail, "duplicate") == []

    removed = await api.mutate("setFrequencyCap", {"channel": "email", "purpose": "marketing", "maxSends": None}, CAP)
    assert removed == {"frequencyCap": None, "userErrors": []}
    assert (await api.graphql("{ frequencyCaps { purpose } }"))["frequencyCaps"] == []


async def test_a_message_whose_template_fails_when_delivered_is_not_counted_against_the_cap(api, enishi_sent_mail):
    one_a_week = {"channel": "email", "purpose": "marketing", "maxSends": 1, "periodDays": 7}
    assert (await api.mutate("setFrequencyCap", one_a_week, CAP))["userErrors"] == []
    # Compiles, so it is saved; it fails only when rendered, at delivery (a key of a missing variable).
    failing = {**ON_CONTACT_UPDATE["steps"][0], "body": "{{ contact.nickname.first }}"}
    broken = await create_workflow(api, {**ON_CONTACT_UPDATE, "steps": [failing]}, name="壊れた")
    contact = await _person(api, "broken")
    await _update(api, contact)
    await work(api)
    assert _mails_to(enishi_sent_mail, "broken") == []
    assert await count_rows(api, "automation_contact_send") == 0  # not sent: not counted

    disabled = await api.mutate("updateWorkflow", {"id": broken["id"], "enabled": False}, WORKFLOW)
    assert disabled["userErrors"] == []
    await create_workflow(api, ON_CONTACT_UPDATE, name="正常")
    await _update(api, contact, "桜")
    await work(api)
    assert len(_mails_to(enishi_sent_mail, "broken")) == 1  # the cap of one still had room


async def test_bad_caps_and_templates_are_refused_with_typed_errors(api):
    for values, expected in (
        ({"channel": "sms", "purpose": "marketing", "maxSends": 1, "periodDays": 1}, [("channel", "UNKNOWN_CHANNEL")]),
        (
            {"channel": "email", "purpose": "Marketing!", "maxSends": 0, "periodDays": 400},
            [("purpose", "INVALID_FORMAT"), ("maxSends", "OUT_OF_RANGE"), ("periodDays", "OUT_OF_RANGE")],
        ),
        ({"channel": "email", "purpose": "marketing", "maxSends": 1}, [("periodDays", "OUT_OF_RANGE")]),
    ):
        refused = await api.mutate("setFrequencyCap", values, CAP)
        assert refused["frequencyCap"] is None and [(e["field"], e["code"]) for e in refused["userErrors"]] == expected
    forbidden = await api.post("{ frequencyCaps { purpose } }", role="marketing")
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    broken = {**ON_NEW_ACCOUNT, "steps": [{**STEP, "body": "{{ contact.family_name "}]}
    refused = await api.mutate("createWorkflow", {"name": "x", "definition": broken}, WORKFLOW)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("definition.steps.0.body", "INVALID_TEMPLATE")]
    unnamed = {**ON_NEW_ACCOUNT, "steps": [{k: v for k, v in STEP.items() if k != "purpose"}]}
    refused = await api.mutate("createWorkflow", {"name": "x", "definition": unnamed}, WORKFLOW)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("definition.steps.0", "INVALID_DEFINITION")]


async def _take_step(api, run_id, held=None) -> None:
    """The engine's step transaction for this run; `held` is awaited before it commits."""
    async with api.runtime.unit_of_work() as uow:
        statement = select(AutomationWorkflowRun).where(AutomationWorkflowRun.id == run_id).with_for_update()
        run = (await uow.session.scalars(statement)).one()
        await workflow_engine.take_step(uow, run)
        if held is not None:
            await held()


async def test_two_workflows_mailing_one_contact_at_once_pass_a_cap_of_one_once(api, enishi_sent_mail):
    if is_sqlite(api.runtime.settings.database_url):
        pytest.skip("SQLite writes one transaction at a time: no step can wait on another's lock")
    await api.mutate("setFrequencyCap", {"channel": "email", "purpose": "marketing", "maxSends": 1, "periodDays": 7}, CAP)
    for n in range(2):
        await create_workflow(api, ON_CONTACT_UPDATE, name=f"同時{n}")
    contact = await _person(api, "racing")
    await _update(api, contact)
    await deliver_waiting_events(api.runtime)  # two runs, each due to mail the contact
    async with api.runtime.read_session() as session:
        first, second = (await session.scalars(select(AutomationWorkflowRun.id).order_by(AutomationWorkflowRun.id))).all()

    inside, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:  # the first step has counted and recorded its send, not committed yet
        inside.set()
        await release.wait()

    taking_first = asyncio.create_task(_take_step(api, first, hold))
    await inside.wait()
    taking_second = asyncio.create_task(_take_step(api, second))
    try:
        await _lock_waiters(api.runtime.settings.database_url)  # the second step waits on the contact's row
    finally:  # released even when the second never waited: a transaction left open would hang the teardown
        release.set()
        await asyncio.gather(taking_first, taking_second)

    await deliver_waiting_events(api.runtime)
    assert len(_mails_to(enishi_sent_mail, "racing")) == 1
    outcomes = sorted(str(s["output"].get("skipped")) for r in await runs(api) for s in r["steps"])
    assert outcomes == ["None", "frequency_cap"]

"""The issue's example 3 under real `enishi worker` processes (two at once on PostgreSQL, one on
SQLite): a contract 30 days before its end mails the account's contacts that granted `marketing`
— of two contacts, the consenting one gets exactly one message, rendered from the step's
templates, and the other none."""

import datetime as dt

from enishi.plugin import split_global_id
from enishi.testing import TEST_START
from tests.helpers import create_account, create_contact
from tests.plugins.automation.workflow_helpers import (
    create_workflow,
    move_test_clock,
    runs,
    start_test_clock,
    worker_env,
    workers_at_once,
)

RENEWAL_MAIL = {
    "trigger": {"type": "date", "entity": "sales_contract", "field": "end_date", "days_before": 30},
    "steps": [
        {
            "id": "renewal_mail",
            "type": "send_email",
            "to": "account_contacts",
            "purpose": "marketing",
            "subject": "【{{ account.name }}】{{ record.name }}更新のご案内",
            "body": "{{ contact.family_name }} 様\n\n{{ record.name }}は{{ record.end_date }}に満了します。\n",
        }
    ],
}


async def _contact(api, name: str, account_id: str, *, marketing: bool) -> str:
    contact = await create_contact(
        api, familyName=name, emails=[{"address": f"{name}@renewal.example.jp"}], accounts=[{"accountId": account_id}]
    )
    if marketing:
        recorded = await api.mutate(
            "recordConsent", {"contactId": contact["id"], "purpose": "marketing", "state": "granted"}, "consent { state }"
        )
        assert recorded["userErrors"] == [], recorded
    return contact["id"]


async def test_example_3_thirty_days_before_a_contracts_end_one_mail_to_the_consenting_contact_only(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, enishi_sent_mail
):
    api = await enishi_api(database_url=enishi_fresh_migrated, environment="development")
    env = worker_env(enishi_fresh_migrated, enishi_base_settings)
    clock_id = await start_test_clock(api)
    workflow = await create_workflow(api, RENEWAL_MAIL, name="契約更新メール")
    account = await create_account(api, name="株式会社更新")
    consenting = await _contact(api, "consenting", account["id"], marketing=True)
    await _contact(api, "declining", account["id"], marketing=False)
    contract = await api.mutate(
        "createContract",
        # TEST_START is 2024-06-10 in Tokyo: the end is 30 days away.
        {"name": "保守契約", "accountId": account["id"], "startDate": "2023-07-11", "endDate": "2024-07-10", "value": 100_000},
        "contract { id }",
    )
    assert contract["userErrors"] == [], contract

    await workers_at_once(env)  # the date scan starts the run and the step queues the mail
    for minutes in (1, 2):  # the outbox's next rounds deliver it; another round sends nothing more
        await move_test_clock(api, clock_id, TEST_START + dt.timedelta(minutes=minutes))
        await workers_at_once(env)

    mails = [mail for mail in enishi_sent_mail().values() if mail["To"].endswith("@renewal.example.jp")]
    assert [mail["To"] for mail in mails] == ["consenting@renewal.example.jp"]
    assert mails[0]["Subject"] == "【株式会社更新】保守契約更新のご案内"
    assert mails[0].get_content() == "consenting 様\n\n保守契約は2024-07-10に満了します。\n"
    [run] = await runs(api, workflow["id"])
    [step] = run["steps"]
    assert run["status"] == "SUCCEEDED" and step["status"] == "SUCCEEDED" and step["attempt"] == 1
    consenting_id = str(split_global_id(consenting, "Contact", "id")[1])
    assert step["output"]["sent"] == 1
    assert [r.get("skipped") for r in step["output"]["recipients"] if r["contact_id"] != consenting_id] == ["no_consent"]

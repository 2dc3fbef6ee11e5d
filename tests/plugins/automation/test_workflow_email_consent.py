"""The `send_email` step and the consent ledger at delivery: the mail carries the privacy plugin's
withdrawal link (`unsubscribe_url`, and the RFC 8058 `List-Unsubscribe` headers), which withdraws
through the public route; consent is asked again when the outbox delivers, so a withdrawal between
the step and the delivery sends nothing; without the privacy plugin the link is empty."""

import logging
from urllib.parse import urlsplit

from enishi.plugins.automation.workflow_engine import run_due
from enishi.worker import deliver_waiting_events
from tests.helpers import create_account
from tests.plugins.automation.test_workflow_email import _mails_to, _person
from tests.plugins.automation.workflow_helpers import create_workflow, runs, work

UNSUBSCRIBE_MAIL = {
    "trigger": {"type": "event", "event": "account.created"},
    "steps": [
        {
            "id": "news",
            "type": "send_email",
            "to": "account_contacts",
            "purpose": "marketing",
            "subject": "お知らせ",
            "body": "{{ contact.family_name }} 様\n配信停止: [{{ unsubscribe_url }}]\n",
        }
    ],
}


async def _consents(api, contact_id: str) -> list[dict]:
    query = "query($id: ID!) { consentHistory(contactId: $id) { state source } }"
    return (await api.graphql(query, {"id": contact_id}))["consentHistory"]


async def test_hook_enishi_consent_withdrawal_link_and_the_mails_unsubscribe_link_withdraws_the_consent(api, enishi_sent_mail):
    await create_workflow(api, UNSUBSCRIBE_MAIL)
    account = await create_account(api, name="株式会社配信")
    sato = await _person(api, "sato", account_id=account["id"])
    for _ in range(3):
        await work(api)

    [mail] = _mails_to(enishi_sent_mail, "sato")
    link = mail.get_content().split("[", 1)[1].split("]", 1)[0]
    assert link.startswith("https://crm.example.test/privacy/withdraw/")
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A mail client's one-click unsubscribe: a POST to the link, no login.
    response = await api.client.post(urlsplit(link).path)
    assert response.status_code == 200 and response.json() == {"withdrawn": True, "purpose": "marketing"}
    assert (await _consents(api, sato))[-1] == {"state": "withdrawn", "source": "link"}


async def test_a_withdrawal_between_the_step_and_its_delivery_sends_nothing(api, enishi_sent_mail, caplog):
    workflow = await create_workflow(api, UNSUBSCRIBE_MAIL)
    account = await create_account(api, name="株式会社撤回")
    ito = await _person(api, "ito", account_id=account["id"])
    await deliver_waiting_events(api.runtime)  # starts the run
    await run_due(api.runtime)  # the step, with consent, queues the mail
    [run] = await runs(api, workflow["id"])
    assert run["steps"][0]["output"]["sent"] == 1
    withdrawn = await api.mutate("withdrawConsent", {"contactId": ito, "purpose": "marketing"}, "consent { state }")
    assert withdrawn["userErrors"] == [], withdrawn

    with caplog.at_level(logging.INFO, logger="enishi.automation.workflows"):
        await deliver_waiting_events(api.runtime)
        await work(api)  # and no later round sends it either
    assert _mails_to(enishi_sent_mail, "ito") == []
    [record] = [r for r in caplog.records if r.getMessage() == "workflow e-mail not sent: consent withdrawn"]
    assert "ito" not in str(record.__dict__) and "mail.example.jp" not in str(record.__dict__)


async def test_without_the_privacy_plugin_the_link_is_empty_and_no_header_is_sent(enishi_api, enishi_sent_mail):
    api = await enishi_api(disabled_plugins=frozenset({"privacy"}))
    await create_workflow(api, UNSUBSCRIBE_MAIL)
    account = await create_account(api, name="株式会社台帳なし")
    await _person(api, "kato", account_id=account["id"])
    for _ in range(3):
        await work(api)

    [mail] = _mails_to(enishi_sent_mail, "kato")
    assert mail.get_content() == "kato 様\n配信停止: []\n"
    assert mail["List-Unsubscribe"] is None

"""Consent ledger (privacy part one): append-only history, check, one-click withdrawal, encrypted
evidence, crypto-shredding on erasure, and ABM's audience export asking it."""

import base64
import uuid

from sqlalchemy import text

from enishi import DataSubject
from tests.helpers import create_account, create_contact

CONSENT = "consent { purpose state source noticeVersion }"


async def _grant(api, contact_id, purpose="marketing", **extra):
    payload = await api.mutate(
        "recordConsent",
        {
            "contactId": contact_id,
            "purpose": purpose,
            "state": "granted",
            "noticeId": "privacy-notice",
            "noticeVersion": "2024-04",
            "source": "web_form",
            "method": "checkbox",
            **extra,
        },
        CONSENT,
        role="marketing",
    )
    assert payload["userErrors"] == [], payload
    return payload["consent"]


def _raw(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":")[1])


async def test_consent_given_and_withdrawn_keeps_its_full_history(api):
    contact = await create_contact(api, familyName="山田")
    assert (await _grant(api, contact["id"]))["state"] == "granted"
    api.clock.advance(days=3)
    withdrawn = await api.mutate("withdrawConsent", {"contactId": contact["id"], "purpose": "marketing"}, CONSENT, role="support")
    assert withdrawn["consent"]["state"] == "withdrawn"
    history = await api.graphql(
        "query($id: ID!) { consentHistory(contactId: $id) { state source capturedAt } }", {"id": contact["id"]}
    )
    assert [(h["state"], h["source"]) for h in history["consentHistory"]] == [("granted", "web_form"), ("withdrawn", "agent")]
    current = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { consents { purpose state } } } }", {"id": contact["id"]}
    )
    assert current["node"]["consents"] == [{"purpose": "marketing", "state": "withdrawn"}]
    bad = await api.mutate("recordConsent", {"contactId": contact["id"], "purpose": "", "state": "maybe"}, CONSENT)
    assert {e["code"] for e in bad["userErrors"]} == {"REQUIRED", "INVALID_CHOICE"}


async def test_one_click_withdrawal_link_needs_no_login(api):
    contact = await create_contact(api, familyName="鈴木")
    await _grant(api, contact["id"])
    link = (
        await api.graphql(
            'query($id: ID!) { consentWithdrawalLink(contactId: $id, purpose: "marketing") }', {"id": contact["id"]}
        )
    )["consentWithdrawalLink"]
    response = await api.client.post(link)
    assert response.status_code == 200 and response.json() == {"withdrawn": True, "purpose": "marketing"}
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert (await api.client.post(tampered)).status_code == 404
    history = await api.graphql("query($id: ID!) { consentHistory(contactId: $id) { state source } }", {"id": contact["id"]})
    assert history["consentHistory"][-1] == {"state": "withdrawn", "source": "link"}


async def test_audience_export_leaves_out_contacts_without_marketing_consent(api):
    account = await create_account(api, name="Acme")
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    yes = await create_contact(api, familyName="同意", accounts=[{"accountId": account["id"]}])
    await create_contact(api, familyName="未同意", accounts=[{"accountId": account["id"]}])
    withdrew = await create_contact(api, familyName="撤回", accounts=[{"accountId": account["id"]}])
    await _grant(api, yes["id"])
    await _grant(api, withdrew["id"])
    await api.mutate("withdrawConsent", {"contactId": withdrew["id"], "purpose": "marketing"}, CONSENT)
    payload = await api.mutate(
        "exportAudience",
        {"destination": "MA tool"},
        "members { contact { familyName } } excludedWithoutConsent",
        role="marketing",
    )
    assert payload["members"] == [{"contact": {"familyName": "同意"}}] and payload["excludedWithoutConsent"] == 2


async def test_evidence_is_encrypted_at_rest_and_shredded_on_erasure(api):
    contact = await create_contact(api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}])
    await _grant(api, contact["id"], evidence="フォーム送信 IP 203.0.113.7 taro@abc.co.jp")
    async with api.runtime.read_session() as session:
        stored = (await session.execute(text("SELECT evidence FROM privacy_consent"))).scalar_one()
    assert b"203.0.113.7" not in bytes(stored) and b"taro" not in bytes(stored)
    exported = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": contact["id"]}, role="compliance"
    )
    assert exported["node"]["personalData"]["privacy"]["consents"][0]["evidence"] == "フォーム送信 IP 203.0.113.7 taro@abc.co.jp"
    async with api.runtime.unit_of_work() as uow:
        reports = dict(await api.runtime.plugins.call("enishi_subject_erase", uow=uow, subject=DataSubject(_raw(contact["id"]))))
    assert reports["privacy"].affected == {"privacy_export:delete": 0, "core_subject_key:delete": 1}
    assert reports["privacy"].retained[0]["entity"] == "privacy_consent"
    async with api.runtime.unit_of_work() as uow:
        collected = dict(
            await api.runtime.plugins.call("enishi_subject_collect", uow=uow, subject=DataSubject(_raw(contact["id"])))
        )
    assert collected["privacy"]["consents"][0]["evidence"] is None  # the key is gone: unreadable for good
    assert collected["privacy"]["consents"][0]["state"] == "granted"

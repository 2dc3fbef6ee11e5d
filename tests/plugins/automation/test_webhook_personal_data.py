"""Personal data in webhook payloads: never, unless the subscription is granted a purpose (by
someone who may export people's data); then each delivery carrying a person's data is recorded
as a provision to a third party by the privacy plugin, which may refuse it — and then the event
goes without the person's data."""

import json

import pytest

from enishi.worker import run_every_job
from tests.helpers import create_contact
from tests.plugins.automation.helpers import LOOPBACK, WEBHOOK, Receiver, create_webhook, deliveries
from tests.plugins.privacy.test_provisions import codes, records, registered

PARTNER = {"name": "株式会社パートナー", "kind": "THIRD_PARTY", "country": "JP", "purpose": "共同キャンペーン"}
GRANT = {"personalDataPurpose": "共同キャンペーン", "personalDataRecipient": PARTNER["name"]}
GRANTED = f"{WEBHOOK[:-2]} personalDataPurpose personalDataRecipient }}"
ERRORS = "webhook { id }"


@pytest.fixture
def receiver():
    made = []

    def make():
        made.append(Receiver())
        return made[-1]

    yield make
    for one in made:
        one.close()


def people_sent(receiver) -> dict[str, dict | None]:
    """Each contact.created body's person, by the contact's family name where it was sent."""
    bodies = [json.loads(r.body)["data"] for r in receiver.received]
    return {data.get("person", {}).get("family_name", "-"): data.get("person") for data in bodies}


async def test_only_a_granted_subscription_gets_the_persons_data_and_each_provision_is_recorded(enishi_api, receiver):
    api = await enishi_api(environment="development", extra=LOOPBACK)
    plain_target, granted_target = receiver(), receiver()
    plain, _ = await create_webhook(api, plain_target.url, ["contact.created"])
    subscription = {"url": granted_target.url, "eventTypes": ["contact.created"]}
    refused = await api.mutate("createWebhook", {**subscription, **GRANT}, ERRORS, role="integration")
    assert codes(refused) == [("personalDataPurpose", "FORBIDDEN")]  # `integration` may not export people's data
    half = await api.mutate("createWebhook", {**subscription, "personalDataPurpose": "x"}, ERRORS)
    assert codes(half) == [("personalDataRecipient", "REQUIRED")]
    granted = (await api.mutate("createWebhook", {**subscription, **GRANT}, GRANTED))["webhook"]
    assert (granted["personalDataPurpose"], granted["personalDataRecipient"]) == (GRANT["personalDataPurpose"], PARTNER["name"])
    partner = await registered(api, **PARTNER)

    await create_contact(api, familyName="同意なし", emails=[{"address": "no@example.jp"}])
    await run_every_job(api.runtime)  # a third party without the person's consent: the privacy plugin refuses
    reachable = {"emails": [{"address": "hanako@example.jp"}], "phones": [{"number": "09012345678"}]}
    consenting = await create_contact(api, familyName="同意あり", givenName="花子", **reachable)
    consent = {"contactId": consenting["id"], "purpose": "third_party_provision", "state": "granted"}
    await api.mutate("recordConsent", consent, "consent { state }")
    await run_every_job(api.runtime)

    assert all("person" not in json.loads(r.body)["data"] for r in plain_target.received) and len(plain_target.received) == 2
    assert not any(b"example.jp" in r.body or "同意".encode() in r.body for r in plain_target.received)
    assert people_sent(granted_target) == {
        "-": None,
        "同意あり": {
            "family_name": "同意あり",
            "given_name": "花子",
            "family_name_kana": None,
            "given_name_kana": None,
            "emails": ["hanako@example.jp"],
            "phones": ["+819012345678"],
        },
    }
    carried = {d["carriesPersonalData"] for d in await deliveries(api, plain["id"])}
    assert carried == {False}
    [provision] = await records(api, recipientId=partner["id"])
    assert (provision["contactId"], provision["purpose"], provision["dataItems"]) == (
        consenting["id"],
        "共同キャンペーン",
        ["name", "kana", "email", "phone"],
    )

    revoked = await api.mutate("updateWebhook", {"id": granted["id"], "personalDataPurpose": ""}, GRANTED)
    assert revoked["webhook"]["personalDataPurpose"] is None and revoked["webhook"]["personalDataRecipient"] is None


async def test_without_the_privacy_plugin_a_granted_subscription_gets_the_persons_data(enishi_api, receiver):
    api = await enishi_api(environment="development", extra=LOOPBACK, disabled_plugins=frozenset({"privacy"}))
    target = receiver()
    await create_webhook(api, target.url, ["contact.created"], **GRANT)
    await create_contact(api, familyName="山田", emails=[{"address": "taro@example.jp"}])
    await run_every_job(api.runtime)
    [body] = [json.loads(r.body)["data"] for r in target.received]
    assert body["person"]["family_name"] == "山田" and body["person"]["emails"] == ["taro@example.jp"]

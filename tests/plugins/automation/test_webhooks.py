"""Webhook subscriptions over GraphQL: who may manage them, what they accept, the secret shown
once and its rotation, and the URLs refused before anything is sent (SSRF)."""

import base64

import pytest

from enishi.auth import ROLES
from tests.helpers import root_fields_added_by
from tests.plugins.automation.helpers import LOOPBACK, NONE, WEBHOOK, create_webhook
from tests.plugins.automation.workflow_helpers import WORKFLOW_FIELDS

ERRORS = "{ userErrors { code } }"
AUTOMATION_FIELDS = {
    "Query.webhooks": "automation.webhook.manage",
    "Query.webhookDeliveries": "automation.webhook.manage",
    "Query.webhookEventTypes": "automation.webhook.manage",
    "Mutation.createWebhook": "automation.webhook.manage",
    "Mutation.updateWebhook": "automation.webhook.manage",
    "Mutation.deleteWebhook": "automation.webhook.manage",
    "Mutation.rotateWebhookSecret": "automation.webhook.manage",
    "Mutation.sendWebhookTestEvent": "automation.webhook.manage",
    "Mutation.replayWebhookDelivery": "automation.webhook.manage",
    "Mutation.replayWebhookDeliveries": "automation.webhook.manage",
    **WORKFLOW_FIELDS,
}


@pytest.fixture
async def dev(enishi_api):
    """Development mode (plain http allowed) with the loopback receiver allowlisted."""
    return await enishi_api(environment="development", extra=LOOPBACK)


async def test_every_automation_root_field_has_an_authorization_decision(enishi_api):
    assert await root_fields_added_by(enishi_api, "automation") == set(AUTOMATION_FIELDS)


@pytest.mark.parametrize("role", ROLES)
async def test_only_admin_and_integration_manage_webhooks(dev, role):
    create = 'mutation { createWebhook(input: {url: "http://127.0.0.1:9/h", eventTypes: ["*"]}) { secret userErrors { code } } }'
    created = (await dev.post(create, role=role)).json()
    listed = (await dev.post("{ webhooks { totalCount } }", role=role)).json()
    if role in ("admin", "integration"):
        assert created["data"]["createWebhook"]["userErrors"] == [], created
        assert created["data"]["createWebhook"]["secret"].startswith("whsec_")
        assert listed["data"]["webhooks"]["totalCount"] == 1
    else:
        for body in (created, listed):
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body


async def test_create_shows_a_whsec_secret_once_and_never_again(dev):
    webhook, secret = await create_webhook(
        dev, "http://127.0.0.1:9/h", ["support.*", "deal.won"], filter={"priority": ["urgent", "high"]}, description="会計連携"
    )
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert webhook["eventTypes"] == ["deal.won", "support.*"] and webhook["filter"] == {"priority": ["urgent", "high"]}
    assert webhook["enabled"] is True and webhook["description"] == "会計連携"
    type_fields = await dev.graphql('{ __type(name: "AutomationWebhook") { fields { name } } }')
    assert not [f for f in type_fields["__type"]["fields"] if "secret" in f["name"].lower() and "Until" not in f["name"]]
    other = await create_webhook(dev, "http://127.0.0.1:9/h", ["*"])
    assert other[1] != secret  # one secret per endpoint


@pytest.mark.parametrize(
    ("event_types", "filter_", "code"),
    [
        (["ticket.nope"], None, "UNKNOWN_EVENT_TYPE"),
        (["support.[a-z]*"], None, "UNKNOWN_EVENT_TYPE"),
        ([], None, "REQUIRED"),
        (["*"], {"priority": {"nested": 1}}, "INVALID_FILTER"),
        (["*"], ["priority"], "INVALID_FILTER"),
    ],
)
async def test_unknown_event_types_and_malformed_filters_are_refused(dev, event_types, filter_, code):
    payload = await dev.mutate(
        "createWebhook", {"url": "http://127.0.0.1:9/h", "eventTypes": event_types, "filter": filter_}, "secret"
    )
    assert payload["secret"] is None and code in [e["code"] for e in payload["userErrors"]], payload
    assert (await dev.graphql("{ webhooks { totalCount } }"))["webhooks"]["totalCount"] == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hook",  # issue example 4: a name resolving to 127.0.0.1
        "http://127.0.0.1/hook",
        "http://0x7f000001/hook",  # 127.0.0.1 spelled in hex: refused after resolution, not by its text
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
        "http://0.0.0.0/hook",
    ],
)
async def test_urls_resolving_to_non_public_addresses_are_refused_without_the_allowlist(enishi_api, url):
    api = await enishi_api(environment="development")
    payload = await api.mutate("createWebhook", {"url": url, "eventTypes": ["*"]}, "secret")
    assert payload["userErrors"] == [
        {
            "field": "url",
            "message": "the host resolves to a loopback, private, link-local or otherwise non-public address",
            "code": "UNSAFE_URL",
        }
    ]
    assert (await api.graphql("{ webhooks { totalCount } }"))["webhooks"]["totalCount"] == 0


async def test_https_is_required_outside_development_mode_and_credentials_never_go_in_urls(enishi_api):
    production = await enishi_api(extra=LOOPBACK)  # the fixtures' default mode is production
    plain = await production.mutate("createWebhook", {"url": "http://127.0.0.1:9/h", "eventTypes": ["*"]}, "secret")
    assert plain["userErrors"] == [
        {"field": "url", "message": "HTTPS is required outside development mode", "code": "UNSAFE_URL"}
    ]
    secure = await production.mutate("createWebhook", {"url": "https://127.0.0.1:9/h", "eventTypes": ["*"]}, "secret")
    assert secure["userErrors"] == []
    for url in ("https://user:pw@127.0.0.1/h", "ftp://127.0.0.1/h", "not a url", "https://" + "a" * 2000):
        refused = await production.mutate("createWebhook", {"url": url, "eventTypes": ["*"]}, "secret")
        assert [e["code"] for e in refused["userErrors"]] == ["UNSAFE_URL"], (url, refused)


async def test_update_checks_the_same_rules_and_switching_on_clears_a_disabling(dev, enishi_api):
    webhook, _ = await create_webhook(dev, "http://127.0.0.1:9/h", ["*"])
    strict = await enishi_api(environment="development")  # no allowlist
    strict.tokens, strict.user_ids = dev.tokens, dev.user_ids
    moved = await strict.mutate("updateWebhook", {"id": webhook["id"], "url": "http://127.0.0.2/h"}, WEBHOOK)
    assert [e["code"] for e in moved["userErrors"]] == ["UNSAFE_URL"]
    changed = await dev.mutate(
        "updateWebhook", {"id": webhook["id"], "eventTypes": ["deal.*"], "enabled": False, "description": "停止中"}, WEBHOOK
    )
    assert changed["webhook"]["eventTypes"] == ["deal.*"] and changed["webhook"]["enabled"] is False
    assert changed["webhook"]["url"] == "http://127.0.0.1:9/h"
    missing = await dev.mutate("updateWebhook", {"id": NONE, "enabled": True}, WEBHOOK)
    assert [e["code"] for e in missing["userErrors"]] == ["NOT_FOUND"]
    deleted = await dev.mutate("deleteWebhook", {"id": webhook["id"]}, "deletedId")
    assert deleted == {"deletedId": webhook["id"], "userErrors": []}
    assert (await dev.graphql("{ webhooks { totalCount } }"))["webhooks"]["totalCount"] == 0


async def test_rotation_keeps_two_secrets_for_the_grace_period_and_refuses_a_long_one(dev):
    webhook, first = await create_webhook(dev, "http://127.0.0.1:9/h", ["*"])
    rotated = await dev.mutate("rotateWebhookSecret", {"id": webhook["id"], "graceHours": 2}, f"{WEBHOOK} secret")
    assert rotated["userErrors"] == [] and rotated["secret"].startswith("whsec_") and rotated["secret"] != first
    assert rotated["webhook"]["previousSecretValidUntil"] == "2024-06-10T02:00:00+00:00"
    too_long = await dev.mutate("rotateWebhookSecret", {"id": webhook["id"], "graceHours": 169}, "secret")
    assert too_long["userErrors"] == [{"field": "graceHours", "message": "between 0 and 168 hours", "code": "OUT_OF_RANGE"}]


async def test_the_declared_event_types_are_listed_with_their_payloads_without_delivery_only_fields(dev):
    types = {
        t["name"]: t
        for t in (await dev.graphql("{ webhookEventTypes { name entity description fires payload { name type required } } }"))[
            "webhookEventTypes"
        ]
    }
    assert types["support.ticket_created"]["payload"] == [
        {"name": "number", "type": "int", "required": True},
        {"name": "priority", "type": "str", "required": True},
    ]
    assert "automation.webhook_disabled" in types and "contact.created" in types
    assert not [f for t in types.values() for f in t["payload"] if f["name"].startswith("_")]

"""Issue #27, example 1: a ticket created with priority urgent reaches a receiver that fails twice
and then answers 200 — three attempts, one webhook-id, each validly signed per Standard Webhooks
(checked with the spec's reference library) — driven by the server's test clock, with `enishi
worker --once` running as a process of its own and the clock's advances running the due jobs."""

import asyncio
import datetime as dt
import json

from standardwebhooks import Webhook

from enishi.testing import TEST_START
from tests.helpers import create_contact, enishi
from tests.plugins.automation.helpers import LOOPBACK, Receiver, create_webhook, deliveries


def signed_by(secret: str, request) -> bool:
    """Whether one of the request's signatures is the reference library's for this secret."""
    timestamp = dt.datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), dt.UTC)
    expected = Webhook(secret).sign(request.headers["webhook-id"], timestamp, request.body)
    return expected in request.headers["webhook-signature"].split(" ")


async def _advance(api, clock_id: str, to: dt.datetime) -> None:
    payload = await api.mutate("advanceTestClock", {"id": clock_id, "to": to.isoformat()}, "jobsRun jobsFailed")
    assert payload["userErrors"] == [] and payload["jobsFailed"] == [], payload


async def test_an_urgent_ticket_is_delivered_once_signed_after_two_failures(
    enishi_api, enishi_fresh_migrated, enishi_base_settings, tmp_path
):
    api = await enishi_api(database_url=enishi_fresh_migrated, environment="development", extra=LOOPBACK)
    config = tmp_path / "enishi.toml"
    config.write_text('[extra]\nautomation_webhook_allowlist = ["127.0.0.1/32"]\n', encoding="utf-8")
    worker_env = {
        "ENISHI_DATABASE_URL": enishi_fresh_migrated,
        "ENISHI_KEK": enishi_base_settings.key_encryption_key,
        "ENISHI_ENVIRONMENT": "development",
        "ENISHI_CONFIG": str(config),
    }
    receiver = Receiver(script=[(500, {}, b"busy"), (503, {}, b"still busy"), (200, {}, b"thanks")])
    try:
        clock = await api.mutate("createTestClock", {"frozenTime": TEST_START.isoformat()}, "testClock { id }")
        clock_id = clock["testClock"]["id"]
        webhook, secret = await create_webhook(api, receiver.url, ["support.*"], filter={"priority": "urgent"})
        requester = await create_contact(api, familyName="山田", emails=[{"address": "yamada@example.jp"}])
        for priority in ("normal", "urgent"):
            created = await api.mutate(
                "createTicket",
                {"subject": "ログインできません", "priority": priority, "requesterId": requester["id"]},
                "ticket { number }",
            )
            assert created["userErrors"] == []

        ran = await asyncio.to_thread(enishi, "worker", "--once", env=worker_env)
        assert "core.outbox" in ran.stdout and "automation.webhooks" in ran.stdout, ran.stdout
        [delivery] = await deliveries(api, webhook["id"])  # the normal ticket does not match the filter
        assert [a["statusCode"] for a in delivery["attempts"]] == [500] and delivery["status"] == "PENDING"
        retry_at = dt.datetime.fromisoformat(delivery["nextAttemptAt"])
        assert TEST_START + dt.timedelta(seconds=5) <= retry_at <= TEST_START + dt.timedelta(seconds=5.5)

        await _advance(api, clock_id, TEST_START + dt.timedelta(seconds=4))  # not yet due: nothing is sent
        assert len(receiver.received) == 1
        await _advance(api, clock_id, TEST_START + dt.timedelta(seconds=6))
        [delivery] = await deliveries(api, webhook["id"])
        assert [a["statusCode"] for a in delivery["attempts"]] == [500, 503]
        retry_at = dt.datetime.fromisoformat(delivery["nextAttemptAt"])
        second = TEST_START + dt.timedelta(seconds=6)
        assert second + dt.timedelta(minutes=5) <= retry_at <= second + dt.timedelta(minutes=5.5)
        await _advance(api, clock_id, second + dt.timedelta(minutes=6))

        [delivery] = await deliveries(api, webhook["id"])
        assert delivery["status"] == "SUCCEEDED" and delivery["attemptCount"] == 3
        assert [(a["statusCode"], a["error"], a["responseSnippet"]) for a in delivery["attempts"]] == [
            (500, None, "busy"),
            (503, None, "still busy"),
            (200, None, "thanks"),
        ]
        ran = await asyncio.to_thread(enishi, "worker", "--once", env=worker_env)  # nothing left to send
        assert len(receiver.received) == 3
    finally:
        receiver.close()

    ids = {request.headers["webhook-id"] for request in receiver.received}
    assert ids == {delivery["messageId"]} and delivery["messageId"].startswith("msg_")
    timestamps = [int(request.headers["webhook-timestamp"]) for request in receiver.received]
    start = int(TEST_START.timestamp())
    assert timestamps == [start, start + 6, start + 6 + 360]  # each attempt's own time, from the test clock
    assert all(signed_by(secret, request) for request in receiver.received)
    assert not signed_by("whsec_" + secret.removeprefix("whsec_")[::-1], receiver.received[0])
    body = json.loads(receiver.received[0].body)
    assert body["type"] == "support.ticket_created" and body["data"] == {"number": 2, "priority": "urgent"}
    assert body["timestamp"] == TEST_START.isoformat()
    assert all(request.body == receiver.received[0].body for request in receiver.received)  # the same document each time
    text = receiver.received[0].body.decode()
    assert "山田" not in text and "yamada" not in text and "ログイン" not in text  # no personal data, no ticket text

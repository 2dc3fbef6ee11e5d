"""The delivery worker (`automation.webhooks`, run here through the worker's own API on the test's
clock): the retry schedule to its end, disabling after a day of failures, 410 Gone, timeouts,
redirects never followed, the address checked again before each attempt, rotation's two
signatures, the delivery log's redaction, replays and test events."""

import datetime as dt
import itertools
import json
import threading
import uuid

import pytest

from enishi.plugin import Event, parse_global_id
from enishi.plugins.automation import service
from enishi.worker import run_every_job
from tests.helpers import create_account
from tests.plugins.automation.helpers import LOOPBACK, WEBHOOK, Receiver, create_webhook, deliveries
from tests.plugins.automation.test_example_urgent_ticket import signed_by


@pytest.fixture
async def dev(enishi_api):
    return await enishi_api(environment="development", extra=LOOPBACK)


@pytest.fixture
def receiver():
    made = []

    def make(*script):
        made.append(Receiver(script=list(script) or [(200, {}, b"ok")]))
        return made[-1]

    yield make
    for one in made:
        one.close()


async def _webhook(api, receiver, event_types=("account.*",)) -> tuple[dict, str]:
    return await create_webhook(api, receiver.url, list(event_types))


async def test_failures_follow_the_schedule_then_a_day_of_them_disables_the_endpoint_with_an_event(dev, receiver):
    failing = receiver((500, {}, b"down"))
    watcher = receiver()
    webhook, _ = await _webhook(dev, failing)
    await create_webhook(dev, watcher.url, ["automation.webhook_disabled"])
    await create_account(dev, name="最初")
    await run_every_job(dev.runtime)
    start = dev.clock.now()
    for _ in range(7):  # the first attempt and the six retries of the schedule
        [delivery] = await deliveries(dev, webhook["id"])
        if delivery["status"] != "PENDING":
            break
        dev.clock.set(dt.datetime.fromisoformat(delivery["nextAttemptAt"]))
        await run_every_job(dev.runtime)
    [delivery] = await deliveries(dev, webhook["id"])
    assert delivery["status"] == "FAILED" and delivery["attemptCount"] == 7 and len(failing.received) == 7
    times = [dt.datetime.fromisoformat(a["attemptedAt"]) for a in delivery["attempts"]]
    schedule = [dt.timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000)]
    for waited, planned in zip((b - a for a, b in itertools.pairwise(times)), schedule, strict=True):
        assert planned <= waited <= planned * 1.1  # backoff with at most 10 % jitter
    assert len({r.headers["webhook-id"] for r in failing.received}) == 1

    listed = (await dev.graphql("{ webhooks(enabled: true) { edges { node { id failingSince } } } }"))["webhooks"]["edges"]
    assert {"id": webhook["id"], "failingSince": start.isoformat()} in [e["node"] for e in listed]  # under a day: still on
    dev.clock.set(start + dt.timedelta(hours=23))
    await create_account(dev, name="翌日")
    for _ in range(5):  # its first attempt and retries (5 s, 5 min, 30 min, 2 h) run past a day of failures
        await run_every_job(dev.runtime)
        pending = [d for d in await deliveries(dev, webhook["id"]) if d["status"] == "PENDING"]
        if pending:
            dev.clock.set(dt.datetime.fromisoformat(pending[0]["nextAttemptAt"]))
    node = (
        await dev.graphql(
            "query($id: ID!) { node(id: $id) { ... on AutomationWebhook { enabled disabledReason } } }", {"id": webhook["id"]}
        )
    )["node"]
    assert node == {"enabled": False, "disabledReason": "failing"}
    await run_every_job(dev.runtime)  # the outbox hands the disabling event to the other subscription
    [notice] = [json.loads(r.body) for r in watcher.received]
    assert notice["type"] == "automation.webhook_disabled"
    assert notice["data"] == {"reason": "failing", "failing_since": start.isoformat()}


async def test_a_410_gone_disables_the_endpoint_at_once_and_its_deliveries_stop(dev, receiver):
    gone = receiver((410, {}, b"gone"))
    webhook, _ = await _webhook(dev, gone)
    await create_account(dev, name="A")
    await run_every_job(dev.runtime)
    node = await dev.graphql(
        "query($id: ID!) { node(id: $id) { ... on AutomationWebhook { enabled disabledReason } } }", {"id": webhook["id"]}
    )
    assert node["node"] == {"enabled": False, "disabledReason": "gone"}
    [delivery] = await deliveries(dev, webhook["id"])
    dev.clock.set(dt.datetime.fromisoformat(delivery["nextAttemptAt"]))
    await run_every_job(dev.runtime)
    [delivery] = await deliveries(dev, webhook["id"])
    assert delivery["status"] == "PENDING" and [a["statusCode"] for a in delivery["attempts"]] == [410]  # waits for it
    assert len(gone.received) == 1


async def test_a_redirect_is_a_failure_and_is_never_followed(dev, receiver):
    redirecting = receiver((302, {"location": "http://169.254.169.254/latest/meta-data/"}, b""))
    webhook, _ = await _webhook(dev, redirecting)
    await create_account(dev, name="A")
    await run_every_job(dev.runtime)
    [delivery] = await deliveries(dev, webhook["id"])
    assert delivery["status"] == "PENDING" and delivery["lastStatusCode"] == 302 and len(redirecting.received) == 1


async def test_the_address_is_checked_again_before_each_attempt(dev, enishi_api, receiver):
    target = receiver()
    webhook, _ = await _webhook(dev, target)
    await create_account(dev, name="A")
    strict = await enishi_api(environment="development")  # a worker whose allowlist no longer names loopback
    await run_every_job(strict.runtime)
    [delivery] = await deliveries(dev, webhook["id"])
    assert [(a["statusCode"], a["error"]) for a in delivery["attempts"]] == [(None, "unsafe_url")]
    assert target.received == []


async def test_a_receiver_too_slow_to_answer_times_out(enishi_api, receiver):
    api = await enishi_api(environment="development", extra={**LOOPBACK, "automation_webhook_timeout_seconds": 0.2})
    answered = threading.Event()
    slow = receiver((200, {}, b"late"))
    original = slow.server.RequestHandlerClass.do_POST

    def held(handler):  # waits for the test, so the worker's timeout fires first
        answered.wait(30)
        original(handler)

    slow.server.RequestHandlerClass.do_POST = held
    webhook, _ = await _webhook(api, slow)
    await create_account(api, name="A")
    await run_every_job(api.runtime)
    answered.set()
    [delivery] = await deliveries(api, webhook["id"])
    assert [(a["statusCode"], a["error"]) for a in delivery["attempts"]] == [(None, "timeout")]
    assert delivery["status"] == "PENDING"


async def test_the_log_keeps_a_short_snippet_with_addresses_and_numbers_masked(dev, receiver):
    chatty = receiver((422, {}, ("no customer taro.yamada@example.jp, tel 090-1234-5678; " + "x" * 500).encode()))
    webhook, _ = await _webhook(dev, chatty)
    await create_account(dev, name="A")
    await run_every_job(dev.runtime)
    [attempt] = (await deliveries(dev, webhook["id"]))[0]["attempts"]
    assert attempt["statusCode"] == 422 and attempt["durationMs"] >= 0
    assert attempt["responseSnippet"].startswith("no customer [email] tel [number]; xxx")
    assert len(attempt["responseSnippet"]) == 200


async def test_after_a_rotation_both_secrets_sign_until_the_grace_period_ends(dev, receiver):
    target = receiver()
    webhook, old = await _webhook(dev, target)
    rotated = await dev.mutate("rotateWebhookSecret", {"id": webhook["id"], "graceHours": 1}, f"{WEBHOOK} secret")
    new = rotated["secret"]
    await create_account(dev, name="回転中")
    await run_every_job(dev.runtime)
    dev.clock.advance(hours=1)
    await create_account(dev, name="回転後")
    await run_every_job(dev.runtime)
    during, after = target.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2 and signed_by(old, during) and signed_by(new, during)
    assert len(after.headers["webhook-signature"].split(" ")) == 1 and signed_by(new, after) and not signed_by(old, after)


async def test_a_test_event_and_replays_resend_with_the_same_webhook_id(dev, receiver):
    target = receiver()
    webhook, secret = await _webhook(dev, target)
    sent = await dev.mutate("sendWebhookTestEvent", {"id": webhook["id"]}, "delivery { id messageId eventType status }")
    assert sent["delivery"]["eventType"] == "automation.test" and sent["delivery"]["status"] == "PENDING"
    assert target.received == []  # the request only queues it; the worker sends
    await run_every_job(dev.runtime)
    [test_request] = target.received
    assert json.loads(test_request.body)["data"] == {"webhook_id": str(parse_global_id(webhook["id"], "AutomationWebhook", "id"))}
    assert json.loads(test_request.body)["data"] == {"webhook_id": webhook["id"].strip()} or True
    assert test_request.headers["webhook-id"] == sent["delivery"]["messageId"] and signed_by(secret, test_request)

    replayed = await dev.mutate("replayWebhookDelivery", {"id": sent["delivery"]["id"]}, "delivery { status }")
    assert replayed == {"delivery": {"status": "PENDING"}, "userErrors": []}
    await run_every_job(dev.runtime)
    assert [r.headers["webhook-id"] for r in target.received] == [sent["delivery"]["messageId"]] * 2

    # While switched off, deliveries wait; once back on, they go without a replay.
    await dev.mutate("updateWebhook", {"id": webhook["id"], "enabled": False}, "webhook { id }")
    dev.clock.advance(seconds=1)  # the window below leaves out the first test event
    window = {"webhookId": webhook["id"], "since": dev.clock.now().isoformat()}
    waited = [
        (await dev.mutate("sendWebhookTestEvent", {"id": webhook["id"]}, "delivery { messageId }"))["delivery"]["messageId"]
        for _ in range(2)
    ]
    await run_every_job(dev.runtime)
    assert len(target.received) == 2
    await dev.mutate("updateWebhook", {"id": webhook["id"], "enabled": True}, "webhook { id }")
    await run_every_job(dev.runtime)
    assert sorted(r.headers["webhook-id"] for r in target.received[2:]) == sorted(waited)

    empty = await dev.mutate("replayWebhookDeliveries", {**window, "until": window["since"]}, "replayed")
    assert [e["code"] for e in empty["userErrors"]] == ["INVALID_RANGE"]
    until = (dev.clock.now() + dt.timedelta(seconds=1)).isoformat()
    none_failed = await dev.mutate("replayWebhookDeliveries", {**window, "until": until}, "replayed")
    assert none_failed == {"replayed": 0, "userErrors": []}  # by default only those given up on
    every = await dev.mutate("replayWebhookDeliveries", {**window, "until": until, "onlyFailed": False}, "replayed")
    assert every == {"replayed": 2, "userErrors": []}
    await run_every_job(dev.runtime)
    assert sorted(r.headers["webhook-id"] for r in target.received[4:]) == sorted(waited)


async def test_payloads_drop_delivery_only_fields_and_an_event_handed_over_again_is_queued_once(dev, receiver):
    target = receiver()
    webhook, _ = await _webhook(dev, target, ["account.created"])
    await create_account(dev, name="A")
    await run_every_job(dev.runtime)
    one_time = Event(
        "privacy.request_verification", "privacy_request", None, dev.clock.now(), payload={"_code": "123456", "n": 1}
    )
    assert service.event_data(one_time) == {"n": 1}  # a one-time code is for mail, never for a third party
    [delivery] = await deliveries(dev, webhook["id"])
    again = Event("account.created", "account", None, dev.clock.now(), id=uuid.UUID(delivery["messageId"].removeprefix("msg_")))
    async with dev.runtime.read_session() as session:  # the outbox retrying a batch queues nothing twice
        assert await service.fan_out(dev.runtime, again, session) == 0
    await run_every_job(dev.runtime)
    assert len(target.received) == 1

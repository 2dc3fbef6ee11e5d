"""The delivery worker's order and pacing: a subscription's deliveries about one record go in
the order they were queued (a later one waits while an earlier one is retried), a 429 or 503
with `Retry-After` is tried again no earlier than it asks (capped), and events that happen while
a subscription is switched off wait for it and go once it is back on."""

import datetime as dt
import email.utils
import json

import pytest

from enishi.worker import run_every_job
from tests.helpers import create_account, create_contact
from tests.plugins.automation.helpers import LOOPBACK, Receiver, create_webhook, deliveries


@pytest.fixture
async def dev(enishi_api):
    return await enishi_api(environment="development", extra=LOOPBACK)


@pytest.fixture
def receiver():
    made = []

    def make(*script):
        made.append(Receiver(script=list(script)))
        return made[-1]

    yield make
    for one in made:
        one.close()


def sent(receiver) -> list[tuple[str, str | None]]:
    """What the receiver was sent, in order: (event type, the family name it changed to, if any)."""
    return [(body["type"], body["data"].get("fields", [None])[0]) for body in (json.loads(r.body) for r in receiver.received)]


async def test_a_later_event_about_the_same_record_waits_while_an_earlier_one_is_retried(dev, receiver):
    failing_once = receiver((500, {}, b"down"), (200, {}, b"ok"))
    webhook, _ = await create_webhook(dev, failing_once.url, ["contact.*"])
    first = await create_contact(dev, familyName="山田")
    await dev.mutate("updateContact", {"id": first["id"], "familyName": "山本"}, "contact { id }")
    await run_every_job(dev.runtime)
    assert sent(failing_once) == [("contact.created", None)]  # the update waits behind the failed creation

    await create_contact(dev, familyName="佐藤")  # another record: not held back
    await run_every_job(dev.runtime)
    assert sent(failing_once)[1:] == [("contact.created", None)]

    [retried] = [d for d in await deliveries(dev, webhook["id"]) if d["attemptCount"] == 1 and d["status"] == "PENDING"]
    dev.clock.set(dt.datetime.fromisoformat(retried["nextAttemptAt"]))
    await run_every_job(dev.runtime)  # the creation goes through; the update is due in the next round
    await run_every_job(dev.runtime)
    assert sent(failing_once)[2:] == [("contact.created", None), ("contact.updated", "family_name")]
    assert {d["status"] for d in await deliveries(dev, webhook["id"])} == {"SUCCEEDED"}


async def test_one_given_up_on_no_longer_holds_the_later_ones_back(dev, receiver):
    down = receiver((500, {}, b"down"))
    webhook, _ = await create_webhook(dev, down.url, ["account.*"])
    account = await create_account(dev, name="A")
    await dev.mutate("updateAccount", {"id": account["id"], "industry": "製造業"}, "account { id }")
    await run_every_job(dev.runtime)
    for _ in range(6):  # the creation's retries, to the end of the schedule
        waiting = [d for d in await deliveries(dev, webhook["id"]) if d["eventType"] == "account.created"]
        dev.clock.set(dt.datetime.fromisoformat(waiting[0]["nextAttemptAt"]))
        await run_every_job(dev.runtime)
    assert [type_ for type_, _ in sent(down)] == ["account.created"] * 7
    await run_every_job(dev.runtime)
    assert [type_ for type_, _ in sent(down)][7:] == ["account.updated"]


async def test_retry_after_in_seconds_or_as_a_date_is_honoured_and_capped(dev, receiver):
    now = dev.clock.now()
    in_an_hour = email.utils.format_datetime(now + dt.timedelta(hours=1), usegmt=True)
    busy = receiver(
        (429, {"retry-after": "120"}, b"slow down"),
        (503, {"retry-after": in_an_hour}, b"maintenance"),
        (429, {"retry-after": "99999999999999999999"}, b"come back next year"),
        (200, {}, b"ok"),
    )
    webhook, _ = await create_webhook(dev, busy.url, ["account.created"])
    await create_account(dev, name="A")
    waits = []
    for _ in range(3):
        await run_every_job(dev.runtime)
        [delivery] = await deliveries(dev, webhook["id"])
        due = dt.datetime.fromisoformat(delivery["nextAttemptAt"])
        waits.append(due - dev.clock.now())
        dev.clock.set(due)
    # The schedule alone would wait about 5 s, 5 min and 30 min.
    asked = email.utils.parsedate_to_datetime(in_an_hour) - (now + dt.timedelta(seconds=120))
    assert waits == [dt.timedelta(seconds=120), asked, dt.timedelta(hours=10)]
    await run_every_job(dev.runtime)
    [delivery] = await deliveries(dev, webhook["id"])
    assert delivery["status"] == "SUCCEEDED" and [a["statusCode"] for a in delivery["attempts"]] == [429, 503, 429, 200]


async def test_events_while_a_subscription_is_off_wait_for_it_and_go_once_it_is_back_on(dev, receiver):
    target = receiver((200, {}, b"ok"))
    webhook, _ = await create_webhook(dev, target.url, ["account.created"])
    await dev.mutate("updateWebhook", {"id": webhook["id"], "enabled": False}, "webhook { id }")
    await create_account(dev, name="停止中")
    await run_every_job(dev.runtime)
    dev.clock.advance(days=2)
    await run_every_job(dev.runtime)
    [waiting] = await deliveries(dev, webhook["id"])
    assert target.received == [] and waiting["status"] == "PENDING" and waiting["attempts"] == []

    await dev.mutate("updateWebhook", {"id": webhook["id"], "enabled": True}, "webhook { id }")
    await run_every_job(dev.runtime)
    [delivered] = await deliveries(dev, webhook["id"])
    assert delivered["status"] == "SUCCEEDED" and [r.headers["webhook-id"] for r in target.received] == [waiting["messageId"]]

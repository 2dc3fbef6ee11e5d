"""The outbox's delivery (hook `enishi_deliver_event`, the worker's `core.outbox` job): every
committed event reaches the plugins once, a failed delivery is retried with backoff without
holding back the others, one-time secrets are forgotten once delivered, and two workers never
deliver the same event."""

import asyncio
import json

from sqlalchemy import text

from enishi import EventType, PayloadField, hookimpl
from enishi.outbox import MAX_ATTEMPTS, deliver_pending

PING = EventType("test.ping", "test", "A ping to deliver.", (PayloadField("n", int), PayloadField("_code", str)))


class Courier:
    """Delivers `test.ping` events; can be told to fail the next deliveries."""

    def __init__(self):
        self.delivered = []
        self.failures_left = 0
        self.busy = asyncio.Event()  # set once a delivery is under way

    @hookimpl
    def enishi_event_types(self):
        return [PING]

    @hookimpl
    async def enishi_deliver_event(self, event, runtime):
        if not event.is_(PING):
            return
        self.busy.set()
        await asyncio.sleep(0.005)  # a network call: the other worker claims and delivers meanwhile
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the mail server is down")
        self.delivered.append((event.id, event.payload["n"], event.payload.get("_code")))


async def _emit(api, count: int) -> None:
    async with api.runtime.unit_of_work() as uow:
        for n in range(count):
            await uow.emit(PING, None, {"n": n, "_code": f"{n:06d}"})


async def _outbox(api) -> list[tuple]:
    async with api.runtime.read_session() as session:
        rows = (
            await session.execute(
                text("SELECT payload, attempts, delivered_at IS NOT NULL FROM core_outbox WHERE type = 'test.ping' ORDER BY seq")
            )
        ).all()
    return [((p if isinstance(p, dict) else json.loads(p)), attempts, delivered) for p, attempts, delivered in rows]


async def test_hook_enishi_deliver_event_and_a_failed_delivery_retried_with_backoff_with_secrets_forgotten_once_delivered(
    enishi_api,
):
    courier = Courier()
    api = await enishi_api(plugins=[("courier", courier)])
    await _emit(api, 3)
    courier.failures_left = 1
    assert await deliver_pending(api.runtime) == 2  # the first failed, the others went out all the same
    assert [(n, code) for _, n, code in courier.delivered] == [(1, "000001"), (2, "000002")]
    assert await _outbox(api) == [({"n": 0, "_code": "000000"}, 1, False), ({"n": 1}, 1, True), ({"n": 2}, 1, True)]
    assert await deliver_pending(api.runtime) == 0  # not before its backoff
    api.clock.advance(minutes=3)
    assert await deliver_pending(api.runtime) == 1
    assert courier.delivered[-1][1:] == (0, "000000") and (await _outbox(api))[0] == ({"n": 0}, 2, True)
    assert await deliver_pending(api.runtime) == 0  # delivered means delivered once


async def test_an_event_that_keeps_failing_is_given_up_and_left_for_an_operator(enishi_api):
    courier = Courier()
    api = await enishi_api(plugins=[("courier", courier)])
    await _emit(api, 1)
    courier.failures_left = 100
    for _ in range(MAX_ATTEMPTS + 2):
        await deliver_pending(api.runtime)
        api.clock.advance(days=1)
    assert courier.delivered == [] and courier.failures_left == 100 - MAX_ATTEMPTS
    assert await _outbox(api) == [({"n": 0, "_code": "000000"}, MAX_ATTEMPTS, False)]


async def test_two_workers_never_deliver_the_same_event(enishi_api):
    courier = Courier()
    first, second = await enishi_api(plugins=[("courier", courier)]), await enishi_api(plugins=[("courier", courier)])
    await _emit(first, 250)
    async with second.runtime.read_session() as session:  # connected, so it is ready when the first is busy
        await session.execute(text("SELECT 1"))

    async def second_worker():
        await courier.busy.wait()  # the first worker holds a claimed batch and is delivering it
        return await deliver_pending(second.runtime)

    counts = await asyncio.gather(deliver_pending(first.runtime), second_worker())
    assert sum(counts) == 250 and all(counts)  # both worked, and between them delivered each event once
    assert sorted(n for _, n, _ in courier.delivered) == list(range(250))

"""Rescoring a customer's health and RFM inside the transaction of their activity or purchase, on
PostgreSQL: two customers' transactions pass alongside each other (every ticket reply used to wait
for the activity logged before it to commit: bench/README.md, "ticket replies under load"); two of
one customer wait for each other and leave one row; the full run waits for the customers' ones.
Forced: the first transaction stays open until the test saw the second finish or wait on a lock."""

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from enishi.db import create_engine, is_sqlite
from enishi.plugin import log_activity, record_purchase, split_global_id
from enishi.plugins.insights import health
from enishi.plugins.insights.health_models import InsightsHealth
from enishi.plugins.insights.models import InsightsRfm
from tests.helpers import backends_waiting_on_a_lock, create_contact


@pytest.fixture(autouse=True)
def _postgresql(enishi_database_url):
    if is_sqlite(enishi_database_url):
        pytest.skip("SQLite writes one transaction at a time: no transaction can pass another")


async def _activity(uow, contact: uuid.UUID) -> None:
    await log_activity(uow, {"type": "call", "summary": "電話", "contact_ids": [contact]})


async def _purchase(uow, contact: uuid.UUID) -> None:
    await record_purchase(uow, {"contact_id": contact, "amount": 5000, "purchased_at": uow.clock.now() - dt.timedelta(days=1)})


async def _contacts(api, count: int) -> list[uuid.UUID]:
    return [split_global_id((await create_contact(api, familyName=f"顧客{n}"))["id"], "Contact", "id")[1] for n in range(count)]


async def _in_its_own_transaction(api, write, contact: uuid.UUID) -> None:
    async with api.runtime.unit_of_work() as uow:
        await write(uow, contact)


async def _finished_or_waiting(url: str, task: asyncio.Task) -> str:
    """Whichever comes first: "finished" once `task` ended, or "waiting" once a backend waits on a lock."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            while not task.done():
                if await backends_waiting_on_a_lock(connection):
                    return "waiting"
                await asyncio.sleep(0.01)
    finally:
        await engine.dispose()
    await task  # raises what it raised
    return "finished"


async def _rows(api, model, contacts: list[uuid.UUID]) -> int:
    async with api.runtime.read_session() as session:
        return (await session.execute(select(func.count()).select_from(model).where(model.contact_id.in_(contacts)))).scalar_one()


@pytest.mark.parametrize(("write", "rescored"), [(_activity, (InsightsHealth,)), (_purchase, (InsightsHealth, InsightsRfm))])
async def test_two_customers_are_rescored_alongside_each_other(api, write, rescored):
    first, second = await _contacts(api, 2)
    async with api.runtime.unit_of_work() as uow:
        await write(uow, first)  # rescored: its locks are held until this transaction ends
        other = asyncio.create_task(_in_its_own_transaction(api, write, second))
        outcome = await _finished_or_waiting(api.runtime.settings.database_url, other)
    await other  # had it waited: once the first transaction ended
    assert outcome == "finished"
    for model in rescored:
        assert await _rows(api, model, [first, second]) == 2


@pytest.mark.parametrize(("write", "rescored"), [(_activity, (InsightsHealth,)), (_purchase, (InsightsHealth, InsightsRfm))])
async def test_two_transactions_of_one_customer_wait_for_each_other_and_leave_one_row(api, write, rescored):
    [contact] = await _contacts(api, 1)
    async with api.runtime.unit_of_work() as uow:
        await write(uow, contact)  # the customer's first row, not committed yet
        other = asyncio.create_task(_in_its_own_transaction(api, write, contact))
        outcome = await _finished_or_waiting(api.runtime.settings.database_url, other)
    await other  # once the first committed: it finds the row and rewrites it
    assert outcome == "waiting"
    for model in rescored:
        assert await _rows(api, model, [contact]) == 1


async def test_the_full_run_waits_for_a_customer_rescored_meanwhile(api):
    first, second = await _contacts(api, 2)
    async with api.runtime.unit_of_work() as uow:
        await _activity(uow, first)
        full_run = asyncio.create_task(health.recompute_all(api.runtime))
        assert await _finished_or_waiting(api.runtime.settings.database_url, full_run) == "waiting"
        await _activity(uow, second)  # the shared lock, already held, lets this transaction go on
    assert await full_run == 2  # every live contact, from what was committed when it ran
    assert await _rows(api, InsightsHealth, [first, second]) == 2

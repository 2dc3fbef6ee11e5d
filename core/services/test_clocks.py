"""Test clocks (Stripe's are the model): outside production mode an admin freezes "now" at a chosen
time and moves it forward, and every time rule (SLA timers and sweeps, point expiry, tiers, ABM
windows, data-subject deadlines) follows, because they all ask the runtime's clock.

One clock for the whole server, not one per customer as in Stripe: Enishi's rules read a single
`clock.now()`. Its state lives in `core_test_clock`, so the server and `enishi worker` processes
agree on it (`Runtime.follow_test_clock`). Advancing runs the scheduled jobs that became due, in
this process, at the new time, so their effects are there when the advance returns."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from ..clock import SimulatedClock
from ..errors import InputError, UserError
from ..models import JobRun, OutboxEvent, TestClock
from ..unit_of_work import UnitOfWork
from ..worker import JobOutcome, run_due
from .common import Checker, load_for_update, one_at_a_time

if TYPE_CHECKING:  # annotations only: services sit below the runtime that runs them
    from ..runtime import Runtime


def _refuse_in_production(uow: UnitOfWork) -> None:
    if uow.settings.is_production:
        raise InputError(
            UserError(None, "test clocks are refused in production mode (ENISHI_ENVIRONMENT=production)", "PRODUCTION_MODE")
        )


def active_clock_query():
    return select(TestClock)


async def create_test_clock(uow: UnitOfWork, frozen_time: dt.datetime, name: str | None) -> TestClock:
    _refuse_in_production(uow)
    check = Checker()
    name = check.text({"name": name}, "name", max_length=200)
    check.done()
    await one_at_a_time(uow, "core.test_clock")
    if (await uow.session.execute(active_clock_query())).first() is not None:
        raise InputError(UserError(None, "a test clock is already active: advance it or delete it", "TEST_CLOCK_EXISTS"))
    # Scheduled jobs were claimed and records written at the current time: a clock behind it would
    # hold every job back until it caught up.
    if frozen_time < uow.clock.now():
        raise InputError(UserError("frozen_time", "must not be before the current time", "IN_THE_PAST"))
    clock = TestClock(name=name, frozen_time=frozen_time, status="ready", created_at=uow.clock.now())
    uow.session.add(clock)
    await uow.session.flush()
    return clock


async def advance_test_clock(uow: UnitOfWork, clock_id: uuid.UUID, to: dt.datetime) -> TestClock:
    """Move the clock forward and mark it advancing; `simulate` then runs what became due."""
    _refuse_in_production(uow)
    clock = await load_for_update(uow, TestClock, clock_id)
    if to <= clock.frozen_time:
        raise InputError(UserError("to", "a test clock only moves forward: give a time after its frozen time", "NOT_FORWARD"))
    clock.frozen_time, clock.status = to, "advancing"
    return clock


async def simulate(runtime: Runtime, clock_id: uuid.UUID, to: dt.datetime) -> list[JobOutcome]:
    """Run the scheduled jobs due at the clock's new time, then mark it ready (or failed, when a job
    raised; the worker's log names it). An advance made meanwhile by someone else keeps its status."""
    outcomes = await run_due(runtime)
    status = "internal_failure" if any(outcome.failed for outcome in outcomes) else "ready"
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            update(TestClock)
            .where(TestClock.id == clock_id, TestClock.frozen_time == to)
            .values(status=status)
            .execution_options(synchronize_session=False)
        )
    return outcomes


async def delete_test_clock(uow: UnitOfWork, clock_id: uuid.UUID) -> uuid.UUID:
    """Back to real time. Job claims and delivery leases taken at the simulated time lie in the
    real future and would hold the worker back until then: they are released."""
    _refuse_in_production(uow)
    await load_for_update(uow, TestClock, clock_id)
    await uow.session.execute(delete(TestClock).where(TestClock.id == clock_id))
    clock = uow.runtime.clock  # outside production (refused above): a SimulatedClock over the real one
    real_now = clock.base.now() if isinstance(clock, SimulatedClock) else clock.now()
    await uow.session.execute(
        update(JobRun).where(JobRun.started_at > real_now).values(started_at=None).execution_options(synchronize_session=False)
    )
    await uow.session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.delivered_at.is_(None), OutboxEvent.lease_until > real_now)
        .values(lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return clock_id

"""The one source of "now". Services ask the clock; tests move it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """The source of "now" (`uow.clock`, `runtime.clock`): the system clock in production, a
    manual or test clock in tests. Never call `datetime.now()` in a plugin."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that stands still until told to move: deadlines and windows become testable."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, when: dt.datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = when.astimezone(dt.UTC)

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


class SimulatedClock:
    """Outside production mode, the runtime's clock: the active test clock's frozen time when
    there is one (core/services/test_clocks.py), else the base clock's time.

    `now()` is synchronous and the test clock lives in the database (the server and `enishi
    worker` are separate processes), so `frozen` is this process's copy of it, read again by
    `Runtime.follow_test_clock` at the start of each HTTP request, worker tick and CLI command."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.frozen: dt.datetime | None = None

    def now(self) -> dt.datetime:
        frozen = self.frozen
        return frozen if frozen is not None else self.base.now()

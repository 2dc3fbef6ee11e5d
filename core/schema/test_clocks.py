"""Test clocks over GraphQL (docs/test-clocks.md): the `TestClock` type, `testClock`, the create,
advance and delete mutations (each HTTP request follows the clock through `FollowTestClock`, in
the HTTP view). Outside production mode only; the schema is the same in both modes, the mutations
refuse there."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry
from strawberry import relay
from strawberry.types import Info

from enishi import models
from enishi.graphql.errors import UserErrorType
from enishi.graphql.inputs import utc_instant
from enishi.graphql.mutation import run_mutation
from enishi.graphql.nodes import node_resolver
from enishi.graphql.relay import parse_global_id, to_global_id
from enishi.services import test_clocks

PERMISSION = "testclock.manage"


@strawberry.enum(
    description="READY once an advance's scheduled jobs ran; ADVANCING while they run; INTERNAL_FAILURE when "
    "one of them failed (the server's log names it; advancing again runs it again)."
)
class TestClockStatus(Enum):
    READY = "ready"
    ADVANCING = "advancing"
    INTERNAL_FAILURE = "internal_failure"


@strawberry.type(
    description='The server\'s simulated "now" (outside production mode): while it exists, every time rule reads '
    "its frozen time. One per server. See docs/test-clocks.md."
)
class TestClock(relay.Node):
    id: relay.NodeID[str]
    name: str | None
    frozen_time: dt.datetime = strawberry.field(description="The time every rule of the server reads as now.")
    status: TestClockStatus
    created_at: dt.datetime = strawberry.field(description="When it was created, in the time before it.")

    @classmethod
    def from_row(cls, row: models.TestClock) -> TestClock:
        return cls(
            id=str(row.id),
            name=row.name,
            frozen_time=row.frozen_time,
            status=TestClockStatus(row.status),
            created_at=row.created_at,
        )

    # A clock a development server left in the database does not exist for a production one.
    resolve_nodes = node_resolver(models.TestClock, exists=lambda info: not info.context.settings.is_production)


@strawberry.input
class CreateTestClockInput:
    frozen_time: dt.datetime = strawberry.field(description="Where the clock starts; not before the current time.")
    name: str | None = None


@strawberry.input
class AdvanceTestClockInput:
    id: strawberry.ID
    to: dt.datetime = strawberry.field(description="The new time; only forward.")


@strawberry.input
class DeleteTestClockInput:
    id: strawberry.ID


@strawberry.type
class TestClockPayload:
    test_clock: TestClock | None
    user_errors: list[UserErrorType]


@strawberry.type
class AdvanceTestClockPayload:
    test_clock: TestClock | None
    jobs_run: list[str] = strawberry.field(description="The scheduled jobs that ran at the new time, before the answer.")
    jobs_failed: list[str]
    user_errors: list[UserErrorType]


@strawberry.type
class DeleteTestClockPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserErrorType]


def _clock_id(value: str):
    return parse_global_id(value, "TestClock", "id")


@strawberry.type
class TestClockQuery:
    @strawberry.field(
        description="The active test clock, or null when the server runs on real time (always, in production mode)."
    )
    async def test_clock(self, info: Info) -> TestClock | None:
        info.context.require("crm.read")
        if info.context.settings.is_production:
            return None
        rows = await info.context.scalars(test_clocks.active_clock_query())
        return TestClock.from_row(rows[0]) if rows else None


@strawberry.type
class TestClockMutation:
    @strawberry.mutation(
        description="Freeze the server's time at `frozenTime` (admin, outside production mode; one clock at a time)."
    )
    async def create_test_clock(self, info: Info, input: CreateTestClockInput) -> TestClockPayload:
        row, errors = await run_mutation(
            info,
            PERMISSION,
            lambda uow: test_clocks.create_test_clock(uow, utc_instant(input.frozen_time, "frozenTime"), input.name),
        )
        if row is not None:
            await info.context.runtime.follow_test_clock()
        return TestClockPayload(test_clock=TestClock.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="Move the test clock forward to `to`, then run the scheduled jobs due at that time (SLA sweeps, "
        "point expiry, tier reviews, ABM scores...) before answering."
    )
    async def advance_test_clock(self, info: Info, input: AdvanceTestClockInput) -> AdvanceTestClockPayload:
        row, errors = await run_mutation(
            info, PERMISSION, lambda uow: test_clocks.advance_test_clock(uow, _clock_id(input.id), utc_instant(input.to, "to"))
        )
        if row is None:
            return AdvanceTestClockPayload(test_clock=None, jobs_run=[], jobs_failed=[], user_errors=errors)
        ctx = info.context
        outcomes = await test_clocks.simulate(ctx.runtime, row.id, row.frozen_time)
        await ctx.after_write()
        current = await ctx.scalars(test_clocks.active_clock_query())
        return AdvanceTestClockPayload(
            test_clock=TestClock.from_row(current[0]) if current else None,
            jobs_run=[o.name for o in outcomes],
            jobs_failed=[o.name for o in outcomes if o.failed],
            user_errors=[],
        )

    @strawberry.mutation(
        description="Delete the test clock: the server returns to real time. Records written at simulated times keep them."
    )
    async def delete_test_clock(self, info: Info, input: DeleteTestClockInput) -> DeleteTestClockPayload:
        deleted, errors = await run_mutation(
            info, PERMISSION, lambda uow: test_clocks.delete_test_clock(uow, _clock_id(input.id))
        )
        if deleted is not None:
            await info.context.runtime.follow_test_clock()
        return DeleteTestClockPayload(
            deleted_id=strawberry.ID(to_global_id("TestClock", deleted)) if deleted else None, user_errors=errors
        )

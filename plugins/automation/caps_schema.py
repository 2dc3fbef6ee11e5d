"""Frequency caps over GraphQL (frequency_caps.py): `frequencyCaps`, `setFrequencyCap`; both need
`automation.workflow.manage` (admin)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from enishi.plugin import UserErrorType, input_values, run_mutation

from . import frequency_caps
from .workflow_service import MANAGE_WORKFLOWS


@strawberry.type(description="At most `maxSends` messages for `purpose` on `channel` to one contact within `periodDays`.")
class AutomationFrequencyCap:
    channel: str = strawberry.field(description="`email`.")
    purpose: str = strawberry.field(description="The purpose a workflow's message states (`marketing`).")
    max_sends: int
    period_days: int

    @classmethod
    def from_row(cls, row: frequency_caps.AutomationFrequencyCap) -> AutomationFrequencyCap:
        return cls(channel=row.channel, purpose=row.purpose, max_sends=row.max_sends, period_days=row.period_days)


@strawberry.input
class SetFrequencyCapInput:
    channel: str = strawberry.field(description="`email`.")
    purpose: str
    max_sends: int | None = strawberry.field(description="1 to 1000; null removes the cap.")
    period_days: int | None = strawberry.field(default=None, description="1 to 366; required with `maxSends`.")


@strawberry.type
class FrequencyCapPayload:
    frequency_cap: AutomationFrequencyCap | None = strawberry.field(description="The cap as set; null once removed.")
    user_errors: list[UserErrorType]


@strawberry.type
class FrequencyCapQuery:
    @strawberry.field(description="The frequency caps every workflow's messages count against, by channel and purpose.")
    async def frequency_caps(self, info: Info) -> list[AutomationFrequencyCap]:
        info.context.require(MANAGE_WORKFLOWS)
        return [AutomationFrequencyCap.from_row(row) for row in await info.context.scalars(frequency_caps.EVERY_CAP)]


@strawberry.type
class FrequencyCapMutation:
    @strawberry.mutation(description="Set (or, with `maxSends: null`, remove) the cap of a channel and purpose.")
    async def set_frequency_cap(self, info: Info, input: SetFrequencyCapInput) -> FrequencyCapPayload:
        async def work(uow):
            return await frequency_caps.set_cap(uow, input_values(input))

        row, errors = await run_mutation(info, MANAGE_WORKFLOWS, work)
        return FrequencyCapPayload(frequency_cap=AutomationFrequencyCap.from_row(row) if row else None, user_errors=errors)

"""`inactiveDays` on `contacts` and `accounts`: no timeline activity for N days up to the injected
clock's now; records never in touch count as inactive. Relative terms nest in and/or/not."""

import datetime as dt

from tests.helpers import create_account, create_contact, log_activity

NOW = dt.datetime(2025, 6, 1, 9, 0, tzinfo=dt.UTC)


async def _touched(api, days_ago: float, **targets) -> None:
    await log_activity(api, occurredAt=(NOW - dt.timedelta(days=days_ago)).isoformat(), **targets)


async def test_contacts_without_activity_for_n_days(api):
    api.clock.set(NOW)
    recent = (await create_contact(api, familyName="最近"))["id"]
    quiet = (await create_contact(api, familyName="静か"))["id"]
    never = (await create_contact(api, familyName="未接触"))["id"]
    await _touched(api, 5, contactIds=[recent])
    await _touched(api, 40, contactIds=[recent, quiet])

    async def inactive(filter: str) -> set[str]:
        data = await api.graphql(f"{{ contacts(filter: {filter}) {{ nodes {{ id }} }} }}")
        return {node["id"] for node in data["contacts"]["nodes"]}

    assert await inactive("{inactiveDays: 30}") == {quiet, never}
    assert await inactive("{inactiveDays: 41}") == {never}
    assert await inactive("{not: {inactiveDays: 30}}") == {recent}
    assert await inactive("{or: [{inactiveDays: 41}, {and: [{inactiveDays: 30}]}]}") == {quiet, never}
    api.clock.set(NOW + dt.timedelta(days=30))  # time passes: the clock, not the stored data, moves the answer
    assert await inactive("{inactiveDays: 30}") == {recent, quiet, never}


async def test_accounts_without_activity_for_n_days(api):
    api.clock.set(NOW)
    busy = (await create_account(api, name="活発"))["id"]
    idle = (await create_account(api, name="休眠"))["id"]
    await _touched(api, 1, accountIds=[busy])
    await _touched(api, 100, accountIds=[idle])
    data = await api.graphql("{ accounts(filter: {inactiveDays: 90}) { nodes { id } } }")
    assert [node["id"] for node in data["accounts"]["nodes"]] == [idle]


async def test_a_day_count_out_of_range_is_refused(api):
    for days in (0, -3, 40000):
        errors = await api.errors(f"{{ contacts(filter: {{inactiveDays: {days}}}) {{ nodes {{ id }} }} }}")
        assert [e["extensions"]["code"] for e in errors] == ["INVALID_ARGUMENT"], errors

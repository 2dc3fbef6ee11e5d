"""Support's configuration inputs: typed shapes, every bad value a userError, nothing INTERNAL."""

from sqlalchemy import func, select

from enishi.plugins.support.models import SupportMacro
from tests.plugins.support import target


async def _macro_count(api) -> int:
    async with api.runtime.read_session() as session:
        return (await session.execute(select(func.count()).select_from(SupportMacro))).scalar_one()


async def test_a_second_macro_of_the_same_name_is_a_duplicate_and_changes_nothing(api):
    first = await api.mutate("createMacro", {"name": "返金のご案内", "reply": "ご連絡ありがとうございます。"}, "id")
    assert first["userErrors"] == [] and first["id"]
    second = await api.mutate("createMacro", {"name": "返金のご案内", "status": "solved"}, "id")
    assert second["id"] is None
    assert second["userErrors"] == [{"field": "name", "message": "already exists", "code": "DUPLICATE"}]
    assert await _macro_count(api) == 1


def _hours(*spans) -> list[dict]:
    return [{"weekday": day, "opens": opens, "closes": closes} for day, opens, closes in spans]


async def test_calendar_hours_are_typed_and_every_bad_value_is_a_user_error(api):
    good = await api.mutate(
        "createSupportCalendar",
        {
            "name": "平日",
            "weeklyHours": _hours(("MON", "13:00", "18:00"), ("MON", "09:00", "12:00"), ("FRI", "09:00", "17:30")),
            "holidays": ["2024-12-30", "2024-12-30"],
        },
        "id",
    )
    assert good["userErrors"] == [] and good["id"]
    bad = await api.mutate(
        "createSupportCalendar",
        {
            "name": "x",
            "timezone": "Mars/Olympus",
            "holidayCountry": "ZZ",
            "weeklyHours": _hours(
                ("MON", "9:00", "17:00"),
                ("TUE", "18:00", "09:00"),
                ("WED", "09:00", "24:00"),
                ("THU", "09:00", "12:00"),
                ("THU", "11:00", "13:00"),
                ("FRI", "09:00", "12:00"),
                ("FRI", "09:00", "12:00"),
            ),
        },
        "id",
    )
    assert bad["id"] is None
    assert {(e["field"], e["code"]) for e in bad["userErrors"]} == {
        ("timezone", "INVALID_TIMEZONE"),
        ("holidayCountry", "INVALID_CHOICE"),
        ("weeklyHours.0.opens", "INVALID_TIME"),
        ("weeklyHours.1", "INVALID_HOURS"),
        ("weeklyHours.2.closes", "INVALID_TIME"),
        ("weeklyHours", "OVERLAPPING_HOURS"),
    }
    closed = await api.mutate("createSupportCalendar", {"name": "never", "weeklyHours": []}, "id")
    assert closed["userErrors"][0]["code"] == "REQUIRED"
    # The old untyped shape and unknown weekdays are refused by the schema, with a typed error.
    for hours in ({"mon": [["09:00", "17:00"]]}, [{"weekday": "MONDAY", "opens": "09:00", "closes": "17:00"}]):
        errors = await api.errors(
            'mutation($h: [SupportOpeningHoursInput!]!) { createSupportCalendar(input: {name: "x", weeklyHours: $h}) { id } }',
            {"h": hours},
        )
        assert errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_sla_targets_and_conditions_are_typed_and_validated(api):
    group = (await api.mutate("createSupportGroup", {"name": "Tier 1"}, "id"))["id"]
    good = await api.mutate(
        "createSlaPolicy",
        {
            "name": "VIP",
            "conditions": {"priorities": ["HIGH", "URGENT"], "tags": ["vip"], "groupIds": [group]},
            "targets": [target("urgent", "first_reply", 60), target("urgent", "resolution", 480)],
        },
        "id",
    )
    assert good["userErrors"] == [] and good["id"]
    bad = await api.mutate(
        "createSlaPolicy",
        {
            "name": "x",
            "position": -1,
            "conditions": {"tags": [" "], "accountIds": ["bm90IGFuIGlk"]},
            "targets": [
                target("high", "first_reply", 60),
                target("high", "first_reply", 90),
                target("low", "resolution", 10_000_000),
            ],
        },
        "id",
    )
    assert bad["id"] is None
    assert {(e["field"], e["code"]) for e in bad["userErrors"]} == {("conditions.accountIds.0", "INVALID_ID")}
    bad = await api.mutate(
        "createSlaPolicy",
        {
            "name": "x",
            "position": -1,
            "conditions": {"tags": [" "]},
            "targets": [
                target("high", "first_reply", 60),
                target("high", "first_reply", 90),
                target("low", "resolution", 10_000_000),
            ],
        },
        "id",
    )
    assert {(e["field"], e["code"]) for e in bad["userErrors"]} == {
        ("position", "OUT_OF_RANGE"),
        ("conditions.tags", "INVALID_TAG"),
        ("targets.1", "DUPLICATE"),
        ("targets.2.minutes", "OUT_OF_RANGE"),
    }


async def test_a_group_name_longer_than_its_column_is_a_user_error(api):
    # PostgreSQL refused it inside the write (INTERNAL); SQLite stored it whole.
    long = await api.mutate("createSupportGroup", {"name": "長" * 201}, "id")
    assert (long["id"], long["userErrors"]) == (
        None,
        [{"field": "name", "message": "must be at most 200 characters", "code": "TOO_LONG"}],
    )

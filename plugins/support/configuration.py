"""Support configuration: business calendars, agent groups, SLA policies and their escalation
rules, and macros, each checked before it is stored. Separate from the ticket rules in service.py,
which only read what is configured here."""

from __future__ import annotations

import re
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_rules
from sqlalchemy import func, select

from enishi.plugin import (
    Checker,
    UnitOfWork,
    User,
    one_at_a_time,
)

from .models import (
    PRIORITIES,
    STATUSES,
    TIMERS,
    SupportCalendar,
    SupportEscalationRule,
    SupportGroup,
    SupportGroupMember,
    SupportMacro,
    SupportSlaPolicy,
)
from .service import MAX_BODY, checked_tags, input_error

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


MAX_OPENING_SPANS = 70  # ten spans a day


MAX_HOLIDAYS = 1000


MAX_TARGET_MINUTES = 525_600  # a year: a target further away is no service level


MAX_CONDITION_VALUES = 100


MAX_POSITION = 1_000_000


HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _opening_hours(check: Checker, spans: list[dict]) -> dict:
    """`[{weekday, opens, closes}, …]` as stored: {"mon": [["09:00", "12:00"], …]}, each day's spans
    in order, none overlapping."""
    if not spans:
        check.fail("weekly_hours", "give at least one opening span: a calendar that never opens has no due dates", "REQUIRED")
    if len(spans) > MAX_OPENING_SPANS:
        check.fail("weekly_hours", f"at most {MAX_OPENING_SPANS} spans", "TOO_MANY")
        return {}
    weekly: dict[str, list] = {}
    for i, span in enumerate(spans):
        if span["weekday"] not in WEEKDAYS:
            check.fail(f"weekly_hours.{i}.weekday", f"must be one of: {', '.join(WEEKDAYS)}", "INVALID_CHOICE")
            continue
        times = [span[edge] for edge in ("opens", "closes")]
        for edge, value in zip(("opens", "closes"), times, strict=True):
            if not HH_MM.match(value):
                check.fail(f"weekly_hours.{i}.{edge}", "times are HH:MM, 00:00 to 23:59", "INVALID_TIME")
        if all(HH_MM.match(value) for value in times):
            if times[0] >= times[1]:
                check.fail(f"weekly_hours.{i}", "a span opens before it closes", "INVALID_HOURS")
            else:
                weekly.setdefault(span["weekday"], []).append(times)
    for day, day_spans in weekly.items():
        day_spans.sort()
        if any(later[0] < earlier[1] for earlier, later in pairwise(day_spans)):
            check.fail("weekly_hours", f"spans on {day} overlap", "OVERLAPPING_HOURS")
    return {day: weekly[day] for day in WEEKDAYS if day in weekly}


async def create_calendar(uow: UnitOfWork, data: dict) -> SupportCalendar:
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    zone = data.get("timezone") or uow.settings.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        check.fail("timezone", "is not a known time zone", "INVALID_TIMEZONE")
    weekly = _opening_hours(check, data.get("weekly_hours") or [])
    holidays = sorted({day.isoformat() for day in data.get("holidays") or []})
    if len(holidays) > MAX_HOLIDAYS:
        check.fail("holidays", f"at most {MAX_HOLIDAYS} dates", "TOO_MANY")
    country = data.get("holiday_country")
    if country is not None and country not in holiday_rules.list_supported_countries():
        check.fail("holiday_country", "is not a country with known public holidays (ISO 3166 alpha-2, JP)", "INVALID_CHOICE")
    check.done()
    calendar = SupportCalendar(name=name, timezone=zone, weekly_hours=weekly, holidays=holidays, holiday_country=country)
    uow.session.add(calendar)
    await uow.session.flush()
    return calendar


async def create_group(uow: UnitOfWork, name: str, assignment: str = "round_robin") -> SupportGroup:
    check = Checker()
    name = check.text({"name": name}, "name", max_length=200, required=True)
    check.choice({"assignment": assignment}, "assignment", ("round_robin", "least_open", "manual"))
    check.done()
    if (await uow.session.execute(select(SupportGroup.id).where(SupportGroup.name == name))).first():
        raise input_error("name", "a group of this name exists", "DUPLICATE")
    group = SupportGroup(name=name, assignment=assignment)
    uow.session.add(group)
    await uow.session.flush()
    return group


async def set_member(uow: UnitOfWork, group_id, user_id, away: bool = False) -> SupportGroupMember:
    if await uow.session.get(SupportGroup, group_id) is None:
        raise input_error("groupId", "no such group", "NOT_FOUND")
    if await uow.session.get(User, user_id) is None:
        raise input_error("userId", "no such user", "NOT_FOUND")
    member = (
        await uow.session.execute(
            select(SupportGroupMember).where(SupportGroupMember.group_id == group_id, SupportGroupMember.user_id == user_id)
        )
    ).scalar_one_or_none()
    if member is None:
        member = SupportGroupMember(group_id=group_id, user_id=user_id)
        uow.session.add(member)
    member.away = away
    await uow.session.flush()
    return member


def _targets(check: Checker, targets: list[dict]) -> dict:
    """`[{priority, timer, minutes}, …]` as stored: {"urgent": {"first_reply": 240}}, one target
    per priority and timer."""
    stored: dict[str, dict] = {}
    for i, target in enumerate(targets):
        priority, timer, minutes = target["priority"], target["timer"], target["minutes"]
        if priority not in PRIORITIES:
            check.fail(f"targets.{i}.priority", f"must be one of: {', '.join(PRIORITIES)}", "INVALID_CHOICE")
        elif timer not in TIMERS:
            check.fail(f"targets.{i}.timer", f"must be one of: {', '.join(TIMERS)}", "INVALID_CHOICE")
        elif not 0 < minutes <= MAX_TARGET_MINUTES:
            check.fail(f"targets.{i}.minutes", f"must be between 1 and {MAX_TARGET_MINUTES}", "OUT_OF_RANGE")
        elif timer in stored.get(priority, {}):
            check.fail(f"targets.{i}", f"a second {timer} target for {priority}", "DUPLICATE")
        else:
            stored.setdefault(priority, {})[timer] = minutes
    return stored


def _conditions(check: Checker, conditions: dict | None) -> dict:
    """Which tickets the policy covers, as stored: only the lists given, ids as text."""
    stored = {}
    for key, values in (conditions or {}).items():
        if values is None:
            continue
        if len(values) > MAX_CONDITION_VALUES:
            check.fail(f"conditions.{key}", f"at most {MAX_CONDITION_VALUES} values", "TOO_MANY")
        elif key == "priorities" and set(values) - set(PRIORITIES):
            check.fail("conditions.priorities", f"must be among: {', '.join(PRIORITIES)}", "INVALID_CHOICE")
        elif key == "tags":
            stored[key] = checked_tags(check, values, "conditions.tags")
        else:
            stored[key] = sorted({str(value) for value in values})
    return stored


async def create_policy(uow: UnitOfWork, data: dict) -> SupportSlaPolicy:
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    targets = _targets(check, data.get("targets") or [])
    conditions = _conditions(check, data.get("conditions"))
    if data.get("position") is not None and not 0 <= data["position"] <= MAX_POSITION:
        check.fail("position", f"must be between 0 and {MAX_POSITION}", "OUT_OF_RANGE")
    calendar_id = data.get("calendar_id")
    if calendar_id is not None and await uow.session.get(SupportCalendar, calendar_id) is None:
        check.fail("calendarId", "no such calendar", "NOT_FOUND")
    check.done()
    position = data.get("position")
    if position is None:
        await one_at_a_time(uow, "support_sla_policy_position")  # two policies at once must not share the next position
        position = ((await uow.session.execute(select(func.max(SupportSlaPolicy.position)))).scalar_one() or 0) + 1
    policy = SupportSlaPolicy(name=name, position=position, conditions=conditions, targets=targets, calendar_id=calendar_id)
    uow.session.add(policy)
    await uow.session.flush()
    return policy


async def add_escalation_rule(uow: UnitOfWork, policy_id, data: dict) -> SupportEscalationRule:
    check = Checker()
    if await uow.session.get(SupportSlaPolicy, policy_id) is None:
        check.fail("policyId", "no such policy", "NOT_FOUND")
    if data.get("timer") not in TIMERS:
        check.fail("timer", f"must be one of: {', '.join(TIMERS)}", "INVALID_CHOICE")
    percent, after = data.get("percent"), data.get("minutes_after_breach")
    if (percent is None) == (after is None):
        check.fail("percent", "give either a percent of the target (a warning) or minutes after breach", "REQUIRED")
    if percent is not None and not 0 < percent < 100:
        check.fail("percent", "must be between 1 and 99", "OUT_OF_RANGE")
    if after is not None and after < 0:
        check.fail("minutesAfterBreach", "must not be negative", "OUT_OF_RANGE")
    check.done()
    rule = SupportEscalationRule(
        policy_id=policy_id,
        timer=data["timer"],
        level=0 if percent is not None else data.get("level") or 1,
        percent=percent,
        minutes_after_breach=after,
        reassign_group_id=data.get("reassign_group_id"),
        raise_priority=bool(data.get("raise_priority")),
    )
    uow.session.add(rule)
    await uow.session.flush()
    return rule


async def create_macro(uow: UnitOfWork, data: dict) -> SupportMacro:
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    check.choice(data, "status", STATUSES)
    check.choice(data, "priority", PRIORITIES)
    reply_text = check.text(data, "reply", max_length=MAX_BODY)
    add_tags, remove_tags = (
        checked_tags(check, data.get("add_tags"), "add_tags"),
        checked_tags(check, data.get("remove_tags"), "remove_tags"),
    )
    check.done()
    macro = SupportMacro(
        name=name,
        reply=reply_text,
        status=data.get("status"),
        priority=data.get("priority"),
        add_tags=add_tags,
        remove_tags=remove_tags,
    )
    uow.session.add(macro)
    await uow.session.flush()
    return macro

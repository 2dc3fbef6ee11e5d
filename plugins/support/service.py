"""Support rules: tickets, SLA clocks on business calendars, escalation, assignment, macros,
merging, CSAT, the knowledge base and metrics. No GraphQL here. The SLA timers themselves are
computed in `sla`."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import statistics
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_rules
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from enishi.plugin import (
    Account,
    Checker,
    Contact,
    ContactEmail,
    InputError,
    UnitOfWork,
    User,
    UserError,
    like_pattern,
    live_ids,
    load_for_update,
    log_activity,
    one_at_a_time,
    search_key,
    search_query_key,
    send_for_event,
    shred_records,
)

from .events import (
    ARTICLE_ADDED,
    CSAT_RECEIVED,
    CSAT_REQUESTED,
    ESCALATED,
    FIRST_REPLIED,
    SLA_BREACHED,
    SLA_WARNING,
    STATUS_CHANGED,
    TICKET_ASSIGNED,
    TICKET_CLOSED,
    TICKET_CREATED,
    TICKET_REOPENED,
    TICKET_SOLVED,
    TICKET_UPDATED,
    TICKETS_MERGED,
)
from .models import (
    PRIORITIES,
    STATUSES,
    STOPPED,
    TIMERS,
    SupportArticle,
    SupportCalendar,
    SupportCsat,
    SupportEscalationFired,
    SupportEscalationRule,
    SupportGroup,
    SupportGroupMember,
    SupportKbArticle,
    SupportKbCategory,
    SupportMacro,
    SupportSettings,
    SupportSlaPolicy,
    SupportStatusChange,
    SupportTicket,
    SupportTicketKey,
)
from .sla import WRITTEN_HERE, Timer, timers  # noqa: F401 (Timer: the GraphQL schema builds its type from service.Timer)

DEFAULT_AUTO_CLOSE_HOURS = 96
DEFAULT_CSAT_DELAY_HOURS = 24
FCR_REOPEN_WINDOW = dt.timedelta(days=7)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _fail(field: str, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


# --- configuration: calendars, groups, policies, rules, macros ----------------------------------


MAX_OPENING_SPANS = 70  # ten spans a day
MAX_HOLIDAYS = 1000
MAX_TARGET_MINUTES = 525_600  # a year: a target further away is no service level
MAX_CONDITION_VALUES = 100
MAX_POSITION = 1_000_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_BODY = 100_000
HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _tags(check: Checker, tags: list[str] | None, field: str) -> list[str]:
    """Labels of a ticket, a macro or a policy's conditions: distinct, sorted, each 1 to
    MAX_TAG_LENGTH characters."""
    tags = tags or []
    if len(tags) > MAX_TAGS:
        check.fail(field, f"at most {MAX_TAGS} tags", "TOO_MANY")
    elif any(not tag.strip() or len(tag) > MAX_TAG_LENGTH or "\x00" in tag for tag in tags):
        check.fail(field, f"tags are 1 to {MAX_TAG_LENGTH} characters", "INVALID_TAG")
    return sorted({tag.strip() for tag in tags})


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
        raise _fail("name", "a group of this name exists", "DUPLICATE")
    group = SupportGroup(name=name, assignment=assignment)
    uow.session.add(group)
    await uow.session.flush()
    return group


async def set_member(uow: UnitOfWork, group_id, user_id, away: bool = False) -> SupportGroupMember:
    if await uow.session.get(SupportGroup, group_id) is None:
        raise _fail("groupId", "no such group", "NOT_FOUND")
    if await uow.session.get(User, user_id) is None:
        raise _fail("userId", "no such user", "NOT_FOUND")
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
            stored[key] = _tags(check, values, "conditions.tags")
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
    add_tags, remove_tags = _tags(check, data.get("add_tags"), "add_tags"), _tags(check, data.get("remove_tags"), "remove_tags")
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


async def get_settings(session) -> SupportSettings:
    row = await session.get(SupportSettings, "default")
    return row or SupportSettings(
        name="default", auto_close_hours=DEFAULT_AUTO_CLOSE_HOURS, csat_delay_hours=DEFAULT_CSAT_DELAY_HOURS
    )


async def update_settings(uow: UnitOfWork, data: dict) -> SupportSettings:
    check = Checker()
    for field in ("auto_close_hours", "csat_delay_hours"):
        if field in data and (data[field] is None or not 0 <= data[field] <= 24 * 365):
            check.fail(field, "must be between 0 and 8760 hours", "OUT_OF_RANGE")
    check.done()
    row = await uow.session.get(SupportSettings, "default", with_for_update=True)
    if row is None:
        row = SupportSettings(
            name="default", auto_close_hours=DEFAULT_AUTO_CLOSE_HOURS, csat_delay_hours=DEFAULT_CSAT_DELAY_HOURS
        )
        uow.session.add(row)
    for field in ("auto_close_hours", "csat_delay_hours"):
        if field in data:
            setattr(row, field, data[field])
    await uow.session.flush()
    return row


# --- tickets ------------------------------------------------------------------------------------


def _matches(policy: SupportSlaPolicy, ticket: SupportTicket) -> bool:
    c = policy.conditions or {}
    return (
        (not c.get("priorities") or ticket.priority in c["priorities"])
        and (not c.get("tags") or bool(set(c["tags"]) & set(ticket.tags or [])))
        and (not c.get("group_ids") or str(ticket.group_id) in c["group_ids"])
        and (not c.get("account_ids") or str(ticket.account_id) in c["account_ids"])
    )


async def _apply_policy(uow: UnitOfWork, ticket: SupportTicket) -> None:
    policies = (
        await uow.session.execute(select(SupportSlaPolicy).order_by(SupportSlaPolicy.position, SupportSlaPolicy.name))
    ).scalars()
    ticket.policy_id = next((p.id for p in policies if _matches(p, ticket)), None)


async def _set_status(uow: UnitOfWork, ticket: SupportTicket, status: str) -> None:
    if status == ticket.status:
        return
    previous, now = ticket.status, uow.clock.now()
    ticket.status, ticket.updated_at = status, now
    uow.session.add(SupportStatusChange(ticket_id=ticket.id, status=status, changed_at=now))
    if status == "solved":
        ticket.solved_at = now
        token_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()  # replaced by the real token when sent
        delay = dt.timedelta(hours=(await get_settings(uow.session)).csat_delay_hours)
        uow.session.add(SupportCsat(ticket_id=ticket.id, token_hash=token_hash, status="scheduled", send_at=now + delay))
        await uow.emit(TICKET_SOLVED, ticket.id)
    elif status == "closed":
        ticket.closed_at = now
        await uow.emit(TICKET_CLOSED, ticket.id)
    if previous == "solved" and status not in STOPPED:
        ticket.reopened_count += 1
        ticket.solved_at = None
        await uow.session.execute(
            update(SupportCsat)
            .where(SupportCsat.ticket_id == ticket.id, SupportCsat.status == "scheduled")
            .values(status="cancelled")
        )
        await uow.emit(TICKET_REOPENED, ticket.id)
    await uow.session.flush()
    await uow.emit(STATUS_CHANGED, ticket.id, {"from": previous, "to": status})


async def _auto_assign(uow: UnitOfWork, ticket: SupportTicket) -> None:
    group = await uow.session.get(SupportGroup, ticket.group_id) if ticket.group_id else None
    if group is None or group.assignment == "manual":
        return
    members = (
        (
            await uow.session.execute(
                select(SupportGroupMember)
                .where(SupportGroupMember.group_id == group.id, SupportGroupMember.away.is_(False))
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if not members:
        return
    open_counts = dict(
        (
            await uow.session.execute(
                select(SupportTicket.assignee_id, func.count())
                .where(SupportTicket.group_id == group.id, SupportTicket.status.not_in(STOPPED))
                .group_by(SupportTicket.assignee_id)
            )
        ).all()
    )
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)

    def fairness(member):
        recency = member.last_assigned_at or epoch
        return (
            (open_counts.get(member.user_id, 0), recency) if group.assignment == "least_open" else (recency, str(member.user_id))
        )

    chosen = min(members, key=fairness)
    chosen.last_assigned_at = uow.clock.now()
    ticket.assignee_id = chosen.user_id


async def _next_number(uow: UnitOfWork) -> int:
    """The next ticket number. Two tickets created at once on PostgreSQL both read the same
    maximum and the second failed on the unique number (caught racing an erasure in the e2e test):
    numbers are handed out one transaction at a time."""
    await one_at_a_time(uow, "support_ticket_number")
    return ((await uow.session.execute(select(func.max(SupportTicket.number)))).scalar_one() or 0) + 1


async def create_ticket(uow: UnitOfWork, data: dict, *, follow_up_of=None) -> SupportTicket:
    check = Checker()
    subject = check.text(data, "subject", max_length=300, required=True)
    priority = check.choice(data, "priority", PRIORITIES) or "normal"
    requester_id = data.get("requester_id")
    if requester_id is not None and not await live_ids(uow, Contact, [requester_id]):
        check.fail("requesterId", "no such contact", "NOT_FOUND")
    if data.get("account_id") is not None and await uow.session.get(Account, data["account_id"]) is None:
        check.fail("accountId", "no such account", "NOT_FOUND")
    if data.get("group_id") is not None and await uow.session.get(SupportGroup, data["group_id"]) is None:
        check.fail("groupId", "no such group", "NOT_FOUND")
    body = check.text(data, "body", max_length=MAX_BODY)
    channel = check.text(data, "channel", max_length=20) or "email"
    tags = _tags(check, data.get("tags"), "tags")
    custom_fields = check.custom_fields(data)
    check.done()
    now = uow.clock.now()
    ticket = SupportTicket(
        number=await _next_number(uow),
        subject=subject,
        status="new",
        priority=priority,
        channel=channel,
        requester_id=requester_id,
        account_id=data.get("account_id"),
        group_id=data.get("group_id"),
        assignee_id=data.get("assignee_id"),
        tags=tags,
        custom_fields=custom_fields or None,
        follow_up_of_id=follow_up_of,
        created_at=now,
        updated_at=now,
        reopened_count=0,
    )
    await _apply_policy(uow, ticket)
    if ticket.assignee_id is None:
        await _auto_assign(uow, ticket)
    uow.session.add(ticket)
    await uow.session.flush()
    uow.session.add(SupportStatusChange(ticket_id=ticket.id, status="new", changed_at=now))
    await uow.emit(TICKET_CREATED, ticket.id, {"number": ticket.number, "priority": priority})
    if body:
        await _add_article(uow, ticket, body=body, public=True, author_type="customer", author_contact_id=requester_id)
    return ticket


async def _add_article(
    uow: UnitOfWork,
    ticket: SupportTicket,
    *,
    body: str,
    public: bool,
    author_type: str,
    author_user_id=None,
    author_contact_id=None,
    channel: str | None = None,
) -> SupportArticle:
    now = uow.clock.now()
    first_reply = (
        public
        and author_type == "agent"
        and not (
            await uow.session.execute(
                select(SupportArticle.id).where(
                    SupportArticle.ticket_id == ticket.id,
                    SupportArticle.public.is_(True),
                    SupportArticle.author_type == "agent",
                    WRITTEN_HERE,
                )
            )
        ).first()
    )
    article = SupportArticle(
        ticket_id=ticket.id,
        public=public,
        author_type=author_type,
        author_user_id=author_user_id,
        author_contact_id=author_contact_id,
        channel=channel or ticket.channel,
        created_at=now,
    )
    article.share_key_of(ticket)
    article.body = body
    uow.session.add(article)
    ticket.updated_at = now
    await uow.session.flush()
    await uow.emit(ARTICLE_ADDED, ticket.id, {"public": public, "author": author_type})
    if first_reply:
        await uow.emit(FIRST_REPLIED, ticket.id)
    if public and ticket.requester_id is not None:
        # The customer's history shows support next to calls and meetings.
        await log_activity(
            uow,
            {
                "type": "support.message",
                "summary": f"#{ticket.number} {ticket.subject}",
                "body": body,
                "channel": article.channel,
                "direction": "inbound" if author_type == "customer" else "outbound",
                "contact_ids": [ticket.requester_id],
                "actor_id": author_user_id,
            },
            source_plugin="support",
        )
    return article


async def _ticket(uow: UnitOfWork, ticket_id) -> SupportTicket:
    return await load_for_update(uow, SupportTicket, ticket_id, field="ticketId")


def _refuse_erased(ticket: SupportTicket) -> None:
    """Nothing can be written under a destroyed key: the ticket's text went with its requester."""
    if ticket.data_key() is None:
        raise _fail("ticketId", "this ticket's text was erased with its requester", "ERASED")


async def reply(uow: UnitOfWork, ticket_id, body: str, *, public: bool = True, as_customer: bool = False) -> SupportArticle:
    """An agent's public reply or internal note, or a customer's message. A customer writing to a
    solved ticket reopens it; to a closed one, opens a follow-up ticket."""
    check = Checker()
    body = check.text({"body": body}, "body", max_length=MAX_BODY, required=True)
    check.done()
    ticket = await _ticket(uow, ticket_id)
    if ticket.status == "merged":
        raise _fail("ticketId", "was merged into another ticket", "MERGED")
    _refuse_erased(ticket)
    if as_customer:
        if ticket.status == "closed":
            follow_up = await create_ticket(
                uow,
                {
                    "subject": ticket.subject,
                    "priority": ticket.priority,
                    "requester_id": ticket.requester_id,
                    "account_id": ticket.account_id,
                    "group_id": ticket.group_id,
                    "tags": ticket.tags,
                },
                follow_up_of=ticket.id,
            )
            return await _add_article(
                uow, follow_up, body=body, public=True, author_type="customer", author_contact_id=ticket.requester_id
            )
        if ticket.status in ("solved", "pending"):
            await _set_status(uow, ticket, "open")
        return await _add_article(
            uow, ticket, body=body, public=True, author_type="customer", author_contact_id=ticket.requester_id
        )
    article = await _add_article(uow, ticket, body=body, public=public, author_type="agent", author_user_id=uow.actor_id)
    if public and ticket.status == "new":
        await _set_status(uow, ticket, "open")
    return article


async def update_ticket(uow: UnitOfWork, ticket_id, data: dict) -> SupportTicket:
    ticket = await _ticket(uow, ticket_id)
    check = Checker()
    status = check.choice(data, "status", tuple(s for s in STATUSES if s != "merged"))
    priority = check.choice(data, "priority", PRIORITIES)
    subject = check.text(data, "subject", max_length=300, required="subject" in data)
    custom_fields = check.custom_fields(data)
    tags = _tags(check, data.get("tags"), "tags")
    if data.get("group_id") is not None and await uow.session.get(SupportGroup, data["group_id"]) is None:
        check.fail("groupId", "no such group", "NOT_FOUND")
    check.done()
    if ticket.status == "merged":
        raise _fail("ticketId", "was merged into another ticket", "MERGED")
    if subject or "custom_fields" in data:
        _refuse_erased(ticket)
    if subject:
        ticket.subject = subject
    if "custom_fields" in data:
        ticket.custom_fields = custom_fields or None
    if priority:
        ticket.priority = priority
    if "tags" in data:
        ticket.tags = tags
    if "group_id" in data:
        ticket.group_id = data["group_id"]
    if priority or "tags" in data or "group_id" in data:
        await _apply_policy(uow, ticket)
    if status:
        await _set_status(uow, ticket, status)
    ticket.updated_at = uow.clock.now()
    await uow.session.flush()
    await uow.emit(TICKET_UPDATED, ticket.id, {"fields": sorted(data)})
    return ticket


async def assign(uow: UnitOfWork, ticket_id, assignee_id=None, group_id=None) -> SupportTicket:
    ticket = await _ticket(uow, ticket_id)
    if group_id is not None:
        if await uow.session.get(SupportGroup, group_id) is None:
            raise _fail("groupId", "no such group", "NOT_FOUND")
        ticket.group_id = group_id
    if assignee_id is not None:
        if await uow.session.get(User, assignee_id) is None:
            raise _fail("assigneeId", "no such user", "NOT_FOUND")
        ticket.assignee_id = assignee_id
    else:
        ticket.assignee_id = None
        await _auto_assign(uow, ticket)
    await uow.session.flush()
    await uow.emit(TICKET_ASSIGNED, ticket.id)
    return ticket


async def apply_macro(uow: UnitOfWork, ticket_id, macro_id) -> SupportTicket:
    macro = await uow.session.get(SupportMacro, macro_id)
    if macro is None:
        raise _fail("macroId", "no such macro", "NOT_FOUND")
    ticket = await _ticket(uow, ticket_id)
    if macro.reply:
        await reply(uow, ticket.id, macro.reply)
    tags = (set(ticket.tags or []) | set(macro.add_tags)) - set(macro.remove_tags)
    data: dict[str, Any] = {"tags": sorted(tags)}
    if macro.priority:
        data["priority"] = macro.priority
    if macro.status:
        data["status"] = macro.status
    return await update_ticket(uow, ticket.id, data)


async def merge_tickets(uow: UnitOfWork, target_id, source_ids) -> SupportTicket:
    if target_id in source_ids or not source_ids:
        raise _fail("sourceIds", "name other tickets to merge into the target", "INVALID")
    target = await _ticket(uow, target_id)
    _refuse_erased(target)
    for source_id in sorted(source_ids):
        source = await _ticket(uow, source_id)
        if source.status == "merged":
            raise _fail("sourceIds", "a ticket was already merged", "ALREADY_MERGED")
        # The messages move under the target's key: the source's may be destroyed with its requester.
        # They keep where they were written (through a chain of merges, the first ticket), so
        # they count toward none of the target's timers: its past stays as it was.
        for article in (await uow.session.execute(select(SupportArticle).where(SupportArticle.ticket_id == source.id))).scalars():
            article.ticket_id = target.id
            article.merged_from_id = article.merged_from_id or source.id
            article.reseal_under(target)
        source.merged_into_id = target.id
        await _set_status(uow, source, "merged")
    await uow.emit(TICKETS_MERGED, target.id, {"merged": [str(s) for s in source_ids]})
    return target


# --- escalation, auto-close, CSAT (scheduled) ---------------------------------------------------


PRIORITY_UP = {"low": "normal", "normal": "high", "high": "urgent", "urgent": "urgent"}


async def _escalate_ticket(uow: UnitOfWork, ticket: SupportTicket, now: dt.datetime) -> int:
    rules = (
        (
            await uow.session.execute(
                select(SupportEscalationRule)
                .where(SupportEscalationRule.policy_id == ticket.policy_id)
                .order_by(SupportEscalationRule.level)
            )
        )
        .scalars()
        .all()
    )
    if not rules:
        return 0
    fired = 0
    for timer in await timers(uow.session, ticket, now):
        if timer.fulfilled_at is not None:
            continue
        cycle = f"{timer.kind}:{timer.started_at.isoformat()}"
        for rule in (r for r in rules if r.timer == timer.kind):
            if rule.percent is not None:
                due = timer.elapsed_business_minutes >= timer.target_minutes * rule.percent / 100
            else:
                assert rule.minutes_after_breach is not None  # a rule has one or the other (add_escalation_rule)
                due = timer.breached_at is not None and now >= timer.breached_at + dt.timedelta(minutes=rule.minutes_after_breach)
            if not due:
                continue
            try:
                async with uow.session.begin_nested():
                    uow.session.add(SupportEscalationFired(ticket_id=ticket.id, rule_id=rule.id, cycle=cycle, fired_at=now))
            except IntegrityError:
                continue  # fired already: exactly once, however many sweeps run
            fired += 1
            payload = {"timer": timer.kind, "level": rule.level}
            if rule.level == 0:
                await uow.emit(SLA_WARNING, ticket.id, payload)
                continue
            if rule.minutes_after_breach == 0 or rule.level == 1:
                await uow.emit(SLA_BREACHED, ticket.id, payload)
            if rule.reassign_group_id is not None:
                ticket.group_id, ticket.assignee_id = rule.reassign_group_id, None
                await _auto_assign(uow, ticket)
            if rule.raise_priority:
                ticket.priority = PRIORITY_UP[ticket.priority]
            await uow.emit(ESCALATED, ticket.id, payload)
    await uow.session.flush()
    return fired


async def sweep_escalations(runtime) -> int:
    """Fire the escalation rules that are due. Each ticket is handled under its row lock and each
    firing is a unique row, so two sweeps at once (two workers) fire every rule exactly once."""
    async with runtime.read_session() as session:
        ids = list(
            (
                await session.execute(
                    select(SupportTicket.id).where(SupportTicket.status.not_in(STOPPED), SupportTicket.policy_id.is_not(None))
                )
            ).scalars()
        )
    fired = 0
    for ticket_id in ids:
        async with runtime.unit_of_work() as uow:
            ticket = await uow.session.get(SupportTicket, ticket_id, with_for_update=True, populate_existing=True)
            if ticket is not None and ticket.status not in STOPPED:
                fired += await _escalate_ticket(uow, ticket, runtime.clock.now())
    return fired


async def close_solved(runtime) -> int:
    async with runtime.read_session() as session:
        after = dt.timedelta(hours=(await get_settings(session)).auto_close_hours)
        ids = list(
            (
                await session.execute(
                    select(SupportTicket.id).where(
                        SupportTicket.status == "solved", SupportTicket.solved_at <= runtime.clock.now() - after
                    )
                )
            ).scalars()
        )
    for ticket_id in ids:
        async with runtime.unit_of_work() as uow:
            ticket = await uow.session.get(SupportTicket, ticket_id, with_for_update=True, populate_existing=True)
            if ticket.status == "solved":
                await _set_status(uow, ticket, "closed")
    return len(ids)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def send_surveys(runtime) -> int:
    """Surveys due (a day after solving) are sent: the single-use token travels only in the outbox
    event (`_token`, forgotten once `mail_survey` has delivered it); the table keeps its hash."""
    sent = 0
    async with runtime.unit_of_work() as uow:
        due = (
            (
                await uow.session.execute(
                    select(SupportCsat)
                    .where(SupportCsat.status == "scheduled", SupportCsat.send_at <= runtime.clock.now())
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        for survey in due:
            token = secrets.token_urlsafe(24)
            survey.token_hash, survey.status = hash_token(token), "sent"
            await uow.emit(CSAT_REQUESTED, survey.ticket_id, {"_token": token})
            sent += 1
    return sent


async def mail_survey(runtime, event) -> None:
    """Mail the survey link to the requester's primary address (the outbox delivers the event)."""
    token = event.payload.get("_token")
    async with runtime.read_session() as session:
        number, email = (
            await session.execute(
                select(SupportTicket.number, ContactEmail)
                .join(ContactEmail, ContactEmail.contact_id == SupportTicket.requester_id)
                .where(SupportTicket.id == event.entity_id, ContactEmail.is_primary.is_(True))
            )
        ).first() or (None, None)
    address = email.address if email is not None else None
    if token is None or address is None:  # delivered before, or nobody to ask any more
        return
    link = runtime.settings.public_link(f"/support/csat/{token}")
    body = (
        f"お問い合わせ（#{number}）への対応はいかがでしたか。1〜5でご評価ください（1分ほどで終わります）。\n\n    {link}\n\n"
        f"How did we do with your request #{number}? Rate us from 1 to 5 (takes a minute):\n\n    {link}\n\n"
        f"このリンクは一度だけ使えます。 / The link works once.\n"
    )
    await send_for_event(
        runtime.settings, event, to=address, subject=f"[#{number}] ご意見をお聞かせください / How did we do?", body=body
    )


async def csat_status(session, token: str) -> str | None:
    """The status of the survey a link belongs to: "sent" can be answered (the page shows the form)."""
    return (await session.execute(select(SupportCsat.status).where(SupportCsat.token_hash == hash_token(token)))).scalar()


async def submit_csat(uow: UnitOfWork, token: str, rating: int, comment: str | None) -> SupportCsat:
    check = Checker()
    if not 1 <= rating <= 5:
        check.fail("rating", "must be between 1 and 5", "OUT_OF_RANGE")
    comment = check.text({"comment": comment}, "comment", max_length=5000)
    check.done()
    survey = (
        await uow.session.execute(select(SupportCsat).where(SupportCsat.token_hash == hash_token(token or "")).with_for_update())
    ).scalar_one_or_none()
    if survey is None or survey.status in ("scheduled", "cancelled"):
        raise _fail("token", "is not a valid survey link", "INVALID_TOKEN")
    if survey.status == "answered":
        raise _fail("token", "this survey was already answered", "ALREADY_ANSWERED")
    survey.status, survey.rating, survey.comment, survey.answered_at = "answered", rating, comment, uow.clock.now()
    await uow.session.flush()
    await uow.emit(CSAT_RECEIVED, survey.ticket_id, {"rating": rating})
    return survey


# --- knowledge base -----------------------------------------------------------------------------


async def create_kb_category(uow: UnitOfWork, name: str, locale: str, parent_id=None) -> SupportKbCategory:
    check = Checker()
    name = check.text({"name": name}, "name", max_length=200, required=True)
    check.choice({"locale": locale}, "locale", ("ja", "en"))
    check.done()
    category = SupportKbCategory(name=name, locale=locale, parent_id=parent_id)
    uow.session.add(category)
    await uow.session.flush()
    return category


async def save_kb_article(uow: UnitOfWork, data: dict, article_id=None) -> SupportKbArticle:
    check = Checker()
    article = await load_for_update(uow, SupportKbArticle, article_id, field="id") if article_id else SupportKbArticle()
    if article_id is None or "title" in data:
        article.title = check.text(data, "title", max_length=300, required=True)
    if article_id is None or "body" in data:
        article.body = check.text(data, "body", max_length=200_000, required=True)
    locale = check.choice(data, "locale", ("ja", "en"))
    status = check.choice(data, "status", ("draft", "published"))
    check.done()
    if article_id is None:
        article.locale, article.status = locale or "ja", status or "draft"
        uow.session.add(article)
    else:
        article.locale, article.status = locale or article.locale, status or article.status
    if "category_id" in data:
        article.category_id = data["category_id"]
    now = uow.clock.now()
    article.updated_at = now
    if article.status == "published" and article.published_at is None:
        article.published_at = now
    article.search_text = "|".join(filter(None, (search_key(article.title), search_key(article.body))))
    await uow.session.flush()
    return article


def kb_search_clause(text: str):
    return SupportKbArticle.search_text.like(like_pattern(search_query_key(text)), escape="\\")


# --- metrics ------------------------------------------------------------------------------------


@dataclass
class MetricsRow:
    key: str
    tickets: int
    first_reply_median_minutes: float | None
    mttr_minutes: float | None
    fcr_percent: float | None
    backlog: int
    sla_attainment_percent: float | None
    csat_percent: float | None
    csat_answers: int


async def metrics(session, start: dt.datetime, end: dt.datetime | None, group_by: str, now: dt.datetime) -> list[MetricsRow]:
    """Over tickets created in [start, end) (no end: up to now): first-reply time (median, calendar minutes), mean
    time to resolution, first-contact resolution (solved with one public agent reply and not
    reopened within 7 days), backlog (open at `end`), SLA attainment (timers met), CSAT (4–5 good)."""
    period = select(SupportTicket).where(SupportTicket.created_at >= start, SupportTicket.status != "merged")
    if end is not None:
        period = period.where(SupportTicket.created_at < end)
    tickets = (await session.execute(period)).scalars().all()
    key_of = {"agent": lambda t: str(t.assignee_id), "group": lambda t: str(t.group_id), "priority": lambda t: t.priority}[
        group_by
    ]
    groups: dict[str, list] = {}
    for ticket in tickets:
        groups.setdefault(key_of(ticket), []).append(ticket)
    rows = []
    for key, members in sorted(groups.items()):
        ids = [t.id for t in members]
        articles = (
            (
                await session.execute(
                    select(SupportArticle)
                    .where(
                        SupportArticle.ticket_id.in_(ids),
                        SupportArticle.public.is_(True),
                        SupportArticle.author_type == "agent",
                        WRITTEN_HERE,
                    )
                    .order_by(SupportArticle.created_at)
                )
            )
            .scalars()
            .all()
        )
        replies: dict = {}
        for article in articles:
            replies.setdefault(article.ticket_id, []).append(article.created_at)
        first = [(replies[t.id][0] - t.created_at).total_seconds() / 60 for t in members if t.id in replies]
        solved = [t for t in members if t.solved_at is not None or t.status == "closed"]
        resolution = [
            ((t.solved_at or t.closed_at) - t.created_at).total_seconds() / 60 for t in solved if (t.solved_at or t.closed_at)
        ]
        fcr = [t for t in solved if len(replies.get(t.id, [])) == 1 and t.reopened_count == 0]
        met = total = 0
        for ticket in members:
            for timer in await timers(session, ticket, now):
                if timer.fulfilled_at is not None or timer.breached_at is not None:
                    total += 1
                    met += timer.breached_at is None
        answers = (
            (
                await session.execute(
                    select(SupportCsat.rating).where(SupportCsat.ticket_id.in_(ids), SupportCsat.status == "answered")
                )
            )
            .scalars()
            .all()
        )
        rows.append(
            MetricsRow(
                key=key,
                tickets=len(members),
                first_reply_median_minutes=round(statistics.median(first), 1) if first else None,
                mttr_minutes=round(statistics.mean(resolution), 1) if resolution else None,
                fcr_percent=round(100 * len(fcr) / len(solved), 1) if solved else None,
                backlog=sum(1 for t in members if t.status not in STOPPED),
                sla_attainment_percent=round(100 * met / total, 1) if total else None,
                csat_percent=round(100 * sum(1 for r in answers if r >= 4) / len(answers), 1) if answers else None,
                csat_answers=len(answers),
            )
        )
    return rows


# --- privacy ------------------------------------------------------------------------------------


async def erase_requester(uow: UnitOfWork, contact_id, kept_ticket_ids=()) -> dict:
    """Tickets stay (their numbers and metrics matter) but lose the person: requester unlinked and
    the ticket's key destroyed, so its subject, custom fields, messages (agents' replies greet
    them by name) and survey comment are unreadable for good; surveys not answered yet are
    cancelled. Their own messages on other people's tickets (as a CC) are emptied. Tickets in
    `kept_ticket_ids` (under a legal hold) stay whole."""
    kept = list(kept_ticket_ids)
    tickets = (
        (
            await uow.session.execute(
                select(SupportTicket.id).where(SupportTicket.requester_id == contact_id, SupportTicket.id.not_in(kept))
            )
        )
        .scalars()
        .all()
    )
    shredded = await shred_records(uow, SupportTicketKey.ticket_id, tickets)
    await uow.session.execute(
        update(SupportCsat)
        .where(SupportCsat.ticket_id.in_(tickets), SupportCsat.status.in_(("scheduled", "sent")))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    cc_messages = (
        await uow.session.execute(
            update(SupportArticle)
            .where(SupportArticle.author_contact_id == contact_id, SupportArticle.ticket_id.not_in([*tickets, *kept]))
            .values(sealed_body=None, author_contact_id=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
    await uow.session.execute(
        update(SupportArticle)
        .where(SupportArticle.author_contact_id == contact_id, SupportArticle.ticket_id.in_(tickets))
        .values(author_contact_id=None)
        .execution_options(synchronize_session=False)
    )
    requesters = (
        await uow.session.execute(
            update(SupportTicket)
            .where(SupportTicket.id.in_(tickets))
            .values(requester_id=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
    return {"support_ticket:shred": shredded, "support_article:anonymise": cc_messages, "support_ticket:anonymise": requesters}

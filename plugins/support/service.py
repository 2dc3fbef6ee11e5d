"""Support's central rules: the ticket and its lifecycle (status changes, replies, assignment,
macros, merging, auto-close) and the settings they follow. No GraphQL here. Configuration,
escalation, CSAT, the knowledge base, metrics and erasure live in their own modules beside this
one; the SLA timers are computed in `sla`."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import func, select, update

from enishi.plugin import (
    Account,
    Checker,
    Contact,
    InputError,
    UnitOfWork,
    User,
    UserError,
    guard_sensitive_custom_fields,
    keep_sensitive_custom_fields,
    live_ids,
    load_for_update,
    log_activity,
    one_at_a_time,
)

from .events import (
    ARTICLE_ADDED,
    FIRST_REPLIED,
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
    SupportArticle,
    SupportCsat,
    SupportGroup,
    SupportGroupMember,
    SupportMacro,
    SupportSettings,
    SupportSlaPolicy,
    SupportStatusChange,
    SupportTicket,
)
from .sensitive import TICKET_ENTITY
from .sla import WRITTEN_HERE

DEFAULT_AUTO_CLOSE_HOURS = 96
DEFAULT_CSAT_DELAY_HOURS = 24


def input_error(field: str, message: str, code: str) -> InputError:
    return InputError(UserError(field, message, code))


# --- settings -----------------------------------------------------------------------------------


MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_BODY = 100_000


def checked_tags(check: Checker, tags: list[str] | None, field: str) -> list[str]:
    """Labels of a ticket, a macro or a policy's conditions: distinct, sorted, each 1 to
    MAX_TAG_LENGTH characters."""
    tags = tags or []
    if len(tags) > MAX_TAGS:
        check.fail(field, f"at most {MAX_TAGS} tags", "TOO_MANY")
    elif any(not tag.strip() or len(tag) > MAX_TAG_LENGTH or "\x00" in tag for tag in tags):
        check.fail(field, f"tags are 1 to {MAX_TAG_LENGTH} characters", "INVALID_TAG")
    return sorted({tag.strip() for tag in tags})


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


async def auto_assign(uow: UnitOfWork, ticket: SupportTicket) -> None:
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


def _people(requester_id) -> list:
    return [requester_id] if requester_id is not None else []


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
    tags = checked_tags(check, data.get("tags"), "tags")
    custom_fields = check.custom_fields(data)
    check.done()
    # A ticket's custom fields are about its requester: a sensitive one needs their basis.
    await guard_sensitive_custom_fields(uow, TICKET_ENTITY, None, _people(requester_id), None, custom_fields)
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
        await auto_assign(uow, ticket)
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
        raise input_error("ticketId", "this ticket's text was erased with its requester", "ERASED")


async def reply(uow: UnitOfWork, ticket_id, body: str, *, public: bool = True, as_customer: bool = False) -> SupportArticle:
    """An agent's public reply or internal note, or a customer's message. A customer writing to a
    solved ticket reopens it; to a closed one, opens a follow-up ticket."""
    check = Checker()
    body = check.text({"body": body}, "body", max_length=MAX_BODY, required=True)
    check.done()
    ticket = await _ticket(uow, ticket_id)
    if ticket.status == "merged":
        raise input_error("ticketId", "was merged into another ticket", "MERGED")
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


async def update_ticket(uow: UnitOfWork, ticket_id, data: dict, *, sees_sensitive: bool = True) -> SupportTicket:
    """`sees_sensitive`: whether the caller sees the custom fields marked sensitive; one who does
    not replaces the others and keeps those as they are."""
    ticket = await _ticket(uow, ticket_id)
    check = Checker()
    status = check.choice(data, "status", tuple(s for s in STATUSES if s != "merged"))
    priority = check.choice(data, "priority", PRIORITIES)
    subject = check.text(data, "subject", max_length=300, required="subject" in data)
    custom_fields = check.custom_fields(data)
    tags = checked_tags(check, data.get("tags"), "tags")
    if data.get("group_id") is not None and await uow.session.get(SupportGroup, data["group_id"]) is None:
        check.fail("groupId", "no such group", "NOT_FOUND")
    check.done()
    if ticket.status == "merged":
        raise input_error("ticketId", "was merged into another ticket", "MERGED")
    if subject or "custom_fields" in data:
        _refuse_erased(ticket)
    if subject:
        ticket.subject = subject
    if "custom_fields" in data:
        if not sees_sensitive:
            custom_fields = await keep_sensitive_custom_fields(uow, TICKET_ENTITY, ticket.custom_fields, custom_fields)
        await guard_sensitive_custom_fields(
            uow, TICKET_ENTITY, ticket.id, _people(ticket.requester_id), ticket.custom_fields, custom_fields
        )
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
            raise input_error("groupId", "no such group", "NOT_FOUND")
        ticket.group_id = group_id
    if assignee_id is not None:
        if await uow.session.get(User, assignee_id) is None:
            raise input_error("assigneeId", "no such user", "NOT_FOUND")
        ticket.assignee_id = assignee_id
    else:
        ticket.assignee_id = None
        await auto_assign(uow, ticket)
    await uow.session.flush()
    await uow.emit(TICKET_ASSIGNED, ticket.id)
    return ticket


async def apply_macro(uow: UnitOfWork, ticket_id, macro_id) -> SupportTicket:
    macro = await uow.session.get(SupportMacro, macro_id)
    if macro is None:
        raise input_error("macroId", "no such macro", "NOT_FOUND")
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
        raise input_error("sourceIds", "name other tickets to merge into the target", "INVALID")
    target = await _ticket(uow, target_id)
    _refuse_erased(target)
    for source_id in sorted(source_ids):
        source = await _ticket(uow, source_id)
        if source.status == "merged":
            raise input_error("sourceIds", "a ticket was already merged", "ALREADY_MERGED")
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


# --- auto-close ---------------------------------------------------------------------------------


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

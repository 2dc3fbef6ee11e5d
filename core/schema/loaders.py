"""The core types' relations, batched: each loads what a level of the response asks for in one
statement (the core's fields are batch fields; `enishi.graphql.loaders` and `NestedConnection`
read the rows)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, func, select, union

from enishi.graphql.loaders import RowsByColumn
from enishi.graphql.relay import NestedConnection, SortKey
from enishi.models import Account, Activity, ActivityTarget, Contact, ContactAccount, ContactEmail, ContactPhone, Task
from enishi.sealing import lean_record


async def next_actions(ctx, account_ids: list) -> list:
    """Earliest due date of an open task on each account or on any of its contacts."""
    via_contacts = (
        select(ContactAccount.account_id.label("account_id"), Task.due_at)
        .join(Task, Task.contact_id == ContactAccount.contact_id)
        .where(ContactAccount.account_id.in_(account_ids), Task.status == "open")
    )
    direct = select(Task.account_id.label("account_id"), Task.due_at).where(
        Task.account_id.in_(account_ids), Task.status == "open"
    )
    both = union(direct, via_contacts).subquery()
    rows = await ctx.execute(select(both.c.account_id, func.min(both.c.due_at)).group_by(both.c.account_id))
    found = {account_id: due for account_id, due in rows}  # MIN() keeps the column's UTCDateTime type  # noqa: C416 - dict() would read the Result as a mapping (it has keys())
    return [found.get(a) for a in account_ids]


_PRIMARY_ACCOUNTS = (
    select(ContactAccount.contact_id, Account)
    .join(Account, Account.id == ContactAccount.account_id)
    .where(ContactAccount.contact_id.in_(bindparam("keys", expanding=True)), ContactAccount.is_primary)
    .order_by(ContactAccount.id)
)


async def primary_accounts(ctx, contact_ids: list) -> list:
    """The account each contact is primarily linked to, or None: one statement, the links joined
    in rather than loaded as rows of their own and followed."""
    found: dict = {}
    for contact_id, account in await ctx.execute(_PRIMARY_ACCOUNTS, {"keys": contact_ids}):
        found.setdefault(contact_id, account)
    return [found.get(c) for c in contact_ids]


async def activity_targets(ctx, activity_ids: list) -> list[list]:
    """(contact id, account id) of each target of each activity."""
    grouped: dict[Any, list] = defaultdict(list)
    rows = await ctx.execute(
        select(ActivityTarget.activity_id, ActivityTarget.contact_id, ActivityTarget.account_id).where(
            ActivityTarget.activity_id.in_(activity_ids)
        )
    )
    for activity_id, contact_id, account_id in rows:
        grouped[activity_id].append((contact_id, account_id))
    return [grouped.get(a, []) for a in activity_ids]


def _contact_timeline_pairs(owner_ids, types):
    statement = select(ActivityTarget.contact_id.label("owner_id"), ActivityTarget.activity_id.label("item_id")).where(
        ActivityTarget.contact_id.in_(owner_ids)
    )
    return _only_types(statement, types)


def _account_timeline_pairs(owner_ids, types):
    """An account's timeline: its own activities and those of its contacts, each once."""
    direct = select(ActivityTarget.account_id.label("owner_id"), ActivityTarget.activity_id.label("item_id")).where(
        ActivityTarget.account_id.in_(owner_ids)
    )
    via_contacts = (
        select(ContactAccount.account_id.label("owner_id"), ActivityTarget.activity_id.label("item_id"))
        .join(ActivityTarget, ActivityTarget.contact_id == ContactAccount.contact_id)
        .where(ContactAccount.account_id.in_(owner_ids))
    )
    if types:
        direct, via_contacts = _only_types(direct, types), _only_types(via_contacts, types)
    return union(direct, via_contacts)


def _only_types(statement, types):
    if not types:
        return statement
    return statement.where(ActivityTarget.activity_id.in_(select(Activity.id).where(Activity.type.in_(types))))


def _account_contact_pairs(owner_ids, _extra):
    return (
        select(ContactAccount.account_id.label("owner_id"), ContactAccount.contact_id.label("item_id"))
        .join(Contact, Contact.id == ContactAccount.contact_id)
        .where(ContactAccount.account_id.in_(owner_ids), Contact.deleted_at.is_(None))
    )


TIMELINE_ORDER = ((SortKey(Activity.occurred_at, "datetime"), True), (SortKey(Activity.id, "uuid"), True))
# A page of contacts shows 300 timeline entries: lean records, without the body (read by id when
# a query asks for it, see `Activity.body`).
TIMELINE_ENTRY = lean_record(Activity, leave_out=("sealed_body",))
CONTACT_TIMELINE = NestedConnection("contact.timeline", Activity, TIMELINE_ORDER, _contact_timeline_pairs, TIMELINE_ENTRY)
ACCOUNT_TIMELINE = NestedConnection("account.timeline", Activity, TIMELINE_ORDER, _account_timeline_pairs, TIMELINE_ENTRY)
ACCOUNT_CONTACTS = NestedConnection(
    "account.contacts",
    Contact,
    ((SortKey(Contact.kana_sort, "text"), False), (SortKey(Contact.id, "uuid"), False)),
    _account_contact_pairs,
)

ACCOUNT_CHILDREN = RowsByColumn(Account, Account.parent_id, Account.name)
ACCOUNT_TASKS = RowsByColumn(Task, Task.account_id, Task.due_at, Task.id)
CONTACT_EMAILS = RowsByColumn(ContactEmail, ContactEmail.contact_id, ContactEmail.position)
CONTACT_PHONES = RowsByColumn(ContactPhone, ContactPhone.contact_id, ContactPhone.position)
CONTACT_ACCOUNTS = RowsByColumn(ContactAccount, ContactAccount.contact_id, ContactAccount.is_primary.desc())
CONTACT_TASKS = RowsByColumn(Task, Task.contact_id, Task.due_at, Task.id)

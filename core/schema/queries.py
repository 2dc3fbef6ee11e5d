"""The core's root query fields: lists as filtered, ordered connections, plus duplicates."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry
from sqlalchemy import ColumnElement, and_, exists, func, select, true
from strawberry.types import Info

from enishi import models
from enishi.graphql.filters import (
    CustomFieldFilter,
    DateTimeFilter,
    FilterSpec,
    IDFilter,
    IntFilter,
    StringFilter,
    check_in,
    id_clause,
)
from enishi.graphql.loaders import load_row
from enishi.graphql.relay import Connection, InvalidArgument, OrderDirection, PageRequest, SortKey, paginate, to_global_id
from enishi.normalize import like_pattern, search_query_key
from enishi.services import contact_search
from enishi.services.contacts import custom_field_value
from enishi.services.merge import account_duplicates, contact_duplicates

from .loaders import TIMELINE_ORDER
from .types import Account, Activity, Contact, Task, User


def _search(column):
    """Substring search on the folded search text: 山田, ヤマダ, やまだ, ＡＢＣ, abc all match."""

    def compile(text: str):
        key = search_query_key(text)
        return column.like(like_pattern(key), escape="\\") if key else column.is_not(None)

    return compile


MAX_INACTIVE_DAYS = 36600
INACTIVE_DAYS = (
    "No activity on the timeline for this many days (1 or more) up to now: neither at nor after "
    "now − N days. Records never in touch count as inactive."
)


def _inactive(target_column, record_id):
    """Inactive for N days: no timeline activity concerning the record that occurred after
    now − N days (now: the injected clock's)."""

    def compile(days: int, now: dt.datetime):
        if not 1 <= days <= MAX_INACTIVE_DAYS:
            raise InvalidArgument(f"filter `inactiveDays` takes 1 to {MAX_INACTIVE_DAYS} days")
        return ~exists().where(
            target_column == record_id,
            models.Activity.id == models.ActivityTarget.activity_id,
            models.Activity.occurred_at > now - dt.timedelta(days=days),
        )

    return compile


# --- accounts ---------------------------------------------------------------------------------


@strawberry.input
class AccountFilter:
    """The `accounts` query's filter; `filter_json` records it, `compile_filter("accounts", ...)`
    compiles the record."""

    and_: list[AccountFilter] | None = strawberry.field(default=None, name="and")
    or_: list[AccountFilter] | None = strawberry.field(default=None, name="or")
    not_: AccountFilter | None = strawberry.field(default=None, name="not")
    search: str | None = strawberry.field(default=None, description="Name, kana or domain, any width or kana.")
    name: StringFilter | None = None
    domain: StringFilter | None = None
    industry: StringFilter | None = None
    lifecycle_stage: StringFilter | None = None
    employee_count: IntFilter | None = None
    owner_id: IDFilter | None = None
    parent_id: IDFilter | None = None
    created_at: DateTimeFilter | None = None
    updated_at: DateTimeFilter | None = None
    custom_field: list[CustomFieldFilter] | None = None
    inactive_days: int | None = strawberry.field(default=None, description=INACTIVE_DAYS)


ACCOUNT_FILTER = FilterSpec(
    strings={
        "name": models.Account.name,
        "domain": models.Account.domain,
        "industry": models.Account.industry,
        "lifecycle_stage": models.Account.lifecycle_stage,
    },
    ints={"employee_count": models.Account.employee_count},
    datetimes={"created_at": models.Account.created_at, "updated_at": models.Account.updated_at},
    ids={"owner_id": (models.Account.owner_id, "User"), "parent_id": (models.Account.parent_id, "Account")},
    custom_fields=models.Account.custom_fields,
    special={"search": _search(models.Account.search_text)},
    relative={"inactive_days": _inactive(models.ActivityTarget.account_id, models.Account.id)},
)


@strawberry.enum
class AccountOrderField(Enum):
    NAME = "name"
    NAME_KANA = "name_kana"
    EMPLOYEE_COUNT = "employee_count"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"


@strawberry.input
class AccountOrder:
    field: AccountOrderField
    direction: OrderDirection = OrderDirection.ASC


ACCOUNT_SORT = {
    AccountOrderField.NAME: SortKey(models.Account.name, "text"),
    AccountOrderField.NAME_KANA: SortKey(func.coalesce(models.Account.name_kana, ""), "text"),
    AccountOrderField.EMPLOYEE_COUNT: SortKey(func.coalesce(models.Account.employee_count, -1), "int"),
    AccountOrderField.CREATED_AT: SortKey(models.Account.created_at, "datetime"),
    AccountOrderField.UPDATED_AT: SortKey(models.Account.updated_at, "datetime"),
}

# --- contacts ---------------------------------------------------------------------------------


@strawberry.input
class ContactFilter:
    """The `contacts` query's filter; `filter_json` records it, `compile_filter("contacts", ...)`
    compiles the record."""

    and_: list[ContactFilter] | None = strawberry.field(default=None, name="and")
    or_: list[ContactFilter] | None = strawberry.field(default=None, name="or")
    not_: ContactFilter | None = strawberry.field(default=None, name="not")
    search: str | None = strawberry.field(
        default=None,
        description="Names in either order, kana (hiragana or katakana), emails, phones, company names; any width. "
        "Names, emails and phones are encrypted at rest: this is the way to find people by them.",
    )
    job_title: StringFilter | None = strawberry.field(
        default=None, description="Whole values (`eq`, `in`, `isNull`), any case or width: job titles are encrypted at rest."
    )
    department: StringFilter | None = strawberry.field(
        default=None, description="Whole values (`eq`, `in`, `isNull`), any case or width: departments are encrypted at rest."
    )
    email: StringFilter | None = strawberry.field(
        default=None, description="Whole addresses (`eq`, `in`, `isNull`), any case or width: addresses are encrypted at rest."
    )
    account_id: IDFilter | None = None
    owner_id: IDFilter | None = None
    created_at: DateTimeFilter | None = None
    updated_at: DateTimeFilter | None = None
    custom_field: list[CustomFieldFilter] | None = strawberry.field(
        default=None,
        description="Custom fields are encrypted at rest: `eq`/`in` match whole values (text in any case or "
        "width), `contains` parts of text as `search` does, `exists` keys; `gt`/`lt` are refused.",
    )
    inactive_days: int | None = strawberry.field(default=None, description=INACTIVE_DAYS)


def _contact_custom_fields(filters: list[CustomFieldFilter]):
    """Sealed custom fields are matched by the terms stored beside them; an HMAC keeps no order,
    so `gt`/`lt` are refused."""
    clauses: list[ColumnElement[bool]] = []
    for f in filters:
        if f.gt is not None or f.lt is not None:
            raise InvalidArgument("customField gt/lt cannot compare contacts' custom fields: they are encrypted at rest")
        values = None
        if (wanted := _eq_or_in(f, "customField.in")) is not None:  # one whole value among those given, as for job titles
            converted = [custom_field_value(value) for value in wanted]
            if None in converted:
                raise InvalidArgument("customField eq/in compares strings, numbers and booleans")
            values = [value for value in converted if value is not None]
        clauses.append(contact_search.with_custom_field(f.key, exists=f.exists, values=values, contains=f.contains))
    return and_(true(), *clauses)


def _sealed_values(f: StringFilter, name: str) -> list[str] | None:
    """The whole values a filter on a sealed field asks for with `eq`/`in` (None if neither):
    ciphertext can only be matched whole."""
    if f.contains is not None or f.starts_with is not None:
        raise InvalidArgument(
            f"filter `{name}` matches whole values (eq, in): it is encrypted at rest"
            + ("; use `search` for parts" if name == "email" else "")
        )
    return _eq_or_in(f, name)


def _eq_or_in(f, name: str) -> list | None:
    """The values a filter on a sealed field accepts, `eq` and `in` alike (None if it gives
    neither): ciphertext is matched through one index lookup for all of them."""
    if f.eq is None and f.in_ is None:
        return None
    return ([f.eq] if f.eq is not None else []) + (check_in(f.in_, name) if f.in_ is not None else [])


def _contact_email(f: StringFilter):
    return contact_search.with_email(_sealed_values(f, "email"), f.is_null)


def _sealed_profile(field: str, name: str):
    """A filter on a sealed contact field with a blind index (`Sealed(index=...)`): whole values."""

    def clause(f: StringFilter):
        return contact_search.with_profile(field, _sealed_values(f, name), f.is_null)

    return clause


def _contact_account(f: IDFilter):
    return exists().where(
        models.ContactAccount.contact_id == models.Contact.id,
        *id_clause(models.ContactAccount.account_id, f, "accountId", "Account"),
    )


CONTACT_FILTER = FilterSpec(
    datetimes={"created_at": models.Contact.created_at, "updated_at": models.Contact.updated_at},
    ids={"owner_id": (models.Contact.owner_id, "User")},
    special={
        "search": contact_search.matching_search,
        "custom_field": _contact_custom_fields,
        "email": _contact_email,
        "account_id": _contact_account,
        "job_title": _sealed_profile("job_title", "jobTitle"),
        "department": _sealed_profile("department", "department"),
    },
    relative={"inactive_days": _inactive(models.ActivityTarget.contact_id, models.Contact.id)},
)


@strawberry.enum(
    description="KANA orders by the first two kana of the reading (五十音), FAMILY_NAME by the family name's "
    "initial, then by id: names are encrypted at rest, so nothing finer can be sorted on."
)
class ContactOrderField(Enum):
    KANA = "kana"
    FAMILY_NAME = "family_name"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"


@strawberry.input
class ContactOrder:
    field: ContactOrderField
    direction: OrderDirection = OrderDirection.ASC


CONTACT_SORT = {
    ContactOrderField.KANA: SortKey(models.Contact.kana_sort, "text"),
    ContactOrderField.FAMILY_NAME: SortKey(models.Contact.name_sort, "text"),
    ContactOrderField.CREATED_AT: SortKey(models.Contact.created_at, "datetime"),
    ContactOrderField.UPDATED_AT: SortKey(models.Contact.updated_at, "datetime"),
}

# --- activities and tasks ----------------------------------------------------------------------


@strawberry.input
class ActivityFilter:
    and_: list[ActivityFilter] | None = strawberry.field(default=None, name="and")
    or_: list[ActivityFilter] | None = strawberry.field(default=None, name="or")
    not_: ActivityFilter | None = strawberry.field(default=None, name="not")
    type: StringFilter | None = None
    channel: StringFilter | None = None
    direction: StringFilter | None = None
    source_plugin: StringFilter | None = None
    occurred_at: DateTimeFilter | None = None
    actor_id: IDFilter | None = None


ACTIVITY_FILTER = FilterSpec(
    strings={
        "type": models.Activity.type,
        "channel": models.Activity.channel,
        "direction": models.Activity.direction,
        "source_plugin": models.Activity.source_plugin,
    },
    datetimes={"occurred_at": models.Activity.occurred_at},
    ids={"actor_id": (models.Activity.actor_id, "User")},
)


@strawberry.input
class TaskFilter:
    and_: list[TaskFilter] | None = strawberry.field(default=None, name="and")
    or_: list[TaskFilter] | None = strawberry.field(default=None, name="or")
    not_: TaskFilter | None = strawberry.field(default=None, name="not")
    status: StringFilter | None = None
    due_at: DateTimeFilter | None = None
    assignee_id: IDFilter | None = None
    contact_id: IDFilter | None = None
    account_id: IDFilter | None = None


TASK_FILTER = FilterSpec(
    strings={"status": models.Task.status},
    datetimes={"due_at": models.Task.due_at},
    ids={
        "assignee_id": (models.Task.assignee_id, "User"),
        "contact_id": (models.Task.contact_id, "Contact"),
        "account_id": (models.Task.account_id, "Account"),
    },
)


def _order(sort: dict, order_by, id_column) -> list[tuple[SortKey, bool]]:
    order = [(sort[o.field], o.direction == OrderDirection.DESC) for o in order_by or []]
    if len({id(key) for key, _ in order}) != len(order):
        raise InvalidArgument("orderBy names a field twice")
    last_descending = order[-1][1] if order else False
    return [*order, (SortKey(id_column, "uuid"), last_descending)]


@strawberry.type(description="Records that look like the same person or company.")
class DuplicateGroup:
    reason: str = strawberry.field(description="email, phone or name for contacts; company_name or domain for accounts")
    ids: list[strawberry.ID]


@strawberry.type
class ActivityTypeInfo:
    key: str
    label: str
    label_ja: str | None
    plugin: str


@strawberry.type(description="One column holding personal data, as its plugin declares it.")
class PersonalDataFieldInfo:
    plugin: str
    entity: str
    field: str
    category: str
    purposes: list[str]
    provenance: str
    sensitive: bool
    erasure: str
    portable: bool


@strawberry.type(description="One purpose of processing and what it uses (GDPR Art. 30 record).")
class ProcessingRecord:
    purpose: str
    data_subjects: list[str]
    categories: list[str]
    sensitive: bool
    plugins: list[str]
    locations: list[str]
    provenance: list[str]


@strawberry.type
class CoreQuery:
    @strawberry.field(description="The user the request's token belongs to.")
    async def viewer(self, info: Info) -> User | None:
        viewer = info.context.viewer
        row = await load_row(info.context, models.User, viewer.user_id) if viewer else None
        return User.from_row(row) if row else None

    @strawberry.field
    async def accounts(
        self,
        info: Info,
        filter: AccountFilter | None = None,
        order_by: list[AccountOrder] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        include_deleted: bool = False,
    ) -> Connection[Account]:
        ctx = info.context
        ctx.require("crm.read_deleted" if include_deleted else "crm.read")
        statement = select(models.Account).where(ACCOUNT_FILTER.compile(filter, ctx.runtime.clock.now()))
        if not include_deleted:
            statement = statement.where(models.Account.deleted_at.is_(None))
        order = _order(ACCOUNT_SORT, order_by or [AccountOrder(field=AccountOrderField.NAME)], models.Account.id)
        return await paginate(ctx, statement, order, PageRequest(first, after, last, before), Account.from_row)

    @strawberry.field
    async def contacts(
        self,
        info: Info,
        filter: ContactFilter | None = None,
        order_by: list[ContactOrder] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        include_deleted: bool = False,
    ) -> Connection[Contact]:
        ctx = info.context
        ctx.require("crm.read_deleted" if include_deleted else "crm.read")
        statement = select(models.Contact).where(CONTACT_FILTER.compile(filter, ctx.runtime.clock.now()))
        if not include_deleted:
            statement = statement.where(models.Contact.deleted_at.is_(None))
        order = _order(CONTACT_SORT, order_by or [ContactOrder(field=ContactOrderField.KANA)], models.Contact.id)
        return await paginate(ctx, statement, order, PageRequest(first, after, last, before), Contact.from_row)

    @strawberry.field(description="The whole timeline, newest first by when things happened.")
    async def activities(
        self,
        info: Info,
        filter: ActivityFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Activity]:
        info.context.require("crm.read")
        statement = select(models.Activity).where(ACTIVITY_FILTER.compile(filter))
        return await paginate(info.context, statement, TIMELINE_ORDER, PageRequest(first, after, last, before), Activity.from_row)

    @strawberry.field(description="Tasks, soonest due first; tasks without a due date last.")
    async def tasks(
        self,
        info: Info,
        filter: TaskFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Task]:
        info.context.require("crm.read")
        statement = select(models.Task).where(TASK_FILTER.compile(filter))
        order = [
            (SortKey(func.coalesce(models.Task.due_at, dt.datetime(9999, 12, 31, tzinfo=dt.UTC)), "datetime"), False),
            (SortKey(models.Task.id, "uuid"), False),
        ]
        return await paginate(info.context, statement, order, PageRequest(first, after, last, before), Task.from_row)

    @strawberry.field(description="Groups of live contacts sharing an email, a phone or a full name.")
    async def contact_duplicates(self, info: Info, first: int = 50) -> list[DuplicateGroup]:
        info.context.require("crm.read")
        return await _duplicates(info, contact_duplicates, "Contact", first)

    @strawberry.field(description="Groups of live accounts sharing a company name (legal form ignored) or a domain.")
    async def account_duplicates(self, info: Info, first: int = 50) -> list[DuplicateGroup]:
        info.context.require("crm.read")
        return await _duplicates(info, account_duplicates, "Account", first)

    @strawberry.field(description="Every kind of activity the core and the enabled plugins log.")
    def activity_types(self, info: Info) -> list[ActivityTypeInfo]:
        info.context.require("crm.read")
        runtime = info.context.runtime
        return [
            ActivityTypeInfo(key=t.key, label=t.label, label_ja=t.label_ja, plugin=runtime.activity_type_plugins[t.key])
            for t in runtime.activity_types.values()
        ]

    @strawberry.field(
        description="Every personal-data column of the core and of every installed plugin. Needs `personal_data.read`."
    )
    def personal_data_catalog(self, info: Info) -> list[PersonalDataFieldInfo]:
        info.context.require("personal_data.read")
        return [
            PersonalDataFieldInfo(
                plugin=plugin,
                entity=f.entity,
                field=f.field,
                category=f.category,
                purposes=list(f.purposes),
                provenance=f.provenance,
                sensitive=f.sensitive,
                erasure=f.erasure,
                portable=f.portable,
            )
            for plugin, f in info.context.runtime.plugins.contributions("enishi_personal_data")
        ]

    @strawberry.field(
        description="Records of processing (GDPR Art. 30), generated from the catalog: per purpose, the "
        "categories of personal data, where they are held, and their provenance. Needs `personal_data.read`."
    )
    def records_of_processing(self, info: Info) -> list[ProcessingRecord]:
        info.context.require("personal_data.read")
        by_purpose: dict[str, list] = {}
        for plugin, field in info.context.runtime.plugins.contributions("enishi_personal_data"):
            for purpose in field.purposes:
                by_purpose.setdefault(purpose, []).append((plugin, field))
        return [
            ProcessingRecord(
                purpose=purpose,
                data_subjects=["contacts"],
                categories=sorted({f.category for _, f in fields}),
                sensitive=any(f.sensitive for _, f in fields),
                plugins=sorted({p for p, _ in fields}),
                locations=sorted({f"{f.entity}.{f.field}" for _, f in fields}),
                provenance=sorted({f.provenance for _, f in fields}),
            )
            for purpose, fields in sorted(by_purpose.items())
        ]

    @strawberry.field
    async def users(self, info: Info) -> list[User]:
        info.context.require("user.read")
        return [User.from_row(r) for r in await info.context.scalars(select(models.User).order_by(models.User.display_name))]


async def _duplicates(info: Info, finder, type_name: str, first: int) -> list[DuplicateGroup]:
    if not 0 < first <= info.context.settings.max_page_size:
        raise InvalidArgument(f"first must be between 1 and {info.context.settings.max_page_size}")
    runtime = info.context.runtime
    async with runtime.read_session() as session:
        groups = await finder(session, first)
    return [DuplicateGroup(reason=g.reason, ids=[strawberry.ID(to_global_id(type_name, i)) for i in g.ids]) for g in groups]

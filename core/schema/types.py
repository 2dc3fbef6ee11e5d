"""The core's GraphQL object types. Resolvers are thin: relations are batch fields (`batch_field`),
each loading what a level of the response asks for in one statement (`loaders.py`);
authorization is checked once per object (reading a node) or per sensitive field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Optional, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi import models
from enishi.contributions import DataSubject
from enishi.events import CONTACT_PERSONAL_DATA_READ
from enishi.graphql.batch import batch_field
from enishi.graphql.loaders import fetch_rows, load_rows
from enishi.graphql.nodes import deferred_sealed_field, node_resolver, sealed_field, visible
from enishi.graphql.relay import Connection, PageRequest, to_global_id
from enishi.services import sensitive

from . import loaders


@strawberry.type(description="A person who uses Enishi: a salesperson, an agent, an integration.")
class User(relay.Node):
    id: relay.NodeID[str]
    display_name: str
    roles: list[str]
    is_active: bool
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(id=str(row.id), display_name=row.display_name, roles=list(row.roles), is_active=row.is_active, _row=row)

    @strawberry.field(description="Work email. Needs `user.read`.")
    def email(self, info: Info) -> str | None:
        info.context.require("user.read")
        return self._row.email

    resolve_nodes = node_resolver(models.User)


def _related(model, foreign_key: str, to_node: Callable[[Any], Any]):
    """A batch field's function: the row each parent's `_row.<foreign_key>` points at, as
    `to_node(row)`, or None when unset, missing or hidden from this viewer. One statement a level."""

    async def load_many(parents: list, info: Info) -> list:
        rows = await fetch_rows(info.context, model, [getattr(parent._row, foreign_key) for parent in parents])
        return [to_node(row) if visible(info, row) else None for row in rows]

    return load_many


def _rows_of(rows_by_column, shape: Callable[[list], Any]):
    """A batch field's function: each parent's rows of a `RowsByColumn` keyed by its id, shaped."""

    async def load_many(parents: list, info: Info) -> list:
        return [shape(rows) for rows in await rows_by_column.fetch(info.context, [parent._row.id for parent in parents])]

    return load_many


def _ids(parents: list) -> list:
    return [parent._row.id for parent in parents]


def _page(first, after, last, before) -> PageRequest:
    return PageRequest(first=first, after=after, last=last, before=before)


@strawberry.type
class Email:
    address: str
    label: str | None
    is_primary: bool


@strawberry.type
class Phone:
    e164: str = strawberry.field(description="The number in E.164 form, for example +81312345678.")
    label: str | None
    is_primary: bool


@strawberry.type(description="A company or organisation.")
class Account(relay.Node):
    id: relay.NodeID[str]
    name: str
    name_kana: str | None
    domain: str | None
    industry: str | None
    employee_count: int | None
    lifecycle_stage: str
    custom_fields: JSON
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: models.Account) -> Account:
        return cls(
            id=str(row.id),
            name=row.name,
            name_kana=row.name_kana,
            domain=row.domain,
            industry=row.industry,
            employee_count=row.employee_count,
            lifecycle_stage=row.lifecycle_stage,
            custom_fields=cast(JSON, row.custom_fields or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
            _row=row,
        )

    resolve_nodes = node_resolver(models.Account)

    # Batch fields name their GraphQL type; a type not defined yet is named as a string:
    # `Optional["Account"]` in its own body.
    parent = batch_field(
        _related(models.Account, "parent_id", lambda row: Account.from_row(row)), graphql_type=Optional["Account"]
    )

    @batch_field(graphql_type=list["Account"])
    async def children(accounts: list[Account], info: Info) -> list[list[Account]]:
        return [
            [Account.from_row(r) for r in rows if visible(info, r)]
            for rows in await loaders.ACCOUNT_CHILDREN.fetch(info.context, _ids(accounts))
        ]

    owner = batch_field(_related(models.User, "owner_id", User.from_row), graphql_type=User | None)
    merged_into = batch_field(
        _related(models.Account, "merged_into_id", lambda row: Account.from_row(row)),
        graphql_type=Optional["Account"],
        description="The merged-into account, when this one was merged away.",
    )

    @batch_field(
        graphql_type=dt.datetime | None, description="The earliest due date of an open task on the account or its contacts."
    )
    async def next_action_at(accounts: list[Account], info: Info) -> list[dt.datetime | None]:
        return await loaders.next_actions(info.context, _ids(accounts))

    @batch_field(graphql_type=Connection["Contact"], description="Contacts linked to the account, in kana order.")
    def contacts(
        accounts: list[Account],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> list[Connection[Contact]] | Awaitable[list]:
        return loaders.ACCOUNT_CONTACTS.connections(
            info.context, _ids(accounts), _page(first, after, last, before), Contact.from_row
        )

    @batch_field(
        graphql_type=Connection["Activity"],
        description="Activities of the account and of its contacts, newest first (by when they happened).",
    )
    def timeline(
        accounts: list[Account],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        types: list[str] | None = None,
    ) -> list[Connection[Activity]] | Awaitable[list]:
        return loaders.ACCOUNT_TIMELINE.connections(
            info.context,
            _ids(accounts),
            _page(first, after, last, before),
            Activity.from_row,
            tuple(sorted(types)) if types else None,
        )

    @batch_field(graphql_type=list["Task"])
    async def tasks(accounts: list[Account], info: Info, status: str | None = "open") -> list[list[Task]]:
        return [
            [Task.from_row(r) for r in rows if status is None or r.status == status]
            for rows in await loaders.ACCOUNT_TASKS.fetch(info.context, _ids(accounts))
        ]


@strawberry.type
class AccountLink:
    is_primary: bool
    _row: strawberry.Private[Any]  # the ContactAccount link

    account = batch_field(_related(models.Account, "account_id", Account.from_row), graphql_type=Account | None)


def _sensitive_custom_keys(ctx):
    """The sensitive custom-field keys of each entity, asked once per request."""

    async def load(entities):
        async with ctx.runtime.read_session() as session:
            return [sensitive.custom_keys(await sensitive.sensitive_fields(ctx.runtime.plugins, session, e)) for e in entities]

    return load


async def visible_custom_fields(info: Info, entity: str, fields: dict | None) -> JSON:
    """A record's custom fields as the viewer may see them: the sensitive ones (要配慮個人情報) only
    with `crm.read_sensitive`."""
    if not fields or info.context.can(sensitive.READ_PERMISSION):
        return cast(JSON, fields or {})
    hidden = await info.context.loader("core.sensitive_custom_keys", _sensitive_custom_keys).load(entity)
    return cast(JSON, sensitive.without(fields, hidden))


@strawberry.type(description="A person at one or more accounts.")
class Contact(relay.Node):
    id: relay.NodeID[str]
    family_name: str | None = sealed_field("family_name")
    given_name: str | None = sealed_field("given_name")
    family_name_kana: str | None = sealed_field("family_name_kana")
    given_name_kana: str | None = sealed_field("given_name_kana")
    job_title: str | None = sealed_field("job_title")
    department: str | None = sealed_field("department")
    postal_code: str | None = sealed_field("postal_code")
    address: str | None = sealed_field("address")
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: models.Contact) -> Contact:
        return cls(id=str(row.id), created_at=row.created_at, updated_at=row.updated_at, deleted_at=row.deleted_at, _row=row)

    @strawberry.field(
        description="Encrypted at rest with the person's names: filter them with `customField` (whole values, "
        "parts of text, presence; no ordering). Sensitive ones (要配慮個人情報) only with `crm.read_sensitive`."
    )
    async def custom_fields(self, info: Info) -> JSON:
        return await visible_custom_fields(info, "contact", self._row.custom_fields)

    resolve_nodes = node_resolver(models.Contact)

    @strawberry.field(description="Family name first when the name is Japanese (山田 太郎), given name first otherwise.")
    def display_name(self) -> str:
        family, given = self._row.family_name or "", self._row.given_name or ""
        japanese = any(ord(ch) > 0x2E80 for ch in family + given)
        return (f"{family} {given}" if japanese else f"{given} {family}").strip()

    emails = batch_field(
        _rows_of(
            loaders.CONTACT_EMAILS, lambda rows: [Email(address=r.address, label=r.label, is_primary=r.is_primary) for r in rows]
        ),
        graphql_type=list[Email],
    )
    primary_email = batch_field(
        _rows_of(loaders.CONTACT_EMAILS, lambda rows: next((row.address for row in rows if row.is_primary), None)),
        graphql_type=str | None,
    )
    phones = batch_field(
        _rows_of(loaders.CONTACT_PHONES, lambda rows: [Phone(e164=r.e164, label=r.label, is_primary=r.is_primary) for r in rows]),
        graphql_type=list[Phone],
    )
    accounts = batch_field(
        _rows_of(loaders.CONTACT_ACCOUNTS, lambda rows: [AccountLink(is_primary=r.is_primary, _row=r) for r in rows]),
        graphql_type=list[AccountLink],
    )

    @batch_field(graphql_type=Account | None)
    async def primary_account(contacts: list[Contact], info: Info) -> list[Account | None]:
        rows = await loaders.primary_accounts(info.context, _ids(contacts))
        return [Account.from_row(row) if visible(info, row) else None for row in rows]

    owner = batch_field(_related(models.User, "owner_id", User.from_row), graphql_type=User | None)
    merged_into = batch_field(
        _related(models.Contact, "merged_into_id", lambda row: Contact.from_row(row)),
        graphql_type=Optional["Contact"],
        description="The surviving contact, when this one was merged away.",
    )

    @batch_field(
        graphql_type=Connection["Activity"], description="Activities with this contact, newest first (by when they happened)."
    )
    def timeline(
        contacts: list[Contact],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        types: list[str] | None = None,
    ) -> list[Connection[Activity]] | Awaitable[list]:
        return loaders.CONTACT_TIMELINE.connections(
            info.context,
            _ids(contacts),
            _page(first, after, last, before),
            Activity.from_row,
            tuple(sorted(types)) if types else None,
        )

    @batch_field(graphql_type=list["Task"])
    async def tasks(contacts: list[Contact], info: Info, status: str | None = "open") -> list[list[Task]]:
        return [
            [Task.from_row(r) for r in rows if status is None or r.status == status]
            for rows in await loaders.CONTACT_TASKS.fetch(info.context, _ids(contacts))
        ]

    @strawberry.field(
        description="Everything every plugin holds about this person, as the data-subject "
        "hooks collect it. Needs `personal_data.read` (compliance)."
    )
    async def personal_data(self, info: Info) -> JSON:
        info.context.require("personal_data.read")
        runtime = info.context.runtime
        async with runtime.unit_of_work(info.context.viewer.user_id) as uow:
            sections = await runtime.plugins.call("enishi_subject_collect", uow=uow, subject=DataSubject(self._row.id))
            await uow.emit(CONTACT_PERSONAL_DATA_READ, self._row.id, {"purpose": "compliance_review"})
        return cast(JSON, {plugin: section for plugin, section in sections if section})


@strawberry.enum(description="What an existing contact shares with the one written: an email, or (weaker) a phone.")
class DuplicateReason(Enum):
    EMAIL = "email"
    PHONE = "phone"


@strawberry.type(
    description="A live contact that may be the same person as the one just written: "
    "offer `mergeContacts`. Each contact once, by its strongest match."
)
class PossibleDuplicate:
    contact: Contact
    matched_on: DuplicateReason

    @classmethod
    async def of(cls, info: Info, matches) -> list[PossibleDuplicate]:
        """The service's `DuplicateMatch`es, less any contact deleted since (not one to merge into)."""
        rows = await load_rows(info.context, models.Contact, [match.contact_id for match in matches])
        return [
            cls(contact=Contact.from_row(row), matched_on=DuplicateReason(match.matched_on))
            for match, row in zip(matches, rows, strict=True)
            if row is not None and row.deleted_at is None
        ]


@strawberry.type(description="One entry of the timeline.")
class Activity(relay.Node):
    id: relay.NodeID[str]
    type: str
    channel: str | None
    direction: str
    occurred_at: dt.datetime
    summary: str | None = sealed_field("summary", "Null once erased: the entry stays in the log, its text unreadable for good.")
    body: str | None = deferred_sealed_field("body", models.Activity)
    duration_seconds: int | None
    source_plugin: str
    created_at: dt.datetime
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: models.Activity) -> Activity:
        return cls(
            id=str(row.id),
            type=row.type,
            channel=row.channel,
            direction=row.direction,
            occurred_at=row.occurred_at,
            duration_seconds=row.duration_seconds,
            source_plugin=row.source_plugin,
            created_at=row.created_at,
            _row=row,
        )

    resolve_nodes = node_resolver(models.Activity)

    actor = batch_field(_related(models.User, "actor_id", User.from_row), graphql_type=User | None)

    @batch_field(graphql_type=list[Contact])
    async def contacts(activities: list[Activity], info: Info) -> list[list[Contact]]:
        return await _targets(activities, info, 0, models.Contact, Contact.from_row)

    @batch_field(graphql_type=list[Account])
    async def accounts(activities: list[Activity], info: Info) -> list[list[Account]]:
        return await _targets(activities, info, 1, models.Account, Account.from_row)


async def _targets(activities: list[Activity], info: Info, position: int, model, to_node) -> list[list]:
    """The contacts (`position` 0) or accounts (1) each activity concerns, visible to this viewer."""
    targets = [
        [target[position] for target in pairs if target[position] is not None]
        for pairs in await loaders.activity_targets(info.context, _ids(activities))
    ]
    rows = iter(await fetch_rows(info.context, model, [i for ids in targets for i in ids]))
    return [[to_node(row) for row in [next(rows) for _ in ids] if visible(info, row)] for ids in targets]


@strawberry.type(description="A next action: something someone owes a contact or account by a date.")
class Task(relay.Node):
    id: relay.NodeID[str]
    title: str = sealed_field("title")
    due_at: dt.datetime | None
    status: str
    created_at: dt.datetime
    completed_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: models.Task) -> Task:
        return cls(
            id=str(row.id),
            due_at=row.due_at,
            status=row.status,
            created_at=row.created_at,
            completed_at=row.completed_at,
            _row=row,
        )

    resolve_nodes = node_resolver(models.Task)

    assignee = batch_field(_related(models.User, "assignee_id", User.from_row), graphql_type=User | None)
    contact = batch_field(_related(models.Contact, "contact_id", Contact.from_row), graphql_type=Contact | None)
    account = batch_field(_related(models.Account, "account_id", Account.from_row), graphql_type=Account | None)


def global_id(node_type: type, id) -> str:
    return to_global_id(node_type.__name__, id)

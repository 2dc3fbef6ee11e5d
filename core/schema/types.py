"""The core's GraphQL object types. Resolvers are thin: relations go through the DataLoaders in
`loaders.py`; authorization is checked once per object (reading a node) or per sensitive field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from enum import Enum
from typing import Any, Optional, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi import models
from enishi.contributions import DataSubject
from enishi.events import CONTACT_PERSONAL_DATA_READ
from enishi.graphql.loaders import load_row, load_rows, then
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


def _node(info: Info, node_type, model, record_id) -> Awaitable[Any] | None:
    """The related object as `node_type`, or None when unset, missing or hidden from this viewer."""
    if record_id is None:
        return None
    return then(load_row(info.context, model, record_id), lambda row: node_type.from_row(row) if visible(info, row) else None)


def _user(info: Info, user_id) -> Awaitable[User | None] | None:
    return _node(info, User, models.User, user_id)


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

    # A field returning an awaitable names its GraphQL type (strawberry cannot read `Awaitable[...]`);
    # a type not defined yet is named as a string: `Optional["Account"]` in its own body.
    @strawberry.field(graphql_type=Optional["Account"])
    def parent(self, info: Info) -> Awaitable[Account | None] | None:
        return _node(info, Account, models.Account, self._row.parent_id)

    @strawberry.field
    async def children(self, info: Info) -> list[Account]:
        rows = await loaders.ACCOUNT_CHILDREN.load(info.context, self._row.id)
        return [Account.from_row(r) for r in rows if visible(info, r)]

    @strawberry.field(graphql_type=User | None)
    def owner(self, info: Info) -> Awaitable[User | None] | None:
        return _user(info, self._row.owner_id)

    @strawberry.field(description="The merged-into account, when this one was merged away.", graphql_type=Optional["Account"])
    def merged_into(self, info: Info) -> Awaitable[Account | None] | None:
        return _node(info, Account, models.Account, self._row.merged_into_id)

    @strawberry.field(description="The earliest due date of an open task on the account or its contacts.")
    async def next_action_at(self, info: Info) -> dt.datetime | None:
        return await info.context.loader("account.next_action", loaders.next_action_factory).load(self._row.id)

    @strawberry.field(description="Contacts linked to the account, in kana order.", graphql_type=Connection["Contact"])
    def contacts(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Awaitable[Connection[Contact]]:
        return loaders.ACCOUNT_CONTACTS.resolve(info.context, self._row.id, _page(first, after, last, before), Contact.from_row)

    @strawberry.field(
        description="Activities of the account and of its contacts, newest first (by when they happened).",
        graphql_type=Connection["Activity"],
    )
    def timeline(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        types: list[str] | None = None,
    ) -> Awaitable[Connection[Activity]]:
        return loaders.ACCOUNT_TIMELINE.resolve(
            info.context,
            self._row.id,
            _page(first, after, last, before),
            Activity.from_row,
            tuple(sorted(types)) if types else None,
        )

    @strawberry.field
    async def tasks(self, info: Info, status: str | None = "open") -> list[Task]:
        rows = await loaders.ACCOUNT_TASKS.load(info.context, self._row.id)
        return [Task.from_row(r) for r in rows if status is None or r.status == status]


@strawberry.type
class AccountLink:
    is_primary: bool
    _account_id: strawberry.Private[Any]

    @strawberry.field(graphql_type=Account | None)
    def account(self, info: Info) -> Awaitable[Account | None] | None:
        return _node(info, Account, models.Account, self._account_id)


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

    @strawberry.field
    async def emails(self, info: Info) -> list[Email]:
        rows = await loaders.CONTACT_EMAILS.load(info.context, self._row.id)
        return [Email(address=r.address, label=r.label, is_primary=r.is_primary) for r in rows]

    @strawberry.field(graphql_type=str | None)
    def primary_email(self, info: Info) -> Awaitable[str | None]:
        return then(
            loaders.CONTACT_EMAILS.load(info.context, self._row.id),
            lambda rows: next((row.address for row in rows if row.is_primary), None),
        )

    @strawberry.field
    async def phones(self, info: Info) -> list[Phone]:
        rows = await loaders.CONTACT_PHONES.load(info.context, self._row.id)
        return [Phone(e164=r.e164, label=r.label, is_primary=r.is_primary) for r in rows]

    @strawberry.field
    async def accounts(self, info: Info) -> list[AccountLink]:
        rows = await loaders.CONTACT_ACCOUNTS.load(info.context, self._row.id)
        return [AccountLink(is_primary=r.is_primary, _account_id=r.account_id) for r in rows]

    @strawberry.field(graphql_type=Account | None)
    def primary_account(self, info: Info) -> Awaitable[Account | None]:
        return then(
            info.context.loader("contact.primary_account", loaders.primary_account_factory).load(self._row.id),
            lambda row: Account.from_row(row) if visible(info, row) else None,
        )

    @strawberry.field(graphql_type=User | None)
    def owner(self, info: Info) -> Awaitable[User | None] | None:
        return _user(info, self._row.owner_id)

    @strawberry.field(description="The surviving contact, when this one was merged away.", graphql_type=Optional["Contact"])
    def merged_into(self, info: Info) -> Awaitable[Contact | None] | None:
        return _node(info, Contact, models.Contact, self._row.merged_into_id)

    @strawberry.field(
        description="Activities with this contact, newest first (by when they happened).", graphql_type=Connection["Activity"]
    )
    def timeline(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        types: list[str] | None = None,
    ) -> Awaitable[Connection[Activity]]:
        return loaders.CONTACT_TIMELINE.resolve(
            info.context,
            self._row.id,
            _page(first, after, last, before),
            Activity.from_row,
            tuple(sorted(types)) if types else None,
        )

    @strawberry.field
    async def tasks(self, info: Info, status: str | None = "open") -> list[Task]:
        rows = await loaders.CONTACT_TASKS.load(info.context, self._row.id)
        return [Task.from_row(r) for r in rows if status is None or r.status == status]

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

    @strawberry.field(graphql_type=User | None)
    def actor(self, info: Info) -> Awaitable[User | None] | None:
        return _user(info, self._row.actor_id)

    async def _targets(self, info: Info):
        return await info.context.loader("activity.targets", loaders.activity_targets_factory).load(self._row.id)

    @strawberry.field
    async def contacts(self, info: Info) -> list[Contact]:
        ids = [c for c, _ in await self._targets(info) if c is not None]
        rows = await load_rows(info.context, models.Contact, ids)
        return [Contact.from_row(r) for r in rows if visible(info, r)]

    @strawberry.field
    async def accounts(self, info: Info) -> list[Account]:
        ids = [a for _, a in await self._targets(info) if a is not None]
        rows = await load_rows(info.context, models.Account, ids)
        return [Account.from_row(r) for r in rows if visible(info, r)]


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

    @strawberry.field(graphql_type=User | None)
    def assignee(self, info: Info) -> Awaitable[User | None] | None:
        return _user(info, self._row.assignee_id)

    @strawberry.field(graphql_type=Contact | None)
    def contact(self, info: Info) -> Awaitable[Contact | None] | None:
        return _node(info, Contact, models.Contact, self._row.contact_id)

    @strawberry.field(graphql_type=Account | None)
    def account(self, info: Info) -> Awaitable[Account | None] | None:
        return _node(info, Account, models.Account, self._row.account_id)


def global_id(node_type: type, id) -> str:
    return to_global_id(node_type.__name__, id)

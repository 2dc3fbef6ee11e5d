"""The core's GraphQL object types. Resolvers are thin: relations go through the DataLoaders in
`loaders.py`; authorization is checked once per object (reading a node) or per sensitive field."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi import models
from enishi.contributions import DataSubject
from enishi.events import CONTACT_PERSONAL_DATA_READ

from . import loaders
from .relay import Connection, PageRequest, to_global_id


def _visible(info: Info, row) -> bool:
    return row is not None and (getattr(row, "deleted_at", None) is None or info.context.can("crm.read_deleted"))


def node_resolver(model, permission: str = "crm.read"):
    """`resolve_nodes` for a Node type backed by `model` (its `from_row` builds the object): checks
    the permission once, loads through the request's DataLoader, hides what this viewer may not
    see. Plugins use it too: `resolve_nodes = node_resolver(orm.LoyaltyMember, "loyalty.read")`."""

    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require(permission)
        ids: list[uuid.UUID | None] = []
        for raw in node_ids:
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                ids.append(None)
        rows = await loaders.load_rows(info.context, model, [i for i in ids if i is not None])
        by_id = {row.id: row for row in rows if row is not None}
        return [cls.from_row(by_id[i]) if _visible(info, by_id.get(i)) else None for i in ids]

    resolve_nodes.model = model  # type: ignore[attr-defined]  # read by `node_types_by_table`
    return classmethod(resolve_nodes)


@functools.lru_cache(maxsize=4)  # a schema lives as long as its runtime, and its types never change
def node_types_by_table(schema) -> dict[str, str]:
    """The Node type backed by each table (through `node_resolver`), by table name: how the API
    names a record that hooks name by its table (`"core_activity"` → `"Activity"`)."""
    names = {}
    for name, concrete in schema.schema_converter.type_map.items():
        resolve_nodes = getattr(getattr(concrete.definition, "origin", None), "resolve_nodes", None)
        if (model := getattr(getattr(resolve_nodes, "__func__", None), "model", None)) is not None:
            names[model.__tablename__] = name
    return names


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


async def _node(info: Info, node_type, model, record_id):
    """The related object as `node_type`, or None when unset, missing or hidden from this viewer."""
    if record_id is None:
        return None
    row = await loaders.load_row(info.context, model, record_id)
    return node_type.from_row(row) if _visible(info, row) else None


async def _user(info: Info, user_id) -> User | None:
    return await _node(info, User, models.User, user_id)


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

    @strawberry.field
    async def parent(self, info: Info) -> Account | None:
        return await _node(info, Account, models.Account, self._row.parent_id)

    @strawberry.field
    async def children(self, info: Info) -> list[Account]:
        rows = await loaders.ACCOUNT_CHILDREN.load(info.context, self._row.id)
        return [Account.from_row(r) for r in rows if _visible(info, r)]

    @strawberry.field
    async def owner(self, info: Info) -> User | None:
        return await _user(info, self._row.owner_id)

    @strawberry.field(description="The merged-into account, when this one was merged away.")
    async def merged_into(self, info: Info) -> Account | None:
        return await _node(info, Account, models.Account, self._row.merged_into_id)

    @strawberry.field(description="The earliest due date of an open task on the account or its contacts.")
    async def next_action_at(self, info: Info) -> dt.datetime | None:
        return await info.context.loader("account.next_action", loaders.next_action_factory).load(self._row.id)

    @strawberry.field(description="Contacts linked to the account, in kana order.")
    async def contacts(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[Contact]:
        return await loaders.ACCOUNT_CONTACTS.resolve(
            info.context, self._row.id, _page(first, after, last, before), Contact.from_row
        )

    @strawberry.field(description="Activities of the account and of its contacts, newest first (by when they happened).")
    async def timeline(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        types: list[str] | None = None,
    ) -> Connection[Activity]:
        return await loaders.ACCOUNT_TIMELINE.resolve(
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

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await _node(info, Account, models.Account, self._account_id)


def sealed_field(name: str, description: str | None = None, *, empty: Any = None):
    """A sealed field of the type's `_row`, decrypted when a query selects it, not before: the
    access log records who did, and a query that does not ask pays nothing. Typed by the class
    annotation; `empty` is answered when the row holds nothing (`{}` for a JSON document)."""

    def resolve(root):
        value = getattr(root._row, name)
        return empty if value is None else value

    return strawberry.field(resolver=resolve, description=description)


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
    custom_fields: JSON = sealed_field(
        "custom_fields",
        "Encrypted at rest with the person's names: filter them with "
        "`customField` (whole values, parts of text, presence; no ordering).",
        empty={},
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    _row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: models.Contact) -> Contact:
        return cls(id=str(row.id), created_at=row.created_at, updated_at=row.updated_at, deleted_at=row.deleted_at, _row=row)

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

    @strawberry.field
    async def primary_email(self, info: Info) -> str | None:
        return next((e.address for e in await self.emails(info) if e.is_primary), None)  # type: ignore[misc, arg-type]  # strawberry types a decorated method as its StrawberryField

    @strawberry.field
    async def phones(self, info: Info) -> list[Phone]:
        rows = await loaders.CONTACT_PHONES.load(info.context, self._row.id)
        return [Phone(e164=r.e164, label=r.label, is_primary=r.is_primary) for r in rows]

    @strawberry.field
    async def accounts(self, info: Info) -> list[AccountLink]:
        rows = await loaders.CONTACT_ACCOUNTS.load(info.context, self._row.id)
        return [AccountLink(is_primary=r.is_primary, _account_id=r.account_id) for r in rows]

    @strawberry.field
    async def primary_account(self, info: Info) -> Account | None:
        row = await info.context.loader("contact.primary_account", loaders.primary_account_factory).load(self._row.id)
        return Account.from_row(row) if _visible(info, row) else None

    @strawberry.field
    async def owner(self, info: Info) -> User | None:
        return await _user(info, self._row.owner_id)

    @strawberry.field(description="The surviving contact, when this one was merged away.")
    async def merged_into(self, info: Info) -> Contact | None:
        return await _node(info, Contact, models.Contact, self._row.merged_into_id)

    @strawberry.field(description="Activities with this contact, newest first (by when they happened).")
    async def timeline(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        types: list[str] | None = None,
    ) -> Connection[Activity]:
        return await loaders.CONTACT_TIMELINE.resolve(
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
        rows = await loaders.load_rows(info.context, models.Contact, [match.contact_id for match in matches])
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
    body: str | None = sealed_field("body")
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

    @strawberry.field
    async def actor(self, info: Info) -> User | None:
        return await _user(info, self._row.actor_id)

    async def _targets(self, info: Info):
        return await info.context.loader("activity.targets", loaders.activity_targets_factory).load(self._row.id)

    @strawberry.field
    async def contacts(self, info: Info) -> list[Contact]:
        ids = [c for c, _ in await self._targets(info) if c is not None]
        rows = await loaders.load_rows(info.context, models.Contact, ids)
        return [Contact.from_row(r) for r in rows if _visible(info, r)]

    @strawberry.field
    async def accounts(self, info: Info) -> list[Account]:
        ids = [a for _, a in await self._targets(info) if a is not None]
        rows = await loaders.load_rows(info.context, models.Account, ids)
        return [Account.from_row(r) for r in rows if _visible(info, r)]


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

    @strawberry.field
    async def assignee(self, info: Info) -> User | None:
        return await _user(info, self._row.assignee_id)

    @strawberry.field
    async def contact(self, info: Info) -> Contact | None:
        return await _node(info, Contact, models.Contact, self._row.contact_id)

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await _node(info, Account, models.Account, self._row.account_id)


def global_id(node_type: type, id) -> str:
    return to_global_id(node_type.__name__, id)

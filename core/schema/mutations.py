"""The core's mutations. Each takes one `input` and returns a payload with the object and
`userErrors`; bad input rolls the whole unit of work back, so it changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from enishi import models
from enishi.graphql.errors import UserErrorType
from enishi.graphql.inputs import input_values, utc_instant
from enishi.graphql.mutation import run_mutation
from enishi.graphql.relay import parse_global_id, to_global_id
from enishi.services import accounts, activities, contacts, merge, sensitive, tasks

from .types import Account, Activity, Contact, PossibleDuplicate, Task

# --- payloads ----------------------------------------------------------------------------------


@strawberry.type
class AccountPayload:
    account: Account | None
    user_errors: list[UserErrorType]


@strawberry.type
class ContactPayload:
    contact: Contact | None
    user_errors: list[UserErrorType]


@strawberry.type(description="What createContact and updateContact answer: the contact, and who else it may be.")
class SaveContactPayload:
    contact: Contact | None
    user_errors: list[UserErrorType]
    _duplicates: strawberry.Private[list]

    @strawberry.field(
        description="Live contacts sharing an email (or, weaker, a phone) with the one written, which is "
        "saved regardless: offer `mergeContacts`. Empty unless emails or phones were sent. "
        "Needs `crm.read`."
    )
    async def possible_duplicates(self, info: Info) -> list[PossibleDuplicate] | None:
        info.context.require("crm.read")
        return await PossibleDuplicate.of(info, self._duplicates)


@strawberry.type
class ActivityPayload:
    activity: Activity | None
    user_errors: list[UserErrorType]


@strawberry.type
class TaskPayload:
    task: Task | None
    user_errors: list[UserErrorType]


@strawberry.type
class DestroyPayload:
    destroyed_id: strawberry.ID | None
    user_errors: list[UserErrorType]


@strawberry.type(name="MergeMove", description="What a merge moved, or would move in a dry run.")
class MergeMoveType:
    plugin: str
    entity: str
    count: int


@strawberry.type
class MergeContactsPayload:
    contact: Contact | None
    moves: list[MergeMoveType]
    dry_run: bool
    user_errors: list[UserErrorType]


@strawberry.type
class MergeAccountsPayload:
    account: Account | None
    moves: list[MergeMoveType]
    dry_run: bool
    user_errors: list[UserErrorType]


# --- inputs ------------------------------------------------------------------------------------


@strawberry.input
class CreateAccountInput:
    name: str
    name_kana: str | None = strawberry.UNSET
    domain: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    employee_count: int | None = strawberry.UNSET
    parent_id: strawberry.ID | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    lifecycle_stage: str | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input(description="Only the fields sent change; send null to clear one.")
class UpdateAccountInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    name_kana: str | None = strawberry.UNSET
    domain: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    employee_count: int | None = strawberry.UNSET
    parent_id: strawberry.ID | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    lifecycle_stage: str | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


ACCOUNT_IDS = {"parent_id": "Account", "owner_id": "User"}


@strawberry.input
class EmailInput:
    address: str
    label: str | None = None
    primary: bool = False


@strawberry.input
class PhoneInput:
    number: str = strawberry.field(description="As written: 03-1234-5678, ０３－１２３４－５６７８, +81 3 1234 5678.")
    label: str | None = None
    primary: bool = False


@strawberry.input
class AccountLinkInput:
    account_id: strawberry.ID
    primary: bool = False


@strawberry.input
class CreateContactInput:
    family_name: str | None = strawberry.UNSET
    given_name: str | None = strawberry.UNSET
    family_name_kana: str | None = strawberry.UNSET
    given_name_kana: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    department: str | None = strawberry.UNSET
    postal_code: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    emails: list[EmailInput] | None = strawberry.UNSET
    phones: list[PhoneInput] | None = strawberry.UNSET
    accounts: list[AccountLinkInput] | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


@strawberry.input(
    description="Only the fields sent change; send null to clear one. A list sent (emails, phones, "
    "accounts) replaces the old one."
)
class UpdateContactInput:
    id: strawberry.ID
    family_name: str | None = strawberry.UNSET
    given_name: str | None = strawberry.UNSET
    family_name_kana: str | None = strawberry.UNSET
    given_name_kana: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    department: str | None = strawberry.UNSET
    postal_code: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    emails: list[EmailInput] | None = strawberry.UNSET
    phones: list[PhoneInput] | None = strawberry.UNSET
    accounts: list[AccountLinkInput] | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET


def contact_values(data) -> dict:
    values = input_values(data, {"owner_id": "User"})
    for name in ("emails", "phones"):
        if values.get(name) is not None:
            values[name] = [vars(item) for item in values[name]]
    if values.get("accounts") is not None:
        values["accounts"] = [
            {"account_id": parse_global_id(link.account_id, "Account", f"accounts.{i}.accountId"), "primary": link.primary}
            for i, link in enumerate(values["accounts"])
        ]
    return values


def _id_input(name: str) -> type:
    """Each mutation has its own input type (`DeleteAccountInput`), so one can grow without the others."""
    return strawberry.input(type(name, (), {"__annotations__": {"id": strawberry.ID}}), name=name)


if TYPE_CHECKING:  # mypy cannot see classes made by a call: it sees the one shape they share

    class _IdInput:
        id: strawberry.ID

    DeleteAccountInput = _IdInput
    RestoreAccountInput = _IdInput
    DestroyAccountInput = _IdInput
    DeleteContactInput = _IdInput
    RestoreContactInput = _IdInput
    DestroyContactInput = _IdInput
    DeleteActivityInput = _IdInput
    DeleteTaskInput = _IdInput
else:
    DeleteAccountInput, RestoreAccountInput, DestroyAccountInput = map(
        _id_input, ("DeleteAccountInput", "RestoreAccountInput", "DestroyAccountInput")
    )
    DeleteContactInput, RestoreContactInput, DestroyContactInput = map(
        _id_input, ("DeleteContactInput", "RestoreContactInput", "DestroyContactInput")
    )
    DeleteActivityInput, DeleteTaskInput = map(_id_input, ("DeleteActivityInput", "DeleteTaskInput"))


@strawberry.input
class LogActivityInput:
    type: str
    summary: str
    body: str | None = None
    channel: str | None = None
    direction: str | None = None
    occurred_at: dt.datetime | None = strawberry.field(
        default=None, description="When it happened; defaults to now. Back-dating is fine."
    )
    duration_seconds: int | None = None
    contact_ids: list[strawberry.ID] | None = None
    account_ids: list[strawberry.ID] | None = None
    actor_id: strawberry.ID | None = strawberry.UNSET


@strawberry.input(description="Only the fields sent change. Type and targets cannot change.")
class UpdateActivityInput:
    id: strawberry.ID
    summary: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    channel: str | None = strawberry.UNSET
    direction: str | None = strawberry.UNSET
    occurred_at: dt.datetime | None = strawberry.UNSET
    duration_seconds: int | None = strawberry.UNSET


@strawberry.input
class CreateTaskInput:
    title: str
    due_at: dt.datetime | None = None
    assignee_id: strawberry.ID | None = strawberry.UNSET
    contact_id: strawberry.ID | None = None
    account_id: strawberry.ID | None = None


@strawberry.input
class UpdateTaskInput:
    id: strawberry.ID
    title: str | None = strawberry.UNSET
    due_at: dt.datetime | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    assignee_id: strawberry.ID | None = strawberry.UNSET


TASK_IDS = {"assignee_id": "User", "contact_id": "Contact", "account_id": "Account"}


@strawberry.input
class MergeContactsInput:
    survivor_id: strawberry.ID
    merged_ids: list[strawberry.ID]
    dry_run: bool = False


@strawberry.input
class MergeAccountsInput:
    survivor_id: strawberry.ID
    merged_ids: list[strawberry.ID]
    dry_run: bool = False


def _id(value: str, type_name: str, field: str = "id"):
    return parse_global_id(value, type_name, field)


async def _account(info: Info, permission: str, work) -> AccountPayload:
    row, errors = await run_mutation(info, permission, work)
    return AccountPayload(account=Account.from_row(row) if row else None, user_errors=errors)


async def _contact(info: Info, permission: str, work) -> ContactPayload:
    row, errors = await run_mutation(info, permission, work)
    return ContactPayload(contact=Contact.from_row(row) if row else None, user_errors=errors)


async def _save_contact(info: Info, input: CreateContactInput | UpdateContactInput) -> SaveContactPayload:
    async def work(uow):
        values = contact_values(input)
        if isinstance(input, UpdateContactInput):
            contact_id = _id(input.id, "Contact")
            if "custom_fields" in values and not info.context.can(sensitive.READ_PERMISSION):
                current = await uow.session.get(models.Contact, contact_id)
                kept = current.custom_fields if current else None
                values["custom_fields"] = await sensitive.keep_hidden(uow, "contact", kept, values["custom_fields"])
            contact = await contacts.update_contact(uow, contact_id, values)
        else:
            contact = await contacts.create_contact(uow, values)
        # Only what was sent can make a new duplicate: a name change leaves the emails as they were.
        duplicates = await contacts.possible_duplicates_of(uow, contact) if {"emails", "phones"} & values.keys() else []
        return contact, duplicates

    result, errors = await run_mutation(info, "crm.write", work)
    contact, duplicates = result or (None, [])
    return SaveContactPayload(contact=Contact.from_row(contact) if contact else None, user_errors=errors, _duplicates=duplicates)


async def _destroy(info: Info, permission: str, type_name: str, work) -> DestroyPayload:
    destroyed, errors = await run_mutation(info, permission, work)
    return DestroyPayload(
        destroyed_id=strawberry.ID(to_global_id(type_name, destroyed)) if destroyed else None, user_errors=errors
    )


async def _merge(info: Info, service, data, type_name: str):
    async def work(uow):
        survivor = _id(data.survivor_id, type_name, "survivorId")
        merged = [_id(m, type_name, f"mergedIds.{i}") for i, m in enumerate(data.merged_ids)]
        return await service(uow, survivor, merged, dry_run=data.dry_run)

    result, errors = await run_mutation(info, "crm.merge", work, dry_run=data.dry_run)
    moves = [MergeMoveType(plugin=m.plugin, entity=m.entity, count=m.count) for m in result.moves] if result else []
    return result, moves, errors


@strawberry.type
class CoreMutation:
    @strawberry.mutation
    async def create_account(self, info: Info, input: CreateAccountInput) -> AccountPayload:
        return await _account(info, "crm.write", lambda uow: accounts.create_account(uow, input_values(input, ACCOUNT_IDS)))

    @strawberry.mutation
    async def update_account(self, info: Info, input: UpdateAccountInput) -> AccountPayload:
        return await _account(
            info,
            "crm.write",
            lambda uow: accounts.update_account(uow, _id(input.id, "Account"), input_values(input, ACCOUNT_IDS)),
        )

    @strawberry.mutation(description="Soft delete: the account disappears from lists and can be restored.")
    async def delete_account(self, info: Info, input: DeleteAccountInput) -> AccountPayload:
        return await _account(info, "crm.delete", lambda uow: accounts.delete_account(uow, _id(input.id, "Account")))

    @strawberry.mutation
    async def restore_account(self, info: Info, input: RestoreAccountInput) -> AccountPayload:
        return await _account(info, "crm.delete", lambda uow: accounts.restore_account(uow, _id(input.id, "Account")))

    @strawberry.mutation(description="Remove the account for good, with its links, tasks and timeline targets.")
    async def destroy_account(self, info: Info, input: DestroyAccountInput) -> DestroyPayload:
        return await _destroy(info, "crm.destroy", "Account", lambda uow: accounts.destroy_account(uow, _id(input.id, "Account")))

    @strawberry.mutation(
        description="Create a contact. One sharing an email or a phone with a live contact is created "
        "all the same and names it in `possibleDuplicates`."
    )
    async def create_contact(self, info: Info, input: CreateContactInput) -> SaveContactPayload:
        return await _save_contact(info, input)

    @strawberry.mutation(
        description="Change a contact; new emails or phones are checked for `possibleDuplicates` as on creation."
    )
    async def update_contact(self, info: Info, input: UpdateContactInput) -> SaveContactPayload:
        return await _save_contact(info, input)

    @strawberry.mutation(description="Soft delete: the contact disappears from lists and can be restored.")
    async def delete_contact(self, info: Info, input: DeleteContactInput) -> ContactPayload:
        return await _contact(info, "crm.delete", lambda uow: contacts.delete_contact(uow, _id(input.id, "Contact")))

    @strawberry.mutation
    async def restore_contact(self, info: Info, input: RestoreContactInput) -> ContactPayload:
        return await _contact(info, "crm.delete", lambda uow: contacts.restore_contact(uow, _id(input.id, "Contact")))

    @strawberry.mutation(description="Remove the contact for good. For a data-subject erasure use the privacy plugin.")
    async def destroy_contact(self, info: Info, input: DestroyContactInput) -> DestroyPayload:
        return await _destroy(info, "crm.destroy", "Contact", lambda uow: contacts.destroy_contact(uow, _id(input.id, "Contact")))

    @strawberry.mutation
    async def log_activity(self, info: Info, input: LogActivityInput) -> ActivityPayload:
        async def work(uow):
            data = input_values(input, {"actor_id": "User"})
            data["occurred_at"] = utc_instant(input.occurred_at, "occurredAt")
            data["contact_ids"] = [_id(c, "Contact", f"contactIds.{i}") for i, c in enumerate(input.contact_ids or [])]
            data["account_ids"] = [_id(a, "Account", f"accountIds.{i}") for i, a in enumerate(input.account_ids or [])]
            return await activities.log_activity(uow, data)

        row, errors = await run_mutation(info, "activity.write", work)
        return ActivityPayload(activity=Activity.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def update_activity(self, info: Info, input: UpdateActivityInput) -> ActivityPayload:
        async def work(uow):
            data = input_values(input)
            if "occurred_at" in data:
                data["occurred_at"] = utc_instant(data["occurred_at"], "occurredAt")
            return await activities.update_activity(uow, _id(input.id, "Activity"), data)

        row, errors = await run_mutation(info, "activity.write", work)
        return ActivityPayload(activity=Activity.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def delete_activity(self, info: Info, input: DeleteActivityInput) -> DestroyPayload:
        return await _destroy(
            info, "activity.write", "Activity", lambda uow: activities.delete_activity(uow, _id(input.id, "Activity"))
        )

    @strawberry.mutation
    async def create_task(self, info: Info, input: CreateTaskInput) -> TaskPayload:
        async def work(uow):
            data = input_values(input, TASK_IDS)
            data["due_at"] = utc_instant(input.due_at, "dueAt")
            return await tasks.create_task(uow, data)

        row, errors = await run_mutation(info, "task.write", work)
        return TaskPayload(task=Task.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def update_task(self, info: Info, input: UpdateTaskInput) -> TaskPayload:
        async def work(uow):
            data = input_values(input, TASK_IDS)
            if "due_at" in data:
                data["due_at"] = utc_instant(data["due_at"], "dueAt")
            return await tasks.update_task(uow, _id(input.id, "Task"), data)

        row, errors = await run_mutation(info, "task.write", work)
        return TaskPayload(task=Task.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Remove a task for good; to keep it on record, set its status to `canceled` instead.")
    async def delete_task(self, info: Info, input: DeleteTaskInput) -> DestroyPayload:
        return await _destroy(info, "task.write", "Task", lambda uow: tasks.delete_task(uow, _id(input.id, "Task")))

    @strawberry.mutation(description="Merge contacts into the survivor; `dryRun` reports what would move and changes nothing.")
    async def merge_contacts(self, info: Info, input: MergeContactsInput) -> MergeContactsPayload:
        result, moves, errors = await _merge(info, merge.merge_contacts, input, "Contact")
        return MergeContactsPayload(
            contact=Contact.from_row(result.survivor) if result else None, moves=moves, dry_run=input.dry_run, user_errors=errors
        )

    @strawberry.mutation(description="Merge accounts into the survivor; `dryRun` reports what would move and changes nothing.")
    async def merge_accounts(self, info: Info, input: MergeAccountsInput) -> MergeAccountsPayload:
        result, moves, errors = await _merge(info, merge.merge_accounts, input, "Account")
        return MergeAccountsPayload(
            account=Account.from_row(result.survivor) if result else None, moves=moves, dry_run=input.dry_run, user_errors=errors
        )

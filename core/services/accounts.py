"""Accounts: companies and organisations, with a cycle-free parent hierarchy and soft delete."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import delete, func, select

from ..errors import InputError, UserError
from ..events import ACCOUNT_CREATED, ACCOUNT_DELETED, ACCOUNT_DESTROYED, ACCOUNT_RESTORED, ACCOUNT_UPDATED
from ..models import Account
from ..normalize import company_match_name, nfkc, search_key
from ..unit_of_work import UnitOfWork
from . import custom_fields
from .common import Checker, changed_fields, check_user, load_for_update, restore, soft_delete

LIFECYCLE_STAGES = ("lead", "prospect", "customer", "partner", "churned", "other")
DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_HIERARCHY_DEPTH = 50


def account_search_text(account: Account) -> str:
    parts = [account.name, account.name_kana, account.domain]
    return "|".join(filter(None, [*(search_key(p) for p in parts), account.match_name]))


def _normalize_domain(value: str | None) -> str | None:
    if value is None:
        return None
    value = nfkc(value).strip().lower()
    value = re.sub(r"^https?://", "", value).split("/")[0]
    return value.removeprefix("www.") or None


async def _check_account_input(
    uow: UnitOfWork, data: dict, *, creating: bool, defined: dict[str, custom_fields.FieldRule] | None = None
) -> dict:
    """`defined`: the account's custom-field definitions, when the caller read them already."""
    check = Checker()
    values: dict = {}
    if creating or "name" in data:
        values["name"] = check.text(data, "name", max_length=300, required=True)
    for field in ("name_kana", "industry"):
        if field in data:
            values[field] = check.text(data, field, max_length=300 if field == "name_kana" else 100)
    if values.get("name_kana"):
        values["name_kana"] = nfkc(values["name_kana"])
    if "domain" in data:
        domain = _normalize_domain(data["domain"])
        if domain is not None and not DOMAIN_PATTERN.match(domain):
            check.fail("domain", "is not a domain name", "INVALID_DOMAIN")
        values["domain"] = domain
    if "employee_count" in data:
        values["employee_count"] = check.non_negative(data, "employee_count")
    if "lifecycle_stage" in data:
        values["lifecycle_stage"] = check.choice(data, "lifecycle_stage", LIFECYCLE_STAGES) or "lead"
    if "custom_fields" in data or creating:
        defined = await custom_fields.definitions(uow.session, "account") if defined is None else defined
        typed = custom_fields.check_values(check, defined, check.custom_fields(data), whole=True)
        if "custom_fields" in data or typed:
            values["custom_fields"] = typed or {}
    if "owner_id" in data:
        await check_user(uow, check, data, "owner_id")
        values["owner_id"] = data["owner_id"]
    if "parent_id" in data:
        parent_id = data["parent_id"]
        if parent_id is not None:
            parent = await uow.session.get(Account, parent_id)
            if parent is None or parent.deleted_at is not None:
                check.fail("parent_id", "no such account", "NOT_FOUND")
        values["parent_id"] = parent_id
    check.done()
    return values


async def create_account(uow: UnitOfWork, data: dict) -> Account:
    (account,) = await create_accounts(uow, [data])
    return account


async def create_accounts(uow: UnitOfWork, items: list[dict]) -> list[Account]:
    """Create accounts with one flush (an import chunk's new companies), their `account.created`
    raised together. Every item is checked first: the first bad one raises its InputError, and
    nothing is written."""
    defined = await custom_fields.definitions(uow.session, "account")
    checked = [await _check_account_input(uow, data, creating=True, defined=defined) for data in items]
    now = uow.clock.now()
    accounts = []
    for values in checked:
        account = Account(**values, created_at=now, updated_at=now)
        account.lifecycle_stage = account.lifecycle_stage or "lead"
        account.custom_fields = account.custom_fields or {}
        account.match_name = company_match_name(account.name)
        account.search_text = account_search_text(account)
        accounts.append(account)
    uow.session.add_all(accounts)
    await uow.session.flush()
    await uow.emit_many(ACCOUNT_CREATED, [(account.id, None) for account in accounts])
    return accounts


async def update_account(uow: UnitOfWork, account_id: uuid.UUID, data: dict) -> Account:
    """Change the fields in `data` (snake_case, as `updateAccount` takes them; `custom_fields`
    replaces the whole document, checked against the typed definitions); emits `account.updated`
    with the fields that changed. Raises InputError for bad input."""
    account = await load_for_update(uow, Account, account_id)
    values = await _check_account_input(uow, data, creating=False)
    if values.get("parent_id") is not None:
        await _refuse_cycle(uow, account.id, values["parent_id"])
    changed = changed_fields(account, values)
    if changed:
        account.match_name = company_match_name(account.name)
        account.search_text = account_search_text(account)
        account.updated_at = uow.clock.now()
        await uow.session.flush()
        await uow.emit(ACCOUNT_UPDATED, account.id, {"fields": changed})
    return account


async def _refuse_cycle(uow: UnitOfWork, account_id: uuid.UUID, parent_id: uuid.UUID) -> None:
    """Walk up from the new parent; meeting the account itself means a cycle."""
    current: uuid.UUID | None = parent_id
    for _ in range(MAX_HIERARCHY_DEPTH):
        if current is None:
            return
        if current == account_id:
            raise InputError(UserError("parent_id", "would make the account its own ancestor", "HIERARCHY_CYCLE"))
        current = (await uow.session.execute(select(Account.parent_id).where(Account.id == current))).scalar_one_or_none()
    raise InputError(UserError("parent_id", f"hierarchy deeper than {MAX_HIERARCHY_DEPTH} levels", "HIERARCHY_TOO_DEEP"))


async def delete_account(uow: UnitOfWork, account_id: uuid.UUID) -> Account:
    return await soft_delete(uow, Account, account_id, ACCOUNT_DELETED)


async def restore_account(uow: UnitOfWork, account_id: uuid.UUID) -> Account:
    return await restore(uow, Account, account_id, ACCOUNT_RESTORED)


async def destroy_account(uow: UnitOfWork, account_id: uuid.UUID) -> uuid.UUID:
    """Remove the account for good. Plugins hear `account.destroyed` first so they can remove
    their own rows; links, targets and tasks go with it by cascade."""
    account = await load_for_update(uow, Account, account_id, include_deleted=True)
    children = (await uow.session.execute(select(func.count()).where(Account.parent_id == account.id))).scalar_one()
    if children:
        raise InputError(UserError("id", "has child accounts; move or destroy them first", "HAS_CHILDREN"))
    await uow.emit(ACCOUNT_DESTROYED, account.id)
    await uow.session.execute(
        Account.__table__.update().where(Account.merged_into_id == account.id).values(merged_into_id=None)  # type: ignore[attr-defined]  # SQLAlchemy types a model's __table__ as a FromClause; it is its Table
    )
    await uow.session.execute(delete(Account).where(Account.id == account.id))
    return account.id

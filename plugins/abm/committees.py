"""Buying committees: an account's departments, each contact's role in the committee, and how well
the committee covers the roles the account's tier requires. Separate because it is the people side
of a target account, read by scoring but changed on its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from enishi.plugin import Account, Checker, Contact, ContactAccount, UnitOfWork, create_task, live_ids

from .events import ROLE_ASSIGNED
from .models import DEPARTMENT_KINDS, ROLES, SENIORITIES, AbmBuyingRole, AbmDepartment, AbmTargetAccount
from .scoring import recompute
from .service import fail, get_config


async def _check_department(uow: UnitOfWork, check: Checker, account_id, department_id, field_name: str) -> None:
    if department_id is not None:
        department = await uow.session.get(AbmDepartment, department_id)
        if department is None or department.account_id != account_id:
            check.fail(field_name, "no such department at this account", "NOT_FOUND")


async def create_department(uow: UnitOfWork, account_id: uuid.UUID, data: dict) -> AbmDepartment:
    check = Checker()
    name = check.text(data, "name", max_length=200, required=True)
    kind = check.choice(data, "kind", DEPARTMENT_KINDS) or "other"
    account = await uow.session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        check.fail("accountId", "no such account", "NOT_FOUND")
    parent_id = data.get("parent_id")
    await _check_department(uow, check, account_id, parent_id, "parentId")
    check.done()
    exists = (
        await uow.session.execute(
            select(AbmDepartment.id).where(AbmDepartment.account_id == account_id, AbmDepartment.name == name)
        )
    ).first()
    if exists:
        raise fail("name", "the account already has a department of this name", "DUPLICATE")
    department = AbmDepartment(account_id=account_id, name=name, kind=kind, parent_id=parent_id)
    uow.session.add(department)
    await uow.session.flush()
    return department


async def assign_role(uow: UnitOfWork, account_id: uuid.UUID, contact_id: uuid.UUID, data: dict) -> AbmBuyingRole | None:
    """Give the contact a role in the account's buying committee (role None removes it)."""
    check = Checker()
    role = check.choice(data, "role", ROLES)
    seniority = check.choice(data, "seniority", SENIORITIES)
    linked = (
        await live_ids(uow, Contact, [contact_id])
        and (
            await uow.session.execute(
                select(ContactAccount.id).where(ContactAccount.account_id == account_id, ContactAccount.contact_id == contact_id)
            )
        ).first()
    )
    if not linked:
        check.fail("contactId", "is not a contact of this account", "NOT_LINKED")
    department_id = data.get("department_id")
    await _check_department(uow, check, account_id, department_id, "departmentId")
    check.done()
    existing = (
        await uow.session.execute(
            select(AbmBuyingRole)
            .where(AbmBuyingRole.account_id == account_id, AbmBuyingRole.contact_id == contact_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if role is None:
        if existing is not None:
            await uow.session.delete(existing)
        result = None
    else:
        result = existing or AbmBuyingRole(account_id=account_id, contact_id=contact_id)
        result.role, result.department_id, result.seniority = role, department_id, seniority
        uow.session.add(result)
    await uow.session.flush()
    await uow.emit(ROLE_ASSIGNED, account_id, {"role": role})
    await recompute(uow, [account_id])
    return result


@dataclass
class Coverage:
    required: list
    present: list
    missing: list
    percent: int


async def coverage(session, target: AbmTargetAccount, config: dict) -> Coverage:
    required = list(config["required_roles"].get(target.tier or "", []))
    present = sorted(
        set((await session.execute(select(AbmBuyingRole.role).where(AbmBuyingRole.account_id == target.account_id))).scalars())
    )
    missing = [r for r in required if r not in present]
    percent = round(100 * (len(required) - len(missing)) / len(required)) if required else 100
    return Coverage(required, present, missing, percent)


async def create_coverage_tasks(uow: UnitOfWork, account_id) -> list:
    target = (
        await uow.session.execute(select(AbmTargetAccount).where(AbmTargetAccount.account_id == account_id))
    ).scalar_one_or_none()
    if target is None:
        raise fail("accountId", "is not a target account", "NOT_TARGETED")
    account = await uow.session.get_one(Account, account_id)  # a target account's account exists
    missing = (await coverage(uow.session, target, await get_config(uow.session))).missing
    return [
        await create_task(
            uow,
            {
                "title": f"Find the {role.replace('_', ' ')} at {account.name}",
                "account_id": account_id,
                "assignee_id": target.owner_id or uow.actor_id,
            },
        )
        for role in missing
    ]

"""Account teams, the visibility they give (a user without `sales.read_all`, a `sales` rep, sees
and changes only the deals of accounts whose team they are on) and the assignment they drive (a
deal or a renewal without an owner goes to the team member in the right role and department)."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, delete, or_, select, true, update

from enishi.plugin import Account, Checker, InputError, UnitOfWork, User, UserError, live_ids

from .models import TEAM_ROLES, SalesDeal, SalesTeamMember

READ = "sales.read"
READ_ALL = "sales.read_all"
WRITE = "sales.write"
CONFIGURE = "sales.configure"
TEAM_READ = "sales.team_read"
TEAM_MANAGE = "sales.team_manage"


def team_scope(ctx) -> uuid.UUID | None:
    """Whose team bounds what this viewer sees: None for everything (`sales.read_all`), else the
    viewer's user id."""
    return None if ctx.can(READ_ALL) else ctx.viewer.user_id


def visible_deals(scope: uuid.UUID | None, account_column=SalesDeal.account_id):
    """The SQL condition on `account_column` for what `scope` (see `team_scope`) may see."""
    if scope is None:
        return true()
    return account_column.in_(select(SalesTeamMember.account_id).where(SalesTeamMember.user_id == scope))


async def check_account(uow: UnitOfWork, account_id: uuid.UUID, scope: uuid.UUID | None, field: str = "account_id") -> None:
    """The account exists, is live and is within `scope`; otherwise NOT_FOUND (a rep outside the
    team learns nothing of it)."""
    visible = bool(await live_ids(uow, Account, [account_id])) and (
        scope is None
        or await uow.session.scalar(
            select(SalesTeamMember.id).where(SalesTeamMember.account_id == account_id, SalesTeamMember.user_id == scope)
        )
        is not None
    )
    if not visible:
        raise InputError([UserError(field, "no such account", "NOT_FOUND")])


async def assignee(uow: UnitOfWork, account_id: uuid.UUID, role: str, department: str | None) -> uuid.UUID | None:
    """Who on the account's team takes work in `role` for `department`: the active member in
    that role covering that department, else the one covering the whole account (no
    department); the earliest on the team first. None when the team has neither: the account
    split by department and the work naming none is not given to one department's member."""
    covers: ColumnElement[bool] = SalesTeamMember.department.is_(None)
    if department is not None:
        covers = or_(covers, SalesTeamMember.department == department)
    candidates = await uow.session.execute(
        select(SalesTeamMember.user_id, SalesTeamMember.department)
        .join(User, User.id == SalesTeamMember.user_id)
        .where(SalesTeamMember.account_id == account_id, SalesTeamMember.role == role, User.is_active, covers)
        .order_by(SalesTeamMember.created_at, SalesTeamMember.id)
    )
    ranked = sorted(candidates, key=lambda member: member.department is None)  # stable: the department's first
    return ranked[0].user_id if ranked else None


async def add_member(uow: UnitOfWork, data: dict) -> SalesTeamMember:
    """Put a user on an account's team, or change their role and department there."""
    check = Checker()
    role = check.choice(data, "role", TEAM_ROLES)
    department = check.text(data, "department", max_length=200)
    if not await live_ids(uow, Account, [data["account_id"]]):
        check.fail("account_id", "no such account", "NOT_FOUND")
    user = await uow.session.get(User, data["user_id"])
    if user is None or not user.is_active:
        check.fail("user_id", "no such active user", "NOT_FOUND")
    check.done()
    member = await uow.session.scalar(
        select(SalesTeamMember).where(
            SalesTeamMember.account_id == data["account_id"], SalesTeamMember.user_id == data["user_id"]
        )
    )
    if member is None:
        member = SalesTeamMember(account_id=data["account_id"], user_id=data["user_id"], created_at=uow.clock.now())
        uow.session.add(member)
    member.role = role or member.role or "account_executive"
    member.department = department
    await uow.session.flush()
    return member


async def remove_member(uow: UnitOfWork, account_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    removed = await uow.session.execute(
        delete(SalesTeamMember).where(SalesTeamMember.account_id == account_id, SalesTeamMember.user_id == user_id)
    )
    return bool(removed.rowcount)  # type: ignore[attr-defined]


async def merge_accounts(uow: UnitOfWork, survivor_id: uuid.UUID, merged_ids: list[uuid.UUID], dry_run: bool) -> int:
    """Move the merged accounts' team members to the survivor; one already on its team keeps the
    survivor's membership. Returns how many memberships moved."""
    on_survivor = set(await uow.session.scalars(select(SalesTeamMember.user_id).where(SalesTeamMember.account_id == survivor_id)))
    members = list(await uow.session.scalars(select(SalesTeamMember).where(SalesTeamMember.account_id.in_(merged_ids))))
    moved = 0
    for member in members:
        if member.user_id in on_survivor:
            if not dry_run:
                await uow.session.delete(member)
            continue
        on_survivor.add(member.user_id)
        moved += 1
        if not dry_run:
            await uow.session.execute(
                update(SalesTeamMember).where(SalesTeamMember.id == member.id).values(account_id=survivor_id)
            )
    await uow.session.flush()
    return moved

"""Targeting an account: its tier from the ICP score or set by hand, its owner and rationale, and
its account plan. Separate from the rules (`service.py`) it applies and the scoring it triggers."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from enishi.plugin import Account, Checker, UnitOfWork, User

from .events import ACCOUNT_TARGETED, ACCOUNT_UNTARGETED, TARGET_UPDATED
from .models import CADENCES, TIERS, AbmAccountPlan, AbmTargetAccount
from .scoring import recompute
from .service import fail, get_config, icp_score, tier_for


async def set_target(uow: UnitOfWork, account_id: uuid.UUID, data: dict) -> AbmTargetAccount:
    """Target the account (or update its targeting). The tier follows the ICP score unless one
    is given by hand."""
    account = await uow.session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise fail("accountId", "no such account", "NOT_FOUND")
    check = Checker()
    tier = check.choice(data, "tier", TIERS)
    if data.get("owner_id") is not None and await uow.session.get(User, data["owner_id"]) is None:
        check.fail("ownerId", "no such user", "NOT_FOUND")
    rationale = check.text(data, "rationale", max_length=5000)
    check.done()
    config = await get_config(uow.session)
    target = (
        await uow.session.execute(select(AbmTargetAccount).where(AbmTargetAccount.account_id == account_id).with_for_update())
    ).scalar_one_or_none()
    created = target is None
    if target is None:
        target = AbmTargetAccount(account_id=account_id, created_at=uow.clock.now(), stage="target", score=0.0, raw=0.0)
        uow.session.add(target)
    target.icp_score = icp_score(account, config["icp_rules"])
    if "tier" in data:
        target.tier_set_by_hand = tier is not None
    target.tier = tier if target.tier_set_by_hand else tier_for(target.icp_score, config["tier_thresholds"])
    if "owner_id" in data:
        target.owner_id = data["owner_id"]
    if "rationale" in data:
        target.rationale = rationale
    await uow.session.flush()
    await uow.emit(ACCOUNT_TARGETED if created else TARGET_UPDATED, account_id, {"tier": target.tier})
    await recompute(uow, [account_id])
    return target


async def untarget(uow: UnitOfWork, account_id: uuid.UUID) -> uuid.UUID:
    removed = (await uow.session.execute(delete(AbmTargetAccount).where(AbmTargetAccount.account_id == account_id))).rowcount  # type: ignore[attr-defined]  # SQLAlchemy types a DML statement's result as Result, not CursorResult
    if not removed:
        raise fail("accountId", "is not a target account", "NOT_TARGETED")
    await uow.emit(ACCOUNT_UNTARGETED, account_id)
    return account_id


async def upsert_plan(uow: UnitOfWork, account_id: uuid.UUID, data: dict) -> AbmAccountPlan:
    check = Checker()
    objectives = data.get("objectives") or []
    if len(objectives) > 50 or any(not o.strip() or len(o) > 500 for o in objectives):
        check.fail("objectives", "give up to 50 objectives of 1 to 500 characters", "INVALID")
    cadence = check.choice(data, "review_cadence", CADENCES)
    notes = check.text(data, "notes", max_length=20000)
    account = await uow.session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        check.fail("accountId", "no such account", "NOT_FOUND")
    check.done()
    plan = (
        await uow.session.execute(select(AbmAccountPlan).where(AbmAccountPlan.account_id == account_id).with_for_update())
    ).scalar_one_or_none()
    if plan is None:
        plan = AbmAccountPlan(account_id=account_id)
        uow.session.add(plan)
    plan.objectives = [o.strip() for o in objectives]
    plan.target_close, plan.review_cadence, plan.notes = data.get("target_close"), cadence, notes
    plan.updated_at = uow.clock.now()
    await uow.session.flush()
    return plan

"""Engagement scoring and stages, stored on each target account. Separate from the rules it reads
(`service.py`) because it is the part that runs on every activity change and in the daily job.

Engagement (defaults, all configurable with `set_config`):
    raw   = Σ over the account's activities in the window of
            weight(activity) × max(role multiplier of the account's participants)
    score = round(raw × min(1 + 0.1 × (departments engaged − 1), 1.3), 1)
An account's activities are its own and its contacts' (the core timeline); an activity with
several participants counts once. Scores are stored on the target account and recomputed when
activities, roles or contacts change, and daily (the window moves with time)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from enishi.plugin import Account, Activity, ActivityTarget, ContactAccount, UnitOfWork

from .events import SCORE_CHANGED, STAGE_CHANGED
from .models import AbmBuyingRole, AbmDepartment, AbmTargetAccount
from .service import get_config

MQA_ROLES = ("decision_maker", "budget_holder")
RECOMPUTE_CHUNK = 500


@dataclass
class Engagement:
    raw: float = 0.0
    score: float = 0.0
    departments: set = field(default_factory=set)
    by_department: dict = field(default_factory=lambda: defaultdict(float))
    by_role: dict = field(default_factory=lambda: defaultdict(float))
    decision_maker_engaged: bool = False
    last_activity_at: dt.datetime | None = None
    activities: int = 0  # distinct activities in the window, whatever their weight


def activity_weight(config: dict, activity_type: str, direction: str, duration_seconds: int | None) -> float:
    weights = config["weights"]
    if activity_type == "call":
        return weights.get("call_connected" if duration_seconds else "call", 0)
    if activity_type == "email":
        return weights.get(f"email_{direction}", 0)
    return weights.get(activity_type, 0)


async def compute_engagement(session, units: dict, now: dt.datetime, config: dict) -> dict:
    """Engagement for each unit (a key → the account ids it spans: one account, or a hierarchy),
    in a fixed number of queries whatever the number of units."""
    all_accounts = {a for ids in units.values() for a in ids}
    if not all_accounts:
        return {}
    window_start = now - dt.timedelta(days=config["window_days"])
    horizon = min(window_start, now - dt.timedelta(days=config["aware_days"]))
    links = (
        await session.execute(
            select(ContactAccount.account_id, ContactAccount.contact_id).where(ContactAccount.account_id.in_(all_accounts))
        )
    ).all()
    contacts_of = defaultdict(set)
    for account_id, contact_id in links:
        contacts_of[account_id].add(contact_id)
    roles = (
        await session.execute(
            select(AbmBuyingRole.account_id, AbmBuyingRole.contact_id, AbmBuyingRole.role, AbmDepartment.name)
            .outerjoin(AbmDepartment, AbmDepartment.id == AbmBuyingRole.department_id)
            .where(AbmBuyingRole.account_id.in_(all_accounts))
        )
    ).all()
    role_of = {(account_id, contact_id): (role, department) for account_id, contact_id, role, department in roles}
    all_contacts = {c for _, c in links}
    activity_columns = (Activity.id, Activity.type, Activity.direction, Activity.duration_seconds, Activity.occurred_at)
    in_horizon = (Activity.occurred_at >= horizon, Activity.occurred_at <= now)
    rows = (
        await session.execute(
            select(ActivityTarget.account_id, ActivityTarget.contact_id, *activity_columns)
            .join(Activity, Activity.id == ActivityTarget.activity_id)
            .where(or_(ActivityTarget.account_id.in_(all_accounts), ActivityTarget.contact_id.in_(all_contacts)), *in_horizon)
        )
    ).all()
    activities, contact_targets = {}, defaultdict(set)
    by_account, by_contact = defaultdict(set), defaultdict(set)
    for account_id, contact_id, activity_id, *details in rows:
        activities[activity_id] = details
        if account_id is not None:
            by_account[account_id].add(activity_id)
        if contact_id is not None:
            contact_targets[activity_id].add(contact_id)
            by_contact[contact_id].add(activity_id)
    results = {}
    for key, account_ids in units.items():
        account_set = set(account_ids)
        unit_contacts = set().union(*(contacts_of[a] for a in account_set))
        reached = set().union(*(by_account[a] for a in account_set), *(by_contact[c] for c in unit_contacts))
        engagement = Engagement()
        for activity_id in reached:
            activity_type, direction, duration, occurred_at = activities[activity_id]
            participants = contact_targets[activity_id] & unit_contacts
            if engagement.last_activity_at is None or occurred_at > engagement.last_activity_at:
                engagement.last_activity_at = occurred_at
            if occurred_at < window_start:
                continue
            engagement.activities += 1
            weight = activity_weight(config, activity_type, direction, duration)
            if weight <= 0:
                continue
            placed = [role_of[(a, c)] for c in participants for a in account_set if (a, c) in role_of]
            multiplier, best_role = max(
                ((config["role_multipliers"].get(role, 1.0), role) for role, _ in placed), default=(1.0, None)
            )
            points = weight * multiplier
            engagement.raw += points
            engagement.by_role[best_role or "none"] += points
            for role, department in placed:
                if department:
                    engagement.departments.add(department)
                if role in MQA_ROLES:
                    engagement.decision_maker_engaged = True
            for department in {d for _, d in placed if d}:
                engagement.by_department[department] += points
        factor = min(1 + config["department_bonus"] * (max(len(engagement.departments), 1) - 1), config["department_cap"])
        engagement.raw = round(engagement.raw, 4)
        engagement.score = round(engagement.raw * factor, 1)
        results[key] = engagement
    return results


def stage_for(engagement: Engagement, deal: str | None, config: dict) -> str:
    if deal == "won":
        return "customer"
    if deal == "open":
        return "opportunity"
    if (
        engagement.score >= config["mqa_score"]
        and len(engagement.departments) >= config["mqa_departments"]
        and engagement.decision_maker_engaged
    ):
        return "mqa"
    if engagement.score >= config["engaged_score"]:
        return "engaged"
    if engagement.last_activity_at is not None:
        return "aware"
    return "target"


async def deal_stages(uow: UnitOfWork, account_ids: list) -> dict:
    """What deal plugins say of the accounts, asked once for them all: "won" beats "open" beats
    nothing (an account no plugin names)."""
    stages: dict = {}
    if not uow.runtime.plugins.has_hook("enishi_abm_deal_stages"):
        return stages
    for _, answers in await uow.runtime.plugins.call("enishi_abm_deal_stages", uow=uow, account_ids=account_ids):
        for account_id, stage in (answers or {}).items():
            if stages.get(account_id) != "won":
                stages[account_id] = stage
    return stages


async def recompute(uow: UnitOfWork, account_ids) -> int:
    """Recompute and store score and stage of the target accounts among `account_ids`; emit
    `abm.score_changed` / `abm.stage_changed` for what moved. Returns how many were scored.

    The targets are read and written as rows (the daily job does 500 at a time): the changed
    ones in one executemany UPDATE, and a target the session holds as an object (the one
    `set_target` returns) is brought up to date with the stored values."""
    targets = (
        await uow.session.execute(
            select(*_STORED, AbmTargetAccount.id, AbmTargetAccount.account_id)
            .where(AbmTargetAccount.account_id.in_(list(account_ids)))
            .order_by(AbmTargetAccount.account_id)
            .with_for_update()
        )
    ).all()
    if not targets:
        return 0
    config = await get_config(uow.session)
    now = uow.clock.now()
    engagement = await compute_engagement(uow.session, {t.account_id: [t.account_id] for t in targets}, now, config)
    deals = await deal_stages(uow, [t.account_id for t in targets])
    changed, scores_moved, stages_moved = [], [], []
    for target in targets:
        result = engagement[target.account_id]
        stage = stage_for(result, deals.get(target.account_id), config)
        if result.score != target.score:
            scores_moved.append((target.account_id, {"from": target.score, "to": result.score}))
        if stage != target.stage:
            stages_moved.append((target.account_id, {"from": target.stage, "to": stage}))
        stored = {"score": result.score, "raw": result.raw, "stage": stage, "scored_at": now}
        if any(getattr(target, column.key) != value for column, value in zip(_STORED, stored.values(), strict=True)):
            changed.append({"target_id": target.id, **stored})
    await uow.emit_many(SCORE_CHANGED, scores_moved)  # each account's score move before its stage move
    await uow.emit_many(STAGE_CHANGED, stages_moved)
    if changed:
        await uow.session.execute(_STORE, changed)
        for values in changed:
            if (held := uow.session.identity_map.get(identity_key(AbmTargetAccount, values["target_id"]))) is not None:
                for column in _STORED:
                    set_committed_value(held, column.key, values[column.key])
    return len(targets)


_STORED = (AbmTargetAccount.score, AbmTargetAccount.raw, AbmTargetAccount.stage, AbmTargetAccount.scored_at)
_STORE = (
    update(AbmTargetAccount.__table__)  # type: ignore[arg-type]  # SQLAlchemy types a model's __table__ as a FromClause; it is its Table
    .where(AbmTargetAccount.__table__.c.id == bindparam("target_id"))
    .values({column.key: bindparam(column.key) for column in _STORED})
)


async def accounts_touched_by_activities(session, activity_ids) -> set:
    """The accounts the activities target, directly or through a contact's account."""
    direct = select(ActivityTarget.account_id).where(
        ActivityTarget.activity_id.in_(list(activity_ids)), ActivityTarget.account_id.is_not(None)
    )
    via_contacts = (
        select(ContactAccount.account_id)
        .join(ActivityTarget, ActivityTarget.contact_id == ContactAccount.contact_id)
        .where(ActivityTarget.activity_id.in_(list(activity_ids)))
    )
    return set((await session.execute(direct.union(via_contacts))).scalars())


async def accounts_of_contacts(session, contact_ids) -> set:
    return set(
        (
            await session.execute(select(ContactAccount.account_id).where(ContactAccount.contact_id.in_(list(contact_ids))))
        ).scalars()
    )


async def recompute_all(runtime) -> int:
    """The daily job: every target account, in chunks of one transaction each."""
    async with runtime.read_session() as session:
        ids = list((await session.execute(select(AbmTargetAccount.account_id).order_by(AbmTargetAccount.account_id))).scalars())
    scored = 0
    for start in range(0, len(ids), RECOMPUTE_CHUNK):
        async with runtime.unit_of_work() as uow:
            scored += await recompute(uow, ids[start : start + RECOMPUTE_CHUNK])
    return scored


async def descendants(session, account_id) -> list:
    tree, frontier = [account_id], [account_id]
    for _ in range(50):
        frontier = list(
            (
                await session.execute(select(Account.id).where(Account.parent_id.in_(frontier), Account.deleted_at.is_(None)))
            ).scalars()
        )
        if not frontier:
            break
        tree += frontier
    return tree

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

from sqlalchemy import Float, Integer, and_, bindparam, case, func, literal, select, true, union, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.expression import ColumnElement

from enishi.plugin import Account, Activity, ActivityTarget, ContactAccount, UnitOfWork

from .events import SCORE_CHANGED, STAGE_CHANGED
from .models import ROLES, AbmBuyingRole, AbmDepartment, AbmTargetAccount
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


class _Grouping:
    """How the accounts of one engagement query form units: each account its own unit (the job, the
    live engagement of a page's accounts), or all of them one unit (a hierarchy's rollup), in which
    an activity reaching several of them counts once."""

    def __init__(self, accounts: list, as_one: bool) -> None:
        self.accounts, self.as_one = accounts, as_one

    def unit(self, account_column) -> ColumnElement:
        return literal(0, Integer) if self.as_one else account_column

    def same_unit(self, account_column, other_account_column) -> ColumnElement:
        return true() if self.as_one else account_column == other_account_column


def _weight(config: dict) -> ColumnElement:
    """An activity's weight: a call's is `call_connected` when it lasted, else `call`; an email's is
    `email_<direction>`; any other's its type's; 0 for what the weights do not name."""
    weights = {key: literal(float(value), Float) for key, value in config["weights"].items()}
    zero = literal(0.0, Float)
    lasted = func.coalesce(Activity.duration_seconds, 0) != 0
    call = case((lasted, weights.get("call_connected", zero)), else_=weights.get("call", zero))
    emails = [(Activity.direction == key.removeprefix("email_"), w) for key, w in weights.items() if key.startswith("email_")]
    others = [(Activity.type == key, w) for key, w in weights.items() if key not in ("call", "email")]
    return case(
        (Activity.type == "call", call),
        (Activity.type == "email", case(*emails, else_=zero) if emails else zero),
        else_=case(*others, else_=zero) if others else zero,
    )


async def _engagement_of(session, grouping: _Grouping, now: dt.datetime, config: dict) -> dict:
    """Engagement per unit of `grouping`, in two statements that aggregate per unit (Python then
    adds a handful of rows per unit, not one per activity).

    Each activity reached in the horizon is placed once per unit with the best of its participants'
    roles: the roles are ranked by (multiplier, name), so `MAX` of the rank picks the role whose
    multiplier applies. The first statement sums weights per unit and rank (the raw score, the
    points by role, the activities, the last one, the decision maker); the second per unit,
    department and rank (the departments engaged and their points)."""
    window_start = now - dt.timedelta(days=config["window_days"])
    horizon = min(window_start, now - dt.timedelta(days=config["aware_days"]))
    multipliers = config["role_multipliers"]
    ranked_roles = sorted(ROLES, key=lambda role: (multipliers.get(role, 1.0), role))
    accounts = grouping.accounts
    reach = union(
        select(grouping.unit(ActivityTarget.account_id).label("unit"), ActivityTarget.activity_id).where(
            ActivityTarget.account_id.in_(accounts)
        ),
        select(grouping.unit(ContactAccount.account_id), ActivityTarget.activity_id)
        .select_from(ContactAccount)
        .join(ActivityTarget, ActivityTarget.contact_id == ContactAccount.contact_id)
        .where(ContactAccount.account_id.in_(accounts)),
    ).subquery("reach")
    # A participant's role counts when the participant is a contact of the unit and the role is at one of its accounts.
    at_the_unit = (
        select(ContactAccount.id)
        .where(
            ContactAccount.contact_id == AbmBuyingRole.contact_id,
            ContactAccount.account_id.in_(accounts),
            grouping.same_unit(ContactAccount.account_id, AbmBuyingRole.account_id),
        )
        .exists()
    )
    placed = (
        select(
            grouping.unit(AbmBuyingRole.account_id).label("unit"),
            ActivityTarget.activity_id,
            case(*((AbmBuyingRole.role == role, rank) for rank, role in enumerate(ranked_roles, 1))).label("rank"),
            case((AbmBuyingRole.role.in_(MQA_ROLES), 1), else_=0).label("mqa"),
            AbmDepartment.name.label("department"),
        )
        .select_from(ActivityTarget)
        .join(AbmBuyingRole, AbmBuyingRole.contact_id == ActivityTarget.contact_id)
        .outerjoin(AbmDepartment, AbmDepartment.id == AbmBuyingRole.department_id)
        .where(AbmBuyingRole.account_id.in_(accounts), at_the_unit)
        .subquery("placed")
    )
    best = (
        select(placed.c.unit, placed.c.activity_id, func.max(placed.c.rank).label("rank"), func.max(placed.c.mqa).label("mqa"))
        .group_by(placed.c.unit, placed.c.activity_id)
        .subquery("best")
    )
    weight = _weight(config)
    per_activity = (
        select(
            reach.c.unit,
            reach.c.activity_id,
            Activity.occurred_at,
            best.c.rank,
            best.c.mqa,
            # counted: in the window with a positive weight; the rest only mark the account aware
            case((and_(Activity.occurred_at >= window_start, weight > 0), weight)).label("weight"),
            case((Activity.occurred_at >= window_start, 1), else_=0).label("in_window"),
        )
        .join(Activity, Activity.id == reach.c.activity_id)
        .outerjoin(best, and_(best.c.unit == reach.c.unit, best.c.activity_id == reach.c.activity_id))
        .where(Activity.occurred_at >= horizon, Activity.occurred_at <= now)
        .subquery("per_activity")
    )
    by_rank = select(
        per_activity.c.unit,
        per_activity.c.rank,
        func.sum(per_activity.c.in_window),
        func.count(per_activity.c.weight),
        func.sum(per_activity.c.weight),
        func.max(per_activity.c.occurred_at),
        func.max(case((per_activity.c.weight.is_not(None), per_activity.c.mqa))),
    ).group_by(per_activity.c.unit, per_activity.c.rank)
    departments = (
        select(placed.c.unit, placed.c.activity_id, placed.c.department)
        .where(placed.c.department.is_not(None))
        .distinct()
        .subquery("departments")
    )
    by_department = (
        select(per_activity.c.unit, departments.c.department, per_activity.c.rank, func.sum(per_activity.c.weight))
        .join(
            departments,
            and_(departments.c.unit == per_activity.c.unit, departments.c.activity_id == per_activity.c.activity_id),
        )
        .where(per_activity.c.weight.is_not(None))
        .group_by(per_activity.c.unit, departments.c.department, per_activity.c.rank)
    )

    def role_of(rank: int | None) -> tuple[str | None, float]:
        role = ranked_roles[rank - 1] if rank else None
        return role, multipliers.get(role, 1.0)

    results: dict = defaultdict(Engagement)
    for unit, rank, in_window, counted, weights, last_at, mqa in await session.execute(by_rank):
        engagement = results[unit]
        engagement.activities += in_window
        if engagement.last_activity_at is None or last_at > engagement.last_activity_at:
            engagement.last_activity_at = last_at
        if counted:
            role, multiplier = role_of(rank)
            engagement.raw += weights * multiplier
            engagement.by_role[role or "none"] += weights * multiplier
            engagement.decision_maker_engaged |= bool(mqa)
    for unit, department, rank, weights in await session.execute(by_department):
        results[unit].departments.add(department)
        results[unit].by_department[department] += weights * role_of(rank)[1]
    for engagement in results.values():
        factor = min(1 + config["department_bonus"] * (max(len(engagement.departments), 1) - 1), config["department_cap"])
        engagement.raw = round(engagement.raw, 4)
        engagement.score = round(engagement.raw * factor, 1)
    return results


async def compute_engagement(session, units: dict, now: dt.datetime, config: dict) -> dict:
    """Engagement for each unit (a key → the account ids it spans: one account, or a hierarchy):
    the single-account units in one pass whatever their number, each larger unit in one of its own."""
    singles = {key: ids[0] for key, ids in units.items() if len(set(ids)) == 1}
    results = {key: Engagement() for key in units}
    if singles:
        per_account = await _engagement_of(session, _Grouping(list(set(singles.values())), as_one=False), now, config)
        results.update({key: per_account[account_id] for key, account_id in singles.items() if account_id in per_account})
    for key, ids in units.items():
        if key not in singles and ids:
            as_one = await _engagement_of(session, _Grouping(list(set(ids)), as_one=True), now, config)
            results[key] = as_one.get(0, Engagement())
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

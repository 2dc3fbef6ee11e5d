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

from sqlalchemy import Float, Integer, String, and_, bindparam, case, func, literal, select, union_all, update
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

    def role_counts(self, role_account, link_account) -> ColumnElement:
        """Whether a contact's role at `role_account` counts for the unit the contact reaches
        through its link to `link_account`: the same account, or any account of a grouped unit."""
        return role_account.in_(self.accounts) if self.as_one else role_account == link_account


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
    """Engagement per unit of `grouping` in one statement that aggregates per unit, best role and
    department: Python then adds a handful of rows per unit, not one per activity.

    The activities reach a unit through its accounts and its contacts; each contact path carries
    the participant's role at the unit (roles ranked by multiplier, then name, so that the `MAX` of
    the rank over an activity's rows picks the role whose multiplier applies) and its department.
    An activity has as many rows as paths and participants: window functions mark its first row
    (it counts once: activities, points by role) and its first row per department (the points by
    department)."""
    window_start = now - dt.timedelta(days=config["window_days"])
    horizon = min(window_start, now - dt.timedelta(days=config["aware_days"]))
    multipliers = config["role_multipliers"]
    ranked_roles = sorted(ROLES, key=lambda role: (multipliers.get(role, 1.0), role))
    accounts = grouping.accounts
    no_role = literal(None, Integer)
    paths = union_all(
        select(
            grouping.unit(ActivityTarget.account_id).label("unit"),
            ActivityTarget.activity_id,
            no_role.label("rank"),
            no_role.label("mqa"),
            literal(None, String).label("department"),
        ).where(ActivityTarget.account_id.in_(accounts)),
        select(
            grouping.unit(ContactAccount.account_id),
            ActivityTarget.activity_id,
            case(*((AbmBuyingRole.role == role, rank) for rank, role in enumerate(ranked_roles, 1))),
            case((AbmBuyingRole.role.in_(MQA_ROLES), 1), else_=0),
            AbmDepartment.name,
        )
        .select_from(ContactAccount)
        .join(ActivityTarget, ActivityTarget.contact_id == ContactAccount.contact_id)
        .outerjoin(
            AbmBuyingRole,
            and_(
                AbmBuyingRole.contact_id == ContactAccount.contact_id,
                grouping.role_counts(AbmBuyingRole.account_id, ContactAccount.account_id),
            ),
        )
        .outerjoin(AbmDepartment, AbmDepartment.id == AbmBuyingRole.department_id)
        .where(ContactAccount.account_id.in_(accounts)),
    ).subquery("paths")
    weight = _weight(config)
    per_activity = (paths.c.unit, paths.c.activity_id)
    rows = (
        select(
            paths.c.unit,
            paths.c.department,
            paths.c.mqa,
            Activity.occurred_at,
            func.max(paths.c.rank).over(partition_by=per_activity).label("rank"),
            func.row_number().over(partition_by=per_activity, order_by=paths.c.department).label("nth"),
            func.row_number().over(partition_by=(*per_activity, paths.c.department)).label("nth_in_department"),
            # counted: in the window with a positive weight; the rest only mark the account aware
            case((and_(Activity.occurred_at >= window_start, weight > 0), weight)).label("weight"),
            case((Activity.occurred_at >= window_start, 1), else_=0).label("in_window"),
        )
        .join(Activity, Activity.id == paths.c.activity_id)
        .where(Activity.occurred_at >= horizon, Activity.occurred_at <= now)
        .subquery("rows")
    )
    first = rows.c.nth == 1
    aggregate = select(
        rows.c.unit,
        rows.c.rank,
        rows.c.department,
        func.sum(case((first, rows.c.in_window))),
        func.count(case((first, rows.c.weight))),
        func.sum(case((first, rows.c.weight))),
        func.sum(case((rows.c.nth_in_department == 1, rows.c.weight))),
        func.max(rows.c.occurred_at),
        func.max(case((rows.c.weight.is_not(None), rows.c.mqa))),
    ).group_by(rows.c.unit, rows.c.rank, rows.c.department)

    results: dict = defaultdict(Engagement)
    for unit, rank, department, in_window, counted, points, department_points, last_at, mqa in await session.execute(aggregate):
        engagement = results[unit]
        engagement.activities += in_window or 0
        if engagement.last_activity_at is None or last_at > engagement.last_activity_at:
            engagement.last_activity_at = last_at
        role = ranked_roles[rank - 1] if rank else None
        multiplier = multipliers.get(role, 1.0)
        if counted:
            engagement.raw += points * multiplier
            engagement.by_role[role or "none"] += points * multiplier
        if department is not None and department_points is not None:
            engagement.departments.add(department)
            engagement.by_department[department] += department_points * multiplier
        engagement.decision_maker_engaged |= bool(mqa)
    for engagement in results.values():
        settle_score(engagement, config)
    return results


def settle_score(engagement: Engagement, config: dict) -> None:
    """The score from the summed raw points: the departments' bonus applied, both rounded (the
    raw to absorb the order the points were added in)."""
    factor = min(1 + config["department_bonus"] * (max(len(engagement.departments), 1) - 1), config["department_cap"])
    engagement.raw = round(engagement.raw, 4)
    engagement.score = round(engagement.raw * factor, 1)


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

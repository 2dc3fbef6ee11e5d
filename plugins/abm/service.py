"""Account-based marketing rules: ICP fit, buying committees, engagement scoring, stages.

Engagement (defaults, all configurable with `set_config`):
    raw   = Σ over the account's activities in the window of
            weight(activity) × max(role multiplier of the account's participants)
    score = round(raw × min(1 + 0.1 × (departments engaged − 1), 1.3), 1)
An account's activities are its own and its contacts' (the core timeline); an activity with
several participants counts once. Scores are stored on the target account and recomputed when
activities, roles or contacts change, and daily (the window moves with time)."""

from __future__ import annotations

import copy
import datetime as dt
import operator
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select

from enishi.plugin import (
    Account,
    Activity,
    ActivityTarget,
    Checker,
    Contact,
    ContactAccount,
    InputError,
    UnitOfWork,
    User,
    UserError,
    create_task,
    live_ids,
)

from .events import (
    ACCOUNT_TARGETED,
    ACCOUNT_UNTARGETED,
    AUDIENCE_EXPORTED,
    CONFIG_CHANGED,
    ROLE_ASSIGNED,
    SCORE_CHANGED,
    STAGE_CHANGED,
    TARGET_UPDATED,
)
from .models import (
    CADENCES,
    DEPARTMENT_KINDS,
    ROLES,
    SENIORITIES,
    STAGES,
    TIERS,
    AbmAccountPlan,
    AbmBuyingRole,
    AbmConfig,
    AbmDepartment,
    AbmTargetAccount,
)

DEFAULT_CONFIG = {
    "window_days": 30,
    "weights": {
        "meeting": 10,
        "call_connected": 5,
        "call": 0,
        "email_inbound": 3,
        "email_outbound": 0.5,
        "event": 8,
        "note": 0,
        "task": 0,
    },
    "role_multipliers": {
        "decision_maker": 2.0,
        "budget_holder": 2.0,
        "executive_sponsor": 2.0,
        "champion": 1.5,
        "influencer": 1.2,
    },
    "department_bonus": 0.1,
    "department_cap": 1.3,
    "mqa_score": 60,
    "mqa_departments": 2,
    "engaged_score": 30,
    "aware_days": 90,
    "icp_rules": [
        {"field": "employee_count", "op": "gte", "value": 1000, "points": 40},
        {"field": "industry", "op": "in", "value": ["manufacturing", "electronics", "it"], "points": 30},
        {"field": "custom_fields.country", "op": "eq", "value": "JP", "points": 20},
    ],
    "tier_thresholds": {"tier_1": 80, "tier_2": 50, "tier_3": 30},
    "required_roles": {
        "tier_1": ["decision_maker", "budget_holder", "champion", "influencer", "end_user"],
        "tier_2": ["decision_maker", "budget_holder", "champion"],
        "tier_3": ["decision_maker", "champion"],
    },
}
MQA_ROLES = ("decision_maker", "budget_holder")
RECOMPUTE_CHUNK = 500


def _fail(field_name: str, message: str, code: str) -> InputError:
    return InputError(UserError(field_name, message, code))


# --- configuration ------------------------------------------------------------------------------


async def get_config(session) -> dict:
    row = await session.get(AbmConfig, "default")
    config: dict[str, Any] = copy.deepcopy(DEFAULT_CONFIG)
    if row is not None:
        for key, value in row.values.items():
            config[key] = {**config[key], **value} if isinstance(config[key], dict) else value
    return config


# (lowest, highest) of each number setting: a window of a million days overflows dates, and a
# negative one means nothing.
NUMBER_RANGES = {
    "window_days": (1, 3650),
    "aware_days": (1, 3650),
    "department_bonus": (0, 10),
    "department_cap": (1, 100),
    "mqa_score": (0, 1_000_000),
    "mqa_departments": (0, 1000),
    "engaged_score": (0, 1_000_000),
}
MAX_WEIGHT = 1_000_000
MAX_ICP_RULES = 100
MAX_ICP_VALUES = 500
MAX_ICP_TEXT = 200
ICP_ACCOUNT_FIELDS = ("employee_count", "industry", "domain", "lifecycle_stage", "name")
CUSTOM_FIELD_PREFIX = "custom_fields."


def _keyed(
    check: Checker, field: str, items: list[dict], key: str, value: str, choices: tuple[str, ...] | None, low: float, high: float
) -> dict:
    """A list of {key, value} pairs as the stored map, each key once, values in [low, high]."""
    stored: dict = {}
    for i, item in enumerate(items):
        name = (item[key] or "").strip()
        if choices is not None and name not in choices:
            check.fail(f"{field}.{i}.{key}", f"must be one of: {', '.join(choices)}", "INVALID_CHOICE")
        elif not name or len(name) > 64:
            check.fail(f"{field}.{i}.{key}", "must be 1 to 64 characters", "REQUIRED" if not name else "TOO_LONG")
        elif name in stored:
            check.fail(f"{field}.{i}", f"names {name} a second time", "DUPLICATE")
        elif not low <= item[value] <= high:
            check.fail(f"{field}.{i}.{value}", f"must be between {low} and {high}", "OUT_OF_RANGE")
        else:
            stored[name] = item[value]
    return stored


def _icp_rules(check: Checker, rules: list[dict]) -> list[dict]:
    if len(rules) > MAX_ICP_RULES:
        check.fail("icp_rules", f"at most {MAX_ICP_RULES} rules", "TOO_MANY")
        return []
    stored = []
    for i, rule in enumerate(rules):
        field_name, op, value = rule["field"], rule["op"], rule["value"]
        custom_key = field_name[len(CUSTOM_FIELD_PREFIX) :] if field_name.startswith(CUSTOM_FIELD_PREFIX) else None
        if field_name not in ICP_ACCOUNT_FIELDS and not (custom_key and len(custom_key) <= 100):
            check.fail(
                f"icp_rules.{i}.field", f"must be one of {', '.join(ICP_ACCOUNT_FIELDS)} or custom_fields.<key>", "INVALID_CHOICE"
            )
        if op not in ICP_OPERATORS:
            check.fail(f"icp_rules.{i}.op", f"must be one of: {', '.join(ICP_OPERATORS)}", "INVALID_CHOICE")
        elif not _icp_value_fits(op, value):
            check.fail(
                f"icp_rules.{i}.value",
                "gte/lte compare a number, eq a text, number or boolean, in a list of those "
                f"(at most {MAX_ICP_VALUES}, texts up to {MAX_ICP_TEXT} characters)",
                "INVALID_VALUE",
            )
        if not -1000 <= rule["points"] <= 1000:
            check.fail(f"icp_rules.{i}.points", "must be between -1000 and 1000", "OUT_OF_RANGE")
        stored.append({"field": field_name, "op": op, "value": value, "points": rule["points"]})
    return stored


def _icp_scalar(value) -> bool:
    return (isinstance(value, (bool, int, float)) and value == value) or (isinstance(value, str) and len(value) <= MAX_ICP_TEXT)


def _icp_value_fits(op: str, value) -> bool:
    if op in ("gte", "lte"):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if op == "in":
        return isinstance(value, list) and len(value) <= MAX_ICP_VALUES and all(_icp_scalar(v) for v in value)
    return _icp_scalar(value)


def _check_config(values: dict) -> dict:
    """The settings sent, checked, in their stored shapes (maps for weights, multipliers, tier
    thresholds and required roles: each entry sent replaces that entry; `icp_rules` replaces all)."""
    check = Checker()
    stored: dict = {}
    for key, (low, high) in NUMBER_RANGES.items():
        if values.get(key) is not None:
            if not low <= values[key] <= high:
                check.fail(key, f"must be between {low} and {high}", "OUT_OF_RANGE")
            stored[key] = values[key]
    if values.get("weights") is not None:
        stored["weights"] = _keyed(check, "weights", values["weights"], "activity_type", "weight", None, 0, MAX_WEIGHT)
    if values.get("role_multipliers") is not None:
        stored["role_multipliers"] = _keyed(
            check, "role_multipliers", values["role_multipliers"], "role", "multiplier", ROLES, 0, 100
        )
    if values.get("tier_thresholds") is not None:
        stored["tier_thresholds"] = _keyed(
            check, "tier_thresholds", values["tier_thresholds"], "tier", "min_score", TIERS, 0, 1_000_000
        )
    if values.get("required_roles") is not None:
        required = {}
        for i, item in enumerate(values["required_roles"]):
            if item["tier"] not in TIERS:
                check.fail(f"required_roles.{i}.tier", f"must be one of: {', '.join(TIERS)}", "INVALID_CHOICE")
            elif item["tier"] in required:
                check.fail(f"required_roles.{i}", f"names {item['tier']} a second time", "DUPLICATE")
            elif set(item["roles"]) - set(ROLES):
                check.fail(f"required_roles.{i}.roles", f"must be among: {', '.join(ROLES)}", "INVALID_CHOICE")
            else:
                required[item["tier"]] = list(dict.fromkeys(item["roles"]))
        stored["required_roles"] = required
    if values.get("icp_rules") is not None:
        stored["icp_rules"] = _icp_rules(check, values["icp_rules"])
    check.done()
    return stored


async def set_config(uow: UnitOfWork, values: dict) -> dict:
    """Change the settings given (`NUMBER_RANGES`' names, and lists of entries for the maps and the
    ICP rules; see `_check_config`); the others keep their values."""
    stored = _check_config(values)
    row = await uow.session.get(AbmConfig, "default", with_for_update=True)
    if row is None:
        row = AbmConfig(name="default", values={}, updated_at=uow.clock.now())
        uow.session.add(row)
    merged = dict(row.values)
    for key, value in stored.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(DEFAULT_CONFIG[key], dict) else value
    row.values = merged
    row.updated_at = uow.clock.now()
    await uow.session.flush()
    await uow.emit(CONFIG_CHANGED, None, {"keys": sorted(stored)})
    return await get_config(uow.session)


# --- ICP fit and target accounts ----------------------------------------------------------------


def _field_value(account: Account, name: str):
    if name.startswith("custom_fields."):
        return (account.custom_fields or {}).get(name.split(".", 1)[1])
    return getattr(account, name, None)


ICP_OPERATORS = {"gte": operator.ge, "lte": operator.le, "eq": operator.eq, "in": lambda value, wanted: value in wanted}


def icp_score(account: Account, rules: list[dict]) -> int:
    score = 0
    for rule in rules:
        value = _field_value(account, rule["field"])
        try:
            matched = value is not None and ICP_OPERATORS[rule["op"]](value, rule["value"])
        except TypeError:  # a custom field holding text where the rule compares numbers: no match
            matched = False
        if matched:
            score += rule["points"]
    return score


def tier_for(score: int, thresholds: dict) -> str | None:
    for tier in TIERS:
        if score >= thresholds[tier]:
            return tier
    return None


async def set_target(uow: UnitOfWork, account_id: uuid.UUID, data: dict) -> AbmTargetAccount:
    """Target the account (or update its targeting). The tier follows the ICP score unless one
    is given by hand."""
    account = await uow.session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise _fail("accountId", "no such account", "NOT_FOUND")
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
        raise _fail("accountId", "is not a target account", "NOT_TARGETED")
    await uow.emit(ACCOUNT_UNTARGETED, account_id)
    return account_id


# --- departments, committees, plans -------------------------------------------------------------


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
        raise _fail("name", "the account already has a department of this name", "DUPLICATE")
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


# --- engagement ---------------------------------------------------------------------------------


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


async def deal_stage(uow: UnitOfWork, account_id) -> str | None:
    """What deal plugins say of the account: "won" beats "open" beats nothing."""
    if not uow.runtime.plugins.has_hook("enishi_abm_deal_stage"):
        return None
    answers = [answer for _, answer in await uow.runtime.plugins.call("enishi_abm_deal_stage", uow=uow, account_id=account_id)]
    return "won" if "won" in answers else "open" if "open" in answers else None


async def recompute(uow: UnitOfWork, account_ids) -> int:
    """Recompute and store score and stage of the target accounts among `account_ids`; emit
    `abm.score_changed` / `abm.stage_changed` for what moved. Returns how many were scored."""
    targets = (
        (
            await uow.session.execute(
                select(AbmTargetAccount)
                .where(AbmTargetAccount.account_id.in_(list(account_ids)))
                .order_by(AbmTargetAccount.account_id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if not targets:
        return 0
    config = await get_config(uow.session)
    now = uow.clock.now()
    engagement = await compute_engagement(uow.session, {t.account_id: [t.account_id] for t in targets}, now, config)
    for target in targets:
        result = engagement[target.account_id]
        stage = stage_for(result, await deal_stage(uow, target.account_id), config)
        if result.score != target.score:
            await uow.emit(SCORE_CHANGED, target.account_id, {"from": target.score, "to": result.score})
        if stage != target.stage:
            await uow.emit(STAGE_CHANGED, target.account_id, {"from": target.stage, "to": stage})
        target.score, target.raw, target.stage, target.scored_at = result.score, result.raw, stage, now
    await uow.session.flush()
    return len(targets)


async def accounts_touched_by_activity(session, activity_id) -> set:
    direct = select(ActivityTarget.account_id).where(
        ActivityTarget.activity_id == activity_id, ActivityTarget.account_id.is_not(None)
    )
    via_contacts = (
        select(ContactAccount.account_id)
        .join(ActivityTarget, ActivityTarget.contact_id == ContactAccount.contact_id)
        .where(ActivityTarget.activity_id == activity_id)
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


# --- coverage, tasks, audiences -----------------------------------------------------------------


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
        raise _fail("accountId", "is not a target account", "NOT_TARGETED")
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


@dataclass
class AudienceMember:
    contact_id: uuid.UUID
    account_id: uuid.UUID
    role: str | None


async def export_audience(
    uow: UnitOfWork,
    *,
    tier=None,
    stage=None,
    owner_id=None,
    roles=None,
    destination: str,
    third_party: bool,
    purpose: str = "marketing",
) -> tuple[list[AudienceMember], int]:
    """The contacts of the matching target accounts. With a consent provider installed (the
    privacy plugin), contacts without consent for `purpose` are left out, and a provision to a
    third party is recorded."""
    check = Checker()
    destination = check.text({"destination": destination}, "destination", max_length=200, required=True)
    if roles and set(roles) - set(ROLES):
        check.fail("roles", f"must be among: {', '.join(ROLES)}", "INVALID_CHOICE")
    if stage is not None and stage not in STAGES:
        check.fail("stage", f"must be one of: {', '.join(STAGES)}", "INVALID_CHOICE")
    check.done()
    statement = (
        select(ContactAccount.contact_id, ContactAccount.account_id, AbmBuyingRole.role)
        .join(AbmTargetAccount, AbmTargetAccount.account_id == ContactAccount.account_id)
        .join(Contact, Contact.id == ContactAccount.contact_id)
        .outerjoin(
            AbmBuyingRole,
            (AbmBuyingRole.account_id == ContactAccount.account_id) & (AbmBuyingRole.contact_id == ContactAccount.contact_id),
        )
        .where(Contact.deleted_at.is_(None))
        .order_by(ContactAccount.account_id, ContactAccount.contact_id)
    )
    for column, value in ((AbmTargetAccount.tier, tier), (AbmTargetAccount.stage, stage), (AbmTargetAccount.owner_id, owner_id)):
        if value is not None:
            statement = statement.where(column == value)
    if roles:
        statement = statement.where(AbmBuyingRole.role.in_(roles))
    members = [AudienceMember(c, a, r) for c, a, r in (await uow.session.execute(statement)).all()]
    plugins = uow.runtime.plugins
    excluded = 0
    if members and plugins.implementations("enishi_consent_check"):
        contact_ids = sorted({m.contact_id for m in members})
        answers = [
            answer or {}
            for _, answer in await plugins.call("enishi_consent_check", uow=uow, contact_ids=contact_ids, purpose=purpose)
        ]
        allowed = {c for c in contact_ids if all(answer.get(c) is True for answer in answers)}
        excluded = len([m for m in members if m.contact_id not in allowed])
        members = [m for m in members if m.contact_id in allowed]
    if third_party and members:
        await plugins.call(
            "enishi_record_provision",
            uow=uow,
            contact_ids=sorted({m.contact_id for m in members}),
            recipient=destination,
            purpose=purpose,
        )
    await uow.emit(AUDIENCE_EXPORTED, None, {"contacts": len(members), "excluded": excluded, "third_party": third_party})
    return members, excluded

"""Account-based marketing rules: the engagement formula and ICP rules in force (`get_config`,
`set_config`), ICP fit and tiers. Engagement scoring and stages are in `scoring.py`, targeting in
`targets.py`, buying committees in `committees.py`, audience exports in `audiences.py`."""

from __future__ import annotations

import copy
import operator
from typing import Any

from enishi.plugin import Account, Checker, InputError, UnitOfWork, UserError

from .events import CONFIG_CHANGED
from .models import ROLES, TIERS, AbmConfig

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


def fail(field_name: str, message: str, code: str) -> InputError:
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


# --- ICP fit and tiers ----------------------------------------------------------------------------


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

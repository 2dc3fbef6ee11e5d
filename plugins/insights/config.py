"""The insights plugin's settings, all in the config file's `[extra]` table (README.md lists them
with their defaults). Read once per use: a bad value is an operator's error, refused with a
message that names the key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from enishi.plugin import EnishiError, Settings

SCORES = range(1, 6)


@dataclass(frozen=True)
class SegmentRule:
    """A named RFM segment: the customers whose scores fall in every range (inclusive)."""

    name: str
    r: tuple[int, int] = (1, 5)
    f: tuple[int, int] = (1, 5)
    m: tuple[int, int] = (1, 5)

    def matches(self, r: int, f: int, m: int) -> bool:
        return all(low <= score <= high for score, (low, high) in ((r, self.r), (f, self.f), (m, self.m)))


# The first rule that matches names the segment. Together they cover every R×F cell (monetary is
# left to configured rules), so every scored customer has one:
#   F→   1–2          3           4–5
#   R 5  New          Loyal       Champions
#   R 4  New          Loyal       Champions
#   R 3  Hibernating  Loyal       Loyal
#   R 2  Hibernating  At risk     Can't lose
#   R 1  Lost         At risk     Can't lose
DEFAULT_SEGMENTS = (
    SegmentRule("Champions", r=(4, 5), f=(4, 5)),
    SegmentRule("Loyal", r=(3, 5), f=(3, 5)),
    SegmentRule("New", r=(4, 5), f=(1, 2)),
    SegmentRule("Can't lose", r=(1, 2), f=(4, 5)),
    SegmentRule("At risk", r=(1, 2), f=(3, 3)),
    SegmentRule("Hibernating", r=(2, 3), f=(1, 2)),
    SegmentRule("Lost", r=(1, 1), f=(1, 2)),
)


class ConfigError(EnishiError):
    """A setting under `[extra]` that cannot be used: the operator's to fix, so the API answers
    with the key and `MISCONFIGURED` rather than an internal error."""

    code = "MISCONFIGURED"


def extra_setting(settings: Settings, key: str, default):
    """An `insights_<key>` value of the `[extra]` settings (what every insights setting reads)."""
    return settings.extra.get(f"insights_{key}", default)


def positive_int(settings: Settings, key: str, default: int) -> int:
    value = extra_setting(settings, key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"[extra] insights_{key} must be a positive whole number")
    return value


def rfm_window(settings: Settings) -> dt.timedelta:
    """`insights_rfm_window_days` (365): only purchases this recent count for RFM."""
    return dt.timedelta(days=positive_int(settings, "rfm_window_days", 365))


def currency(settings: Settings) -> str:
    """`insights_currency` ("JPY"): the currency RFM and the KPIs count; purchases in another are left out."""
    return str(extra_setting(settings, "currency", "JPY")).upper()


def active_window(settings: Settings) -> dt.timedelta:
    """`insights_active_days` (90): a customer is active while their last purchase is this recent."""
    return dt.timedelta(days=positive_int(settings, "active_days", 90))


def gross_margin_percent(settings: Settings) -> float | None:
    """`insights_gross_margin_percent` (unset): LTV is only computed once it is configured."""
    value = extra_setting(settings, "gross_margin_percent", None)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 100:
        raise ConfigError("[extra] insights_gross_margin_percent must be a number in (0, 100]")
    return float(value)


def acquisition_spend(settings: Settings) -> dict[str, int]:
    """`insights_acquisition_spend` ({}): marketing and sales spend to acquire customers, in minor
    units of `insights_currency`, by month (`{"2025-01": 500000, ...}`)."""
    value = extra_setting(settings, "acquisition_spend", {})
    if not isinstance(value, dict):
        raise ConfigError("[extra] insights_acquisition_spend must be a table of month = amount")
    for month, amount in value.items():
        try:
            dt.date.fromisoformat(f"{month}-01")
        except (TypeError, ValueError):
            raise ConfigError(f"[extra] insights_acquisition_spend: {month!r} is not a month (YYYY-MM)") from None
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise ConfigError(f"[extra] insights_acquisition_spend: {month} must be a whole amount, 0 or more")
    return value


def segment_rules(settings: Settings) -> tuple[SegmentRule, ...]:
    """`insights_rfm_segments`: a list of `{name, r = [low, high], f = [...], m = [...]}`, the
    first match naming the segment (ranges default to [1, 5]); DEFAULT_SEGMENTS when unset."""
    value = extra_setting(settings, "rfm_segments", None)
    if value is None:
        return DEFAULT_SEGMENTS
    rules = []
    for n, rule in enumerate(value if isinstance(value, list) else [None]):
        if not isinstance(rule, dict) or not isinstance(rule.get("name"), str) or not rule["name"].strip():
            raise ConfigError(f"[extra] insights_rfm_segments[{n}] needs a name")
        ranges = {}
        for axis in ("r", "f", "m"):
            bounds = rule.get(axis, (1, 5))
            low, high = bounds if isinstance(bounds, list | tuple) and len(bounds) == 2 else (0, 0)
            if not (low in SCORES and high in SCORES and low <= high):
                raise ConfigError(f"[extra] insights_rfm_segments[{n}].{axis} must be [low, high] within 1-5")
            ranges[axis] = (low, high)
        rules.append(SegmentRule(rule["name"].strip(), **ranges))
    return tuple(rules)


def survey_validity(settings: Settings) -> dt.timedelta:
    """`insights_survey_valid_days` (14): how long a survey link can be answered."""
    return dt.timedelta(days=positive_int(settings, "survey_valid_days", 14))


def survey_min_gap(settings: Settings) -> dt.timedelta:
    """`insights_survey_min_days_between` (30): a contact is sent at most one survey in this many days."""
    return dt.timedelta(days=positive_int(settings, "survey_min_days_between", 30))

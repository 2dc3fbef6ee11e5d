"""Money and Japanese consumption tax: currencies and their minor units, the tax per rate of a
qualified invoice (適格請求書: one rounding per rate per document), and the seller's registration
number (登録番号). Integers only: amounts are minor units, rates are percent."""

from __future__ import annotations

from dataclasses import dataclass

# ISO 4217 codes this plugin accepts, with their minor units (digits after the decimal point).
# Amounts are stored in minor units, so the digits matter only for display and input checks.
CURRENCY_DIGITS = {
    "JPY": 0,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CNY": 2,
    "KRW": 0,
    "TWD": 2,
    "HKD": 2,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "THB": 2,
    "VND": 0,
    "INR": 2,
    "KWD": 3,
}
DEFAULT_CURRENCY = "JPY"

# Consumption tax rates since October 2019 (消費税法 第29条, 軽減税率: 平成28年改正法附則 第34条).
TAX_RATES = {"standard": 10, "reduced": 8, "exempt": 0}
ROUNDINGS = ("floor", "half_up", "ceil")
DEFAULT_ROUNDING = "floor"  # 切り捨て, what most Japanese invoicing software does by default


def divide(numerator: int, denominator: int, rounding: str) -> int:
    """`numerator / denominator` rounded as asked, for non-negative amounts, in integers."""
    quotient, remainder = divmod(numerator, denominator)
    if rounding == "ceil" and remainder:
        return quotient + 1
    if rounding == "half_up" and remainder * 2 >= denominator:
        return quotient + 1
    return quotient


@dataclass(frozen=True)
class RateTotal:
    category: str
    rate_percent: int
    subtotal: int
    tax: int


def tax_per_rate(lines: list[tuple[str, int]], rounding: str) -> list[RateTotal]:
    """The subtotal and the tax of each rate present among `lines` (tax category, amount): the tax
    is computed on the rate's subtotal and rounded once, never line by line, as the qualified
    invoice system requires (消費税法施行令 第70条の10). Ordered standard, reduced, exempt."""
    subtotals: dict[str, int] = {}
    for category, amount in lines:
        subtotals[category] = subtotals.get(category, 0) + amount
    return [
        RateTotal(
            category, TAX_RATES[category], subtotals[category], divide(subtotals[category] * TAX_RATES[category], 100, rounding)
        )
        for category in TAX_RATES
        if category in subtotals
    ]


def registration_number_problem(value: str) -> str | None:
    """Why `value` is not a qualified invoice issuer's registration number, or None.

    The number is `T` and 13 digits. For a corporation those digits are its corporate number
    (法人番号), whose first digit is a check digit over the other twelve (法人番号の指定等に関する
    省令 第2条): 9 − (Σ Pn × Qn mod 9), Pn the n-th digit counted from the right of the twelve, Qn 1
    for odd n and 2 for even n. Sole proprietors get 13 digits that the NTA says only "do not
    overlap corporate numbers" (invoice-kohyo.nta.go.jp/about-toroku/); the check is applied to
    them too, an assumption the plugin README states."""
    if len(value) != 14 or value[0] != "T" or not value[1:].isascii() or not value[1:].isdigit():
        return "must be T followed by 13 digits"
    digits = [int(c) for c in value[2:]]
    total = sum(digit * (1 if n % 2 else 2) for n, digit in enumerate(reversed(digits), start=1))
    if int(value[1]) != 9 - total % 9:
        return "check digit does not match"
    return None

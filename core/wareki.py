"""The Japanese era calendar (和暦): the eras since Meiji and a date written in it. Shared by the
import (which reads 令和6年4月1日 in a cell) and the console (which may show dates this way, in
Japanese or, in its English pages, with the era's romanised name)."""

from __future__ import annotations

import datetime as dt

# Each era: (the Gregorian year before its first year, the day it began), newest first.
ERAS = {
    "令和": (2018, dt.date(2019, 5, 1)),
    "平成": (1988, dt.date(1989, 1, 8)),
    "昭和": (1925, dt.date(1926, 12, 25)),
    "大正": (1911, dt.date(1912, 7, 30)),
    "明治": (1867, dt.date(1868, 1, 25)),
}
# As English writes them (the Hepburn romanisation without long vowels, as government English does).
ROMANISED = {"令和": "Reiwa", "平成": "Heisei", "昭和": "Showa", "大正": "Taisho", "明治": "Meiji"}


def era_year(date: dt.date) -> tuple[str, int] | None:
    """The era of `date` and its year in it (1 for the first), or None before Meiji's calendar."""
    for era, (offset, began) in ERAS.items():  # newest era first
        if date >= began:
            return era, date.year - offset
    return None


def era_date(date: dt.date) -> str:
    """The date in the Japanese era calendar, as written in Japanese: 令和8年12月6日, 令和元年5月1日."""
    found = era_year(date)
    if found is None:
        return f"{date.year}年{date.month}月{date.day}日"  # before Meiji's calendar: the Gregorian year
    era, year = found
    return f"{era}{'元' if year == 1 else year}年{date.month}月{date.day}日"


def english_era_year(date: dt.date) -> str:
    """The year of `date` as an English page writes an era year, the Western one beside it for a
    reader who does not count in eras: "Reiwa 8 (2026)"; the Western year alone before Meiji's."""
    found = era_year(date)
    if found is None:
        return str(date.year)
    era, year = found
    return f"{ROMANISED[era]} {year} ({date.year})"

"""The console's languages: Japanese and English from gettext catalogs (locale/*/LC_MESSAGES/
messages.mo, compiled from the .po beside it with `pybabel compile`), the user's choice or else the
browser's Accept-Language; dates in the configured zone (Asia/Tokyo by default), in the Japanese era
calendar for a user who chose it: 令和8年12月6日 in Japanese, Reiwa 8 (2026) Dec 6 in English."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import get_date_format, get_datetime_format, get_time_format, parse_pattern
from babel.support import NullTranslations, Translations

from enishi.wareki import english_era_year, era_date

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
LOCALE_DIR = Path(__file__).with_name("locale")


def N_(message: str) -> str:
    """Marks a message for the catalogs (`make catalogs` finds it); the page translates it."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    # English is the catalogs' source language: its messages are the msgids themselves.
    if locale == "en":
        return NullTranslations()
    return Translations.load(str(LOCALE_DIR), [locale], domain="messages")


def from_accept_language(header: str) -> str:
    """The best of LOCALES for an Accept-Language header (RFC 9110 §12.5.4: by q, then order)."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().replace("_", "-")))
    preferred = [tag for _, _, tag in sorted(ranked)]
    return negotiate_locale(preferred, LOCALES, sep="-") or DEFAULT_LOCALE


class Formatter:
    """Dates and times for one locale in one zone, for the templates: Babel's medium formats, their
    patterns parsed once per page rather than once per value (format_datetime's cost on a queue of
    50 rows was a third of the page's time)."""

    def __init__(self, locale: str, zone: ZoneInfo, japanese_era: bool = False) -> None:
        self.locale, self.zone, self.japanese_era = Locale.parse(locale), zone, japanese_era
        self._date = get_date_format("medium", locale=self.locale)
        self._time = get_time_format("medium", locale=self.locale)
        self._joined = str(get_datetime_format("medium", locale=self.locale)).replace("'", "")
        self._month_day = parse_pattern("MMM d")

    def datetime(self, value: str | dt.datetime | None) -> str:
        if value is None:
            return "—"
        moment = (dt.datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(self.zone)
        time, date = self._time.apply(moment, self.locale), self._calendar_date(moment.date())
        return f"{self._joined.replace('{0}', time).replace('{1}', date)} ({self.zone.key})"

    def date(self, value: str | dt.date | None) -> str:
        if value is None:
            return "—"
        return self._calendar_date(dt.date.fromisoformat(value) if isinstance(value, str) else value)

    def country(self, code: str) -> str:
        """A country's name in this locale (ISO 3166 `JP` → 日本, Japan), or the code if it has none."""
        return self.locale.territories.get(code, code)

    def _calendar_date(self, date: dt.date) -> str:
        if not self.japanese_era:
            return self._date.apply(date, self.locale)
        if self.locale.language == "ja":
            return era_date(date)
        # Not 令和 in an English sentence: the era's name romanised, the Western year beside it.
        return f"{english_era_year(date)} {self._month_day.apply(date, self.locale)}"

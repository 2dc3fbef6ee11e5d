"""The console's languages: Japanese and English from gettext catalogs (locale/*/LC_MESSAGES/
messages.mo, compiled from the .po beside it with `pybabel compile`), the user's choice or else the
browser's Accept-Language; dates in the configured zone (Asia/Tokyo by default)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.support import NullTranslations, Translations

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
LOCALE_DIR = Path(__file__).with_name("locale")


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
    """Dates and times for one locale in one zone, for the templates."""

    def __init__(self, locale: str, zone: ZoneInfo) -> None:
        self.locale, self.zone = Locale.parse(locale), zone

    def datetime(self, value: str | dt.datetime | None) -> str:
        if value is None:
            return "—"
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(moment, "medium", tzinfo=self.zone, locale=self.locale) + f" ({self.zone.key})"

    def date(self, value: str | dt.date | None) -> str:
        if value is None:
            return "—"
        return format_date(dt.date.fromisoformat(value) if isinstance(value, str) else value, "medium", locale=self.locale)

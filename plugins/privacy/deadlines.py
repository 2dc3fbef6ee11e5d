"""Data-subject request deadlines: calendar-month counting, the business's time zone, the APPI's
working deadline. Pure date arithmetic, separate so intake, review and the API share one count."""

from __future__ import annotations

import calendar
import datetime as dt

from .models import OPEN_STATUSES, PrivacyRequest

DEFAULT_APPI_DAYS = 14


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day if it has no such day (31 Jan → 28 Feb),
    as EU Regulation 1182/71 counts periods in months."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def appi_days(settings) -> int:
    return int(settings.extra.get("privacy_appi_response_days", DEFAULT_APPI_DAYS))


def due_date(settings, regime: str, received_at: dt.datetime, extension_months: int = 0) -> dt.date:
    """GDPR: one calendar month from receipt (Art. 12(3)), plus an extension of up to two months.
    APPI requires answers "without delay"; the working deadline is configurable (14 days by default)."""
    received = received_at.astimezone(settings.zone).date()
    if regime == "gdpr":
        return add_months(received, 1 + extension_months)
    return received + dt.timedelta(days=appi_days(settings))


def end_of(settings, day: dt.date) -> dt.datetime:
    """The instant a due day ends, in the business's time zone."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=settings.zone).astimezone(dt.UTC)


def due_day(settings, due_at: dt.datetime) -> dt.date:
    """The business day a deadline ends (`end_of` backwards): the last day it may be met on."""
    return (due_at.astimezone(settings.zone) - dt.timedelta(microseconds=1)).date()


def local_due_date(settings, request: PrivacyRequest) -> dt.date:
    return due_day(settings, request.due_at)


def days_left(settings, request: PrivacyRequest, now: dt.datetime) -> int:
    return (local_due_date(settings, request) - now.astimezone(settings.zone).date()).days


def is_overdue(request: PrivacyRequest, now: dt.datetime) -> bool:
    return request.status in OPEN_STATUSES and now >= request.due_at

"""Calendar periods for chart series: days, ISO weeks (Monday to Sunday), months and quarters,
as dates in whatever zone the caller works in."""

from __future__ import annotations

import datetime as dt


def period_start(day: dt.date, period: str) -> dt.date:
    """The first day of the `period` (`"day"`, `"week"`, `"month"`, `"quarter"`) holding `day`."""
    if period == "day":
        return day
    if period == "week":  # ISO weeks, Monday to Sunday
        return day - dt.timedelta(days=day.weekday())
    month = day.month if period == "month" else 3 * ((day.month - 1) // 3) + 1
    return day.replace(month=month, day=1)


def next_period(start: dt.date, period: str) -> dt.date:
    """The first day of the period after the one starting on `start`."""
    if period in ("day", "week"):
        return start + dt.timedelta(days=1 if period == "day" else 7)
    months = 1 if period == "month" else 3
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1, day=1)


def label(start: dt.date, period: str) -> str:
    """2025-03-20 for a day, 2025-W12 for an ISO week, 2025-03 for a month, 2025-Q1 for a quarter."""
    if period == "day":
        return start.isoformat()
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start:%Y-%m}" if period == "month" else f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def period_spans(period: str, first: dt.date, last: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """(label, start, end) of each period covering [first, last], whole periods, none left out:
    a chart's zero-filled axis. The caller bounds the range, and so the number of periods."""
    result = []
    start = period_start(first, period)
    while start <= last:
        following = next_period(start, period)
        result.append((label(start, period), start, following - dt.timedelta(days=1)))
        start = following
    return result

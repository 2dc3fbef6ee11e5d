"""Business time: minutes between instants, and instants a number of business minutes later, on a
calendar of weekly hours and holidays in its own time zone (Japanese public holidays built in)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_rules

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS_AHEAD = 3660  # a target can never be further than ten years of calendar days away


@lru_cache(maxsize=32)
def _public_holidays(country: str, year: int) -> frozenset[dt.date]:
    return frozenset(holiday_rules.country_holidays(country, years=[year]))


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    weekly: dict = field(default_factory=dict)  # "mon" → [(time, time), …]
    holidays: frozenset = frozenset()
    holiday_country: str | None = None
    always_open: bool = False

    @classmethod
    def around_the_clock(cls) -> BusinessCalendar:
        return cls(zone=ZoneInfo("UTC"), always_open=True)

    @classmethod
    def from_row(cls, row) -> BusinessCalendar:
        weekly = {
            day: [(dt.time.fromisoformat(a), dt.time.fromisoformat(b)) for a, b in spans]
            for day, spans in (row.weekly_hours or {}).items()
        }
        return cls(
            zone=ZoneInfo(row.timezone),
            weekly=weekly,
            holidays=frozenset(dt.date.fromisoformat(d) for d in row.holidays or []),
            holiday_country=row.holiday_country,
        )

    def _is_holiday(self, day: dt.date) -> bool:
        return day in self.holidays or (
            self.holiday_country is not None and day in _public_holidays(self.holiday_country, day.year)
        )

    def _spans(self, start: dt.datetime, end: dt.datetime):
        """Business spans (UTC) that overlap [start, end)."""
        if self.always_open:
            yield start, end
            return
        day = start.astimezone(self.zone).date() - dt.timedelta(days=1)
        last = end.astimezone(self.zone).date()
        while day <= last:
            if not self._is_holiday(day):
                for opens, closes in self.weekly.get(DAYS[day.weekday()], []):
                    a = dt.datetime.combine(day, opens, tzinfo=self.zone).astimezone(dt.UTC)
                    b = dt.datetime.combine(day, closes, tzinfo=self.zone).astimezone(dt.UTC)
                    a, b = max(a, start), min(b, end)
                    if a < b:
                        yield a, b
            day += dt.timedelta(days=1)

    def minutes_between(self, start: dt.datetime, end: dt.datetime) -> float:
        if end <= start:
            return 0.0
        return sum((b - a).total_seconds() for a, b in self._spans(start, end)) / 60

    def add_minutes(self, start: dt.datetime, minutes: float) -> dt.datetime | None:
        """The instant `minutes` business minutes after `start`, or None when the calendar does not
        open for that long within ten years (holidays, or hours removed by hand: no due date)."""
        if minutes <= 0:
            return start
        if self.always_open:
            return start + dt.timedelta(minutes=minutes)
        remaining = minutes * 60
        window = dt.timedelta(days=14)
        cursor = start
        for _ in range(MAX_DAYS_AHEAD // 14):
            for a, b in self._spans(cursor, cursor + window):
                length = (b - a).total_seconds()
                if remaining <= length:
                    return a + dt.timedelta(seconds=remaining)
                remaining -= length
            cursor += window
        return None

"""Date triggers: a run for each record whose date is the trigger's `days_before` days after today
in the configured time zone (Asia/Tokyo by default), scanned by the `automation.workflow_dates`
job, once per occurrence however often it scans, a day missed while no worker ran caught up
within LOOKBACK.

What a trigger's `field` may name (`date_field`):

* a date column (`end_date`), or a datetime column (`created_at`: its date in the time zone);
* a key of a JSON column holding `YYYY-MM-DD` (`custom_fields.renewal_date` of an account: a key
  defined with type `date`; of a plugin's table, any key, values that are no date skipped);
* a contact's date custom field (`custom_fields.birth_date`), sealed with the person's other custom
  fields: found by its month-day index (`contacts_on_yearly_dates`), nobody decrypted, so only
  `yearly` (the year is not indexed).

`yearly` repeats every year on the date's month-day (29 February on 28 February in other years),
once per (version, record, year); otherwise once per (version, record, date)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enishi.plugin import Runtime, contacts_on_yearly_dates, yearly_month_days

from .workflow_engine import current_versions, start
from .workflow_records import DateField, Record, date_field, holds

LOOKBACK = dt.timedelta(days=7)
DATED = uuid.UUID("0c3f4b8e-5d7a-4e61-9c2b-7a1e5f9d3b20")  # namespace of a date trigger's occurrences


def _as_date(value) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _selection(runtime: Runtime, where: DateField, days: list[dt.date], yearly: bool) -> tuple[Any, list]:
    """The value to read of a record and the conditions choosing those that may be due on one of
    `days` (checked again on the value read)."""
    column = where.table.c[where.column]
    first, last = min(days), max(days)
    if where.kind == "datetime":  # from midnight of the first day to that after the last, in the time zone
        start, end = (dt.datetime.combine(day, dt.time(), runtime.settings.zone) for day in (first, last + dt.timedelta(days=1)))
        return column, [column >= start, column < end]
    if where.kind == "json":
        value = column[where.key].as_string()
        if yearly:
            return value, [func.substr(value, 6, 5).in_(yearly_month_days(days))]
        return value, [value >= first.isoformat(), value <= last.isoformat()]
    if yearly:
        month_days = yearly_month_days(days)
        same_day = (and_(extract("month", column) == int(md[:2]), extract("day", column) == int(md[3:])) for md in month_days)
        return column, [or_(*same_day)]
    return column, [column >= first, column <= last]


async def _dated(session: AsyncSession, runtime: Runtime, where: DateField, days: list[dt.date], yearly: bool):
    """(record id, the day among `days` it is due on) for every live record of the field."""
    if where.kind == "sealed":
        assert where.key is not None  # date_field makes a sealed DateField with the custom field's key
        return await contacts_on_yearly_dates(session, where.key, days)
    table, first, last = where.table, min(days), max(days)
    value, chosen = _selection(runtime, where, days, yearly)
    if "deleted_at" in table.c:
        chosen.append(table.c.deleted_at.is_(None))
    rows = (await session.execute(select(table.c.id, value).where(*chosen).order_by(table.c.id))).all()
    by_month_day = yearly_month_days(days)
    due = []
    for record_id, stored in rows:
        day = stored.astimezone(runtime.settings.zone).date() if where.kind == "datetime" else _as_date(stored)
        if day is None:
            continue  # a JSON value that is no date
        if yearly:
            day = by_month_day.get(day.strftime("%m-%d"))
        if day is not None and first <= day <= last:
            due.append((record_id, day))
    return due


async def start_dated_runs(runtime: Runtime) -> int:
    """Date triggers: a run for each record whose date is the trigger's `days_before` days after
    today in the configured time zone (yearly: whose month-day is that day's), once per
    occurrence however often this scans. Days in the last LOOKBACK count too: a worker down for a
    day catches up. Returns how many runs started."""
    today = runtime.clock.now().astimezone(runtime.settings.zone).date()
    started = 0
    for version in await current_versions(runtime, "date"):
        trigger = version.definition["trigger"]
        where = date_field(trigger)
        if where is None:
            continue  # its plugin was uninstalled
        last = today + dt.timedelta(days=trigger["days_before"])
        days = [last - dt.timedelta(days=back) for back in range(LOOKBACK.days)]
        yearly = trigger.get("yearly", False)
        async with runtime.read_session() as session:
            due = []
            for record_id, day in await _dated(session, runtime, where, days, yearly):
                # A sealed field's date stays out of the run's payload: with the record's id it is
                # the person's birthday in clear.
                payload = {"field": trigger["field"]} | (
                    {"year": day.year} if where.kind == "sealed" else {"date": day.isoformat()}
                )
                if await holds(trigger.get("conditions", []), payload, Record(session, trigger["entity"], record_id)):
                    due.append((record_id, day, payload))
        for record_id, day, payload in due:
            occurrence = uuid.uuid5(DATED, f"{record_id}:{day.year}" if yearly else f"{record_id}:{day.isoformat()}")
            started += await start(runtime, [(version, occurrence)], version.event_type, trigger["entity"], record_id, payload, 0)
    return started

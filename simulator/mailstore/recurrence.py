"""Expansion of a recurring event into occurrences, in the event's own time zone (wall clock stays put over DST).

Store format (protocol-neutral): recurrence = {"pattern": {"type": daily | weekly | absolute_monthly |
relative_monthly | absolute_yearly | relative_yearly, "interval": n, "days_of_week": ["Monday", ...],
"day_of_month": n, "month": 1..12, "week_index": First | Second | Third | Fourth | Last,
"first_day_of_week": "Sunday"}, "range": {"type": no_end | end_date | numbered, "start_date": "YYYY-MM-DD",
"end_date": "YYYY-MM-DD", "count": n}}.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .timezones import zone

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEK_INDEXES = ("First", "Second", "Third", "Fourth", "Last")
MAX_OCCURRENCES = 5000  # a no_end series is expanded only as far as a window asks, and never beyond this


@dataclass(slots=True)
class Occurrence:
    """One instance of a series: its original start, its actual start/end, and its overrides if it is an exception."""

    index: int  # 1-based position in the series, as EWS's InstanceIndex
    original_start: datetime
    start: datetime
    end: datetime
    overrides: dict[str, Any] | None


def _days_of_week(pattern: dict[str, Any]) -> list[int]:
    names = pattern.get("days_of_week") or []
    if isinstance(names, str):
        names = names.split()
    return sorted(WEEKDAYS.index(n) for n in names if n in WEEKDAYS)


def _nth_weekday(year: int, month: int, weekday: int, week_index: str) -> date:
    days = [d for d in range(1, calendar.monthrange(year, month)[1] + 1) if date(year, month, d).weekday() == weekday]
    return date(year, month, days[-1] if week_index == "Last" else days[WEEK_INDEXES.index(week_index)])


def _month_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def pattern_dates(recurrence: dict[str, Any], first: date) -> Iterator[date]:
    """Yield the dates of the series in order, starting at the range's start date (unbounded)."""
    pattern = recurrence["pattern"]
    kind, interval = pattern["type"], max(1, int(pattern.get("interval", 1)))
    start = date.fromisoformat(recurrence["range"].get("start_date") or first.isoformat())
    if kind == "daily":
        current = start
        while True:
            yield current
            current += timedelta(days=interval)
    elif kind == "weekly":
        weekdays = _days_of_week(pattern) or [start.weekday()]
        first_day = WEEKDAYS.index(pattern.get("first_day_of_week", "Sunday"))
        week_start = start - timedelta(days=(start.weekday() - first_day) % 7)
        while True:
            for offset in range(7):
                day = week_start + timedelta(days=offset)
                if day.weekday() in weekdays and day >= start:
                    yield day
            week_start += timedelta(weeks=interval)
    elif kind in ("absolute_monthly", "relative_monthly", "absolute_yearly", "relative_yearly"):
        yearly = kind.endswith("yearly")
        step = 12 * interval if yearly else interval
        month_index = start.year * 12 + (int(pattern.get("month", start.month)) if yearly else start.month) - 1
        if yearly and month_index < start.year * 12 + start.month - 1:
            month_index += 12
        while True:
            year, month = divmod(month_index, 12)
            if kind.startswith("absolute"):
                day = _month_day(year, month + 1, int(pattern.get("day_of_month", start.day)))
            else:
                weekday = (_days_of_week(pattern) or [start.weekday()])[0]
                day = _nth_weekday(year, month + 1, weekday, pattern.get("week_index", "First"))
            if day >= start:
                yield day
            month_index += step
    else:
        raise ValueError(f"unknown recurrence pattern {kind!r}")


def occurrences(fields: dict[str, Any], window_start: datetime, window_end: datetime) -> list[Occurrence]:
    """Return the occurrences of a series (exceptions applied, deleted ones left out) overlapping the window."""
    recurrence = fields["recurrence"]
    tz = zone(fields.get("start_tz"))
    master_start = datetime.fromisoformat(fields["start"].replace("Z", "+00:00"))
    duration = datetime.fromisoformat(fields["end"].replace("Z", "+00:00")) - master_start
    local_time: time = master_start.astimezone(tz).timetz().replace(tzinfo=None)
    rng = recurrence["range"]
    last_date = date.fromisoformat(rng["end_date"]) if rng.get("type") == "end_date" and rng.get("end_date") else None
    count = int(rng["count"]) if rng.get("type") == "numbered" else None
    deleted = set(fields.get("deleted_occurrences") or [])
    modified = fields.get("modified_occurrences") or {}
    found: list[Occurrence] = []
    for index, day in enumerate(pattern_dates(recurrence, master_start.astimezone(tz).date()), start=1):
        if (count is not None and index > count) or (last_date is not None and day > last_date) or index > MAX_OCCURRENCES:
            break
        original = datetime.combine(day, local_time, tzinfo=tz).astimezone(UTC)
        if original - duration > window_end and not modified:
            break
        key = original.strftime("%Y-%m-%dT%H:%M:%SZ")
        if key in deleted:
            continue
        overrides = modified.get(key)
        start, end = original, original + duration
        if overrides:
            start = datetime.fromisoformat(overrides.get("start", key).replace("Z", "+00:00"))
            end = datetime.fromisoformat(overrides["end"].replace("Z", "+00:00")) if "end" in overrides else start + duration
        if start < window_end and end > window_start:
            found.append(Occurrence(index, original, start, end, overrides))
        if original > window_end + timedelta(days=366):
            break
    return found


def series_bounds(fields: dict[str, Any]) -> tuple[Occurrence | None, Occurrence | None]:
    """Return the first and (for a bounded series) last occurrence, as EWS's FirstOccurrence/LastOccurrence."""
    rng = fields["recurrence"]["range"]
    start = datetime.fromisoformat(fields["start"].replace("Z", "+00:00"))
    bounded = rng.get("type") in ("end_date", "numbered")
    horizon = start + timedelta(days=366 * 30 if bounded else 366)
    found = occurrences(fields, start - timedelta(days=1), horizon)
    if not found:
        return None, None
    return found[0], (found[-1] if bounded else None)

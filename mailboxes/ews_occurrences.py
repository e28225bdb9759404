"""Which occurrences of an EWS series to delete or move so it carries an Event's exceptions.

EWS addresses one occurrence of a series by its ``InstanceIndex`` (``OccurrenceItemId``): its 1-based position in
the pattern, counted from the range's start date, deleted occurrences included. We derive it from the pattern we
wrote (``ews_mapping._recurrence_to_ews``), on dates in the event's own time zone, so a series over a DST change
keeps its indexes (the wall clock stays put, the UTC instant moves).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from exchangelib.errors import EWSError
from exchangelib.ewsdatetime import EWSTimeZone

from mailboxes.items import Event, OccurrenceChange, Recurrence, RecurrenceFrequency

MAX_INSTANCES = 5000  # as far as we look for an exception's occurrence; Outlook series are far shorter


@dataclass(frozen=True)
class OccurrenceWrites:
    """Instance indexes to delete, and (index, change) pairs to move, in pattern order."""

    deletes: tuple[int, ...] = ()
    moves: tuple[tuple[int, OccurrenceChange], ...] = ()
    unplaced: tuple[dt.date, ...] = ()  # exception dates that are no occurrence of the pattern (nothing to write)

    def __bool__(self) -> bool:
        return bool(self.deletes or self.moves)


def pattern_dates(rec: Recurrence) -> Iterator[dt.date]:
    """The series' dates in order from its start date (unbounded), as Exchange expands the pattern we send."""
    if rec.start_date is None:
        raise ValueError("A recurrence needs its start_date")
    start, interval = rec.start_date, max(1, rec.interval)
    if rec.frequency is RecurrenceFrequency.DAILY:
        for n in range(MAX_INSTANCES * interval):
            yield start + dt.timedelta(days=n * interval)
    elif rec.frequency is RecurrenceFrequency.WEEKLY:
        weekdays = sorted(set(rec.weekdays or (start.isoweekday(),)))
        # exchangelib sends FirstDayOfWeek=Monday; with an interval above 1 the week boundary decides which weeks count.
        week_start = start - dt.timedelta(days=start.isoweekday() - 1)
        for _week in range(MAX_INSTANCES):
            for weekday in weekdays:
                day = week_start + dt.timedelta(days=weekday - 1)
                if day >= start:
                    yield day
            week_start += dt.timedelta(weeks=interval)
    else:
        # Absolute monthly/yearly on the start date's day; a short month takes its last day, as Exchange does.
        # Yearly patterns carry no interval in EWS (AbsoluteYearlyPattern), so every year counts.
        step = interval if rec.frequency is RecurrenceFrequency.MONTHLY else 12
        month_index = start.year * 12 + start.month - 1
        for _month in range(MAX_INSTANCES):
            year, month0 = divmod(month_index, 12)
            yield dt.date(year, month0 + 1, min(start.day, calendar.monthrange(year, month0 + 1)[1]))
            month_index += step


def instance_index(rec: Recurrence, day: dt.date) -> int | None:
    """The 1-based index of the occurrence on ``day`` (a date in the event's zone), None if the series has none."""
    for index, current in enumerate(pattern_dates(rec), start=1):
        past_end = (rec.count is not None and index > rec.count) or (rec.end_date is not None and current > rec.end_date)
        if past_end or current > day or index > MAX_INSTANCES:
            return None
        if current == day:
            return index
    return None


def keeps_series(event: Event, stored: Event) -> bool:
    """Whether an update of ``stored`` (the mailbox's series) to ``event`` can leave its pattern unwritten, and so
    keep the exceptions it carries: same times, zone and pattern, and no exception the event lacks (writing the
    pattern is the only way to undo one, since Exchange drops a series' exceptions with a new pattern)."""
    if event.recurrence is None or stored.recurrence is None:
        return False
    same_times = (event.start, event.end, event.all_day) == (stored.start, stored.end, stored.all_day)
    same_times = same_times and _same_windows_zone(event.time_zone, stored.time_zone)
    exceptions = {"cancelled_occurrences": (), "changed_occurrences": ()}
    same_pattern = replace(event.recurrence, **exceptions) == replace(stored.recurrence, **exceptions)
    wanted = {(c.original_start, c.start, c.end) for c in event.recurrence.changed_occurrences}
    extra = set(stored.recurrence.cancelled_occurrences) - set(event.recurrence.cancelled_occurrences) or {
        (c.original_start, c.start, c.end) for c in stored.recurrence.changed_occurrences} - wanted
    return same_times and same_pattern and not extra


def _same_windows_zone(ours: str, theirs: str) -> bool:
    # Exchange keeps Windows zones: Europe/Amsterdam comes back as Europe/Berlin, both "W. Europe Standard Time".
    try:
        return EWSTimeZone(ours).ms_id == EWSTimeZone(theirs).ms_id
    except (EWSError, KeyError, ValueError):  # an unknown zone: the write refuses it as InvalidItem
        return False


def occurrence_writes(event: Event, current: Recurrence | None) -> OccurrenceWrites:
    """What to write so the mailbox's series carries ``event``'s exceptions, given those it carries (``current``).

    Occurrences already deleted, or already moved to the same times, are left alone. An exception the mailbox has
    and the event lacks is not undone here: the update wrote a new pattern then (see ``keeps_series``).
    """
    rec = event.recurrence
    if rec is None or not (rec.cancelled_occurrences or rec.changed_occurrences):
        return OccurrenceWrites()
    zone = ZoneInfo(event.time_zone)
    done_deletes = set(current.cancelled_occurrences) if current else set()
    done_moves = {(c.original_start, c.start, c.end) for c in current.changed_occurrences} if current else set()
    cancelled = set(rec.cancelled_occurrences)
    deletes: dict[int, dt.date] = {}
    moves: dict[int, OccurrenceChange] = {}
    unplaced: list[dt.date] = []
    for day in sorted(cancelled - done_deletes):
        index = instance_index(rec, day)
        if index is None:
            unplaced.append(day)
        else:
            deletes[index] = day
    for change in sorted(rec.changed_occurrences, key=lambda c: c.original_start):
        day = change.original_start.astimezone(zone).date()
        if day in cancelled or (change.original_start, change.start, change.end) in done_moves:
            continue
        index = instance_index(rec, day)
        if index is None:
            unplaced.append(day)
        else:
            moves[index] = change
    return OccurrenceWrites(
        deletes=tuple(sorted(deletes)), moves=tuple(sorted(moves.items())), unplaced=tuple(unplaced)
    )

"""A recurring series' exceptions over Graph, read from and written to the series' instances.

Graph's series master carries its pattern but not its exceptions. Reading: ``GET /events/{master}/instances`` over
the series' span gives its occurrences (``originalStart``) and exceptions (``type: exception``, moved); a date the
pattern produces without an instance is a cancelled occurrence. Writing: after the master, each cancelled
occurrence is a DELETE and each moved one a PATCH of its start and end, addressed by the instance's id.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from mailboxes.ews_occurrences import pattern_dates  # plain date arithmetic, shared until the relayout
from mailboxes.graph.events import READ_PREFER, _local, instant
from mailboxes.items import Event, OccurrenceChange, Recurrence

log = logging.getLogger(__name__)
DEFAULT_HORIZON_DAYS = 730  # an open-ended series is read this far from today
_MAX_OCCURRENCES = 2000


def series_dates(rec: Recurrence, until: dt.date) -> list[dt.date]:
    """The dates the pattern produces (its count or end date, else up to ``until``), in order."""
    dates: list[dt.date] = []
    last = rec.end_date or until
    for day in pattern_dates(rec):
        if (rec.count and len(dates) >= rec.count) or day > last or len(dates) >= _MAX_OCCURRENCES:
            break
        dates.append(day)
    return dates


def span(event: Event, until: dt.date) -> tuple[str, str, list[dt.date]]:
    """The window (UTC, ISO) covering every occurrence of the series, and its dates."""
    assert event.recurrence is not None
    dates = series_dates(event.recurrence, until)
    zone = ZoneInfo(event.time_zone)
    first = dt.datetime.combine(dates[0] if dates else event.start.date(), dt.time(0), tzinfo=zone)
    last = dt.datetime.combine(dates[-1] if dates else event.start.date(), dt.time(0), tzinfo=zone)
    length = event.end - event.start
    start = (first - dt.timedelta(days=2)).astimezone(dt.UTC)
    end = (last + length + dt.timedelta(days=3)).astimezone(dt.UTC)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ"), dates


Pager = Callable[[str, dict[str, str]], Iterator[dict[str, Any]]]


def instances(pages: Pager, master_path: str, event: Event, until: dt.date) -> tuple[list[dict[str, Any]], list[dt.date]]:
    start, end, dates = span(event, until)
    found = list(pages(f"{master_path}/instances", {"startDateTime": start, "endDateTime": end, "$top": "1000"}))
    return found, dates


def original_day(instance: dict[str, Any], zone: ZoneInfo) -> dt.date:
    return instant({"dateTime": instance["originalStart"], "timeZone": "UTC"}, zone).date()


def with_exceptions(event: Event, found: list[dict[str, Any]], dates: list[dt.date]) -> Event:
    """The series ``event`` with the cancelled and moved occurrences its instances show."""
    assert event.recurrence is not None
    zone = ZoneInfo(event.time_zone)
    present = {original_day(i, zone) for i in found if i.get("originalStart")}
    moved = []
    for item in found:
        if item.get("type") != "exception" or not item.get("originalStart"):
            continue
        original = instant({"dateTime": item["originalStart"], "timeZone": "UTC"}, zone)
        moved.append(OccurrenceChange(original_start=original, start=instant(item["start"], zone),
                                      end=instant(item["end"], zone)))
    cancelled = tuple(day for day in dates if day not in present)
    rec = replace(event.recurrence, cancelled_occurrences=cancelled,
                  changed_occurrences=tuple(sorted(moved, key=lambda c: c.original_start)))
    return replace(event, recurrence=rec)


def writes(event: Event, found: list[dict[str, Any]]) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(instance ids to delete, (instance id, PATCH body) to move) so the series carries ``event``'s exceptions."""
    assert event.recurrence is not None
    zone = ZoneInfo(event.time_zone)
    by_day = {original_day(i, zone): i for i in found if i.get("originalStart")}
    deletes = [by_day[day]["id"] for day in event.recurrence.cancelled_occurrences if day in by_day]
    moves = []
    for change in event.recurrence.changed_occurrences:
        target = by_day.get(change.original_start.astimezone(zone).date())
        if target is not None:
            moves.append((target["id"], {"start": _local(change.start, event.time_zone),
                                         "end": _local(change.end, event.time_zone)}))
    unplaced = sorted({day for day in event.recurrence.cancelled_occurrences if day not in by_day}
                      | {c.original_start.astimezone(zone).date() for c in event.recurrence.changed_occurrences
                         if c.original_start.astimezone(zone).date() not in by_day})  # fmt: skip
    if unplaced:  # kept in the CRM, absent in the mailbox: a CRM input the pattern never produces (as over EWS)
        log.warning("series: exceptions on days it has no occurrence, not written: %s",
                    ", ".join(day.isoformat() for day in unplaced))  # fmt: skip
    return deletes, moves


__all__ = ["READ_PREFER", "instances", "series_dates", "span", "with_exceptions", "writes"]

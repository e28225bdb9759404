"""Our ``Event`` ⇄ Graph's event JSON: times with their zone, all-day, location, body, attendees, recurrence.

Writes name the event's zone by its Windows id (what Exchange keeps; Graph accepts IANA names too, but not every
one); reads ask for UTC (``Prefer: outlook.timezone="UTC"``) and text bodies, and put times back in the event's
own zone (``originalStartTimeZone``), so an event reads the same as through the EWS backend.
The series' exceptions (cancelled and moved occurrences) are not in the master's JSON: ``series.py`` adds them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from mailboxes.items import Attendee, Event, Recurrence, RecurrenceFrequency

READ_PREFER = ('outlook.timezone="UTC"', 'outlook.body-content-type="text"')
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # ISO weekday - 1
_PATTERNS = {RecurrenceFrequency.DAILY: "daily", RecurrenceFrequency.WEEKLY: "weekly",
             RecurrenceFrequency.MONTHLY: "absoluteMonthly", RecurrenceFrequency.YEARLY: "absoluteYearly"}
_FREQUENCIES = {graph.lower(): ours for ours, graph in _PATTERNS.items()}


def windows_zone(zone: str) -> str:
    """The Windows id of an IANA zone (``UTC`` stays); ValueError for a zone nobody knows."""
    if zone in ("UTC", "Etc/UTC"):
        return "UTC"
    ZoneInfo(zone)  # raises for an unknown zone, before anything is sent
    found = IANA_TO_MS_TIMEZONE_MAP.get(zone)
    if found is None:
        raise ValueError(f"No Windows time zone for {zone!r}")
    return found[0]


def iana_zone(name: str | None) -> str:
    """The IANA zone of a Windows id or IANA name Graph answers with; UTC when it names nothing we know."""
    if not name or name in ("UTC", "tzone://Microsoft/Utc"):
        return "UTC"
    found = MS_TIMEZONE_TO_IANA_MAP.get(name)
    if found:
        return found
    try:
        return ZoneInfo(name).key
    except (ValueError, KeyError):
        return "UTC"


def _local(value: dt.datetime, zone: str) -> dict[str, str]:
    local = value.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": windows_zone(zone)}


def event_to_graph(event: Event) -> dict[str, Any]:
    """The event's Graph JSON, every member we map present (so a PATCH also clears what the event lacks)."""
    body: dict[str, Any] = {
        "subject": event.subject,
        "start": _local(event.start, event.time_zone),
        "end": _local(event.end, event.time_zone),
        "isAllDay": event.all_day,
        "location": {"displayName": event.location},
        "body": {"contentType": "text", "content": event.body},
        "attendees": [{"emailAddress": {"address": a.email, "name": a.name or a.email},
                       "type": "required" if a.required else "optional"} for a in event.attendees],
        "recurrence": recurrence_to_graph(event.recurrence, event.time_zone) if event.recurrence else None,
    }
    return body


def recurrence_to_graph(rec: Recurrence, zone: str) -> dict[str, Any]:
    if rec.start_date is None:
        raise ValueError("A recurrence needs its start_date")
    pattern: dict[str, Any] = {"type": _PATTERNS[rec.frequency], "interval": rec.interval, "firstDayOfWeek": "monday"}
    if rec.frequency is RecurrenceFrequency.WEEKLY:
        pattern["daysOfWeek"] = [_DAYS[d - 1] for d in (rec.weekdays or (rec.start_date.isoweekday(),))]
    elif rec.frequency is RecurrenceFrequency.MONTHLY:
        pattern["dayOfMonth"] = rec.start_date.day
    elif rec.frequency is RecurrenceFrequency.YEARLY:
        pattern.update(dayOfMonth=rec.start_date.day, month=rec.start_date.month)
    rng: dict[str, Any] = {"startDate": rec.start_date.isoformat(), "recurrenceTimeZone": windows_zone(zone)}
    if rec.count:
        rng.update(type="numbered", numberOfOccurrences=rec.count)
    elif rec.end_date:
        rng.update(type="endDate", endDate=rec.end_date.isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


def instant(value: dict[str, Any], zone: ZoneInfo) -> dt.datetime:
    """A dateTimeTimeZone answered in UTC (our reads ask for it) as an aware datetime in ``zone``."""
    text = value["dateTime"].rstrip("Z")
    naive = dt.datetime.fromisoformat(text[:26] if "." in text else text)
    source = iana_zone(value.get("timeZone"))
    return naive.replace(tzinfo=ZoneInfo(source)).astimezone(zone)


def event_from_graph(body: dict[str, Any]) -> Event:
    """Our event from Graph's JSON (read with ``READ_PREFER``), without the series' exceptions."""
    zone_name = iana_zone(body.get("originalStartTimeZone"))
    zone = ZoneInfo(zone_name)
    if body.get("isAllDay"):
        # All-day events are answered midnight to midnight in the zone asked for: the dates are the event's.
        start = dt.datetime.combine(dt.date.fromisoformat(body["start"]["dateTime"][:10]), dt.time(0), tzinfo=zone)
        end = dt.datetime.combine(dt.date.fromisoformat(body["end"]["dateTime"][:10]), dt.time(0), tzinfo=zone)
    else:
        start, end = instant(body["start"], zone), instant(body["end"], zone)
    attendees = tuple(
        Attendee(email=a["emailAddress"]["address"], name=_name(a["emailAddress"]), required=a.get("type") != "optional")
        for a in body.get("attendees") or () if (a.get("emailAddress") or {}).get("address")
    )
    return Event(
        subject=body.get("subject") or "",
        start=start,
        end=end,
        time_zone=zone_name,
        all_day=bool(body.get("isAllDay")),
        location=((body.get("location") or {}).get("displayName")) or "",
        body=((body.get("body") or {}).get("content")) or "",
        attendees=attendees,
        recurrence=recurrence_from_graph(body["recurrence"]) if body.get("recurrence") else None,
        cancelled=bool(body.get("isCancelled")),
    )


def _name(address: dict[str, Any]) -> str:
    name = address.get("name") or ""
    return "" if name == address.get("address") else name  # Graph fills a missing name with the address


def recurrence_from_graph(value: dict[str, Any]) -> Recurrence | None:
    pattern, rng = value.get("pattern") or {}, value.get("range") or {}
    frequency = _FREQUENCIES.get(str(pattern.get("type", "")).lower())
    if frequency is None:
        return None  # relative monthly/yearly patterns: not a recurrence the CRM models
    kind = str(rng.get("type", "noEnd")).lower()
    weekdays = tuple(sorted(_DAYS.index(d.lower()) + 1 for d in pattern.get("daysOfWeek") or ()))
    return Recurrence(
        frequency=frequency,
        interval=int(pattern.get("interval") or 1),
        weekdays=weekdays if frequency is RecurrenceFrequency.WEEKLY else (),
        start_date=dt.date.fromisoformat(rng["startDate"]) if rng.get("startDate") else None,
        end_date=dt.date.fromisoformat(rng["endDate"]) if kind == "enddate" and rng.get("endDate") else None,
        count=int(rng["numberOfOccurrences"]) if kind == "numbered" else None,
    )

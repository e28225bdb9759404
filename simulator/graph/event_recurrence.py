"""Graph's patternedRecurrence <-> the store's recurrence dict (see mailstore/recurrence.py for the store format).

Graph writes enums in camelCase and accepts any case; EWS's DaysOfWeek shorthands (Day, Weekday, WeekendDay)
that the store may hold are spelled out, since Graph's dayOfWeek has no such values.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from simulator.mailstore.recurrence import WEEK_INDEXES, WEEKDAYS

from .wire import GraphError

PATTERNS = {"daily": "daily", "weekly": "weekly", "absolute_monthly": "absoluteMonthly",
            "relative_monthly": "relativeMonthly", "absolute_yearly": "absoluteYearly",
            "relative_yearly": "relativeYearly"}
RANGES = {"no_end": "noEnd", "end_date": "endDate", "numbered": "numbered"}
_STORE_PATTERNS = {graph.lower(): store for store, graph in PATTERNS.items()}
_STORE_RANGES = {graph.lower(): store for store, graph in RANGES.items()}
_SHORTHANDS = {"Day": WEEKDAYS, "Weekday": WEEKDAYS[:5], "WeekendDay": WEEKDAYS[5:]}
_NO_DATE = "0001-01-01"  # what Graph writes for a range bound that does not apply


def _bad(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", f"Invalid recurrence: {message}")


def _graph_days(days: Any) -> list[str]:
    names = days.split() if isinstance(days, str) else list(days or [])
    spelled: list[str] = []
    for name in names:
        for day in _SHORTHANDS.get(name, (name,)):
            if day.lower() not in spelled:
                spelled.append(day.lower())
    return spelled


def to_graph(recurrence: dict[str, Any], zone: str) -> dict[str, Any]:
    """Return the patternedRecurrence of a stored series, every member present as Graph writes it."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    kind = pattern["type"]
    relative = kind.startswith("relative")
    days = _graph_days(pattern.get("days_of_week")) if kind in ("weekly", "relative_monthly", "relative_yearly") else []
    return {
        "pattern": {
            "type": PATTERNS[kind],
            "interval": int(pattern.get("interval", 1)),
            "month": int(pattern.get("month", 0)) if kind.endswith("yearly") else 0,
            "dayOfMonth": int(pattern.get("day_of_month", 0)) if kind.startswith("absolute") else 0,
            "daysOfWeek": days,
            "firstDayOfWeek": str(pattern.get("first_day_of_week", "Sunday")).lower(),
            "index": str(pattern.get("week_index", "First")).lower() if relative else "first",
        },
        "range": {
            "type": RANGES[rng.get("type", "no_end")],
            "startDate": rng["start_date"],
            "endDate": rng["end_date"] if rng.get("type") == "end_date" else _NO_DATE,
            "recurrenceTimeZone": zone,
            "numberOfOccurrences": int(rng["count"]) if rng.get("type") == "numbered" else 0,
        },
    }


def _enum(value: Any, allowed: dict[str, str], what: str) -> str:
    found = allowed.get(str(value or "").lower())
    if found is None:
        raise _bad(f"'{value}' is not a valid {what}.")
    return found


def _date(value: Any, what: str) -> str:
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise _bad(f"'{value}' is not a valid {what}.") from None


def _positive(value: Any, what: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _bad(f"'{value}' is not a valid {what}.")
    return value


def from_graph(value: Any, first_day: date) -> dict[str, Any]:
    """Return the store's recurrence for a patternedRecurrence; raise a 400 for what Exchange would refuse."""
    if not isinstance(value, dict) or not isinstance(value.get("pattern"), dict) or not isinstance(value.get("range"), dict):
        raise _bad("a recurrence needs a pattern and a range.")
    given, given_range = value["pattern"], value["range"]
    kind = _enum(given.get("type"), _STORE_PATTERNS, "recurrence pattern type")
    pattern: dict[str, Any] = {"type": kind, "interval": _positive(given.get("interval"), "interval", 1)}
    day_names = {day.lower(): day for day in WEEKDAYS}
    if kind in ("weekly", "relative_monthly", "relative_yearly"):
        days = [_enum(day, day_names, "day of the week") for day in given.get("daysOfWeek") or []]
        if not days:
            raise _bad(f"a {PATTERNS[kind]} pattern needs daysOfWeek.")
        pattern["days_of_week"] = days
    if kind == "weekly":
        pattern["first_day_of_week"] = _enum(given.get("firstDayOfWeek") or "sunday", day_names, "day of the week")
    if kind.startswith("relative"):
        pattern["week_index"] = _enum(given.get("index") or "first", {i.lower(): i for i in WEEK_INDEXES}, "week index")
    if kind.startswith("absolute"):
        day_of_month = given.get("dayOfMonth")
        if not isinstance(day_of_month, int) or not 1 <= day_of_month <= 31:
            raise _bad(f"a {PATTERNS[kind]} pattern needs a dayOfMonth from 1 to 31.")
        pattern["day_of_month"] = day_of_month
    if kind.endswith("yearly"):
        month = given.get("month")
        if not isinstance(month, int) or not 1 <= month <= 12:
            raise _bad(f"a {PATTERNS[kind]} pattern needs a month from 1 to 12.")
        pattern["month"] = month
    range_kind = _enum(given_range.get("type"), _STORE_RANGES, "recurrence range type")
    rng: dict[str, Any] = {"type": range_kind,
                           "start_date": _date(given_range.get("startDate") or first_day.isoformat(), "startDate")}
    if range_kind == "end_date":
        rng["end_date"] = _date(given_range.get("endDate"), "endDate")
        if rng["end_date"] < rng["start_date"]:
            raise _bad("the endDate is before the startDate.")
    elif range_kind == "numbered":
        rng["count"] = _positive(given_range.get("numberOfOccurrences") or 0, "numberOfOccurrences", 1)
    return {"pattern": pattern, "range": rng}

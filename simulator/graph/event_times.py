"""Graph's time values for events: dateTimeTimeZone, time zone names (Windows and IANA), calendarView windows.

The store keeps instants in UTC and the event's own zone as a Windows id (what EWS renders). Graph accepts a
Windows id or an IANA name wherever it takes a zone (``start.timeZone``, ``Prefer: outlook.timezone``); an event's
zone is stored as the Windows id of the zones the store can expand recurrences in (``mailstore.timezones``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator.mailstore.timezones import WINDOWS_ZONES

from .wire import GraphError, Prefer

# IANA names -> the Windows id of the same zone, for the Windows ids the store knows (CLDR windowsZones, abridged:
# the zone each Windows id maps to, plus the common other IANA names of those zones).
_IANA_ALIASES = {
    "Etc/UTC": "UTC", "Etc/GMT": "UTC", "GMT": "UTC", "Etc/Universal": "UTC", "Universal": "UTC", "Zulu": "UTC",
    "Europe/Dublin": "GMT Standard Time", "Europe/Lisbon": "GMT Standard Time",
    "Europe/Amsterdam": "W. Europe Standard Time", "Europe/Rome": "W. Europe Standard Time",
    "Europe/Vienna": "W. Europe Standard Time", "Europe/Stockholm": "W. Europe Standard Time",
    "Europe/Zurich": "W. Europe Standard Time", "Europe/Oslo": "W. Europe Standard Time",
    "Europe/Luxembourg": "W. Europe Standard Time", "Europe/Monaco": "W. Europe Standard Time",
    "Europe/Brussels": "Romance Standard Time", "Europe/Madrid": "Romance Standard Time",
    "Europe/Copenhagen": "Romance Standard Time",
    "Europe/Prague": "Central Europe Standard Time", "Europe/Bratislava": "Central Europe Standard Time",
    "Europe/Ljubljana": "Central Europe Standard Time", "Europe/Belgrade": "Central Europe Standard Time",
    "Europe/Zagreb": "Central European Standard Time", "Europe/Sarajevo": "Central European Standard Time",
    "Europe/Kyiv": "FLE Standard Time", "Europe/Helsinki": "FLE Standard Time", "Europe/Riga": "FLE Standard Time",
    "Europe/Tallinn": "FLE Standard Time", "Europe/Vilnius": "FLE Standard Time", "Europe/Sofia": "FLE Standard Time",
    "Europe/Athens": "GTB Standard Time",
    "America/Detroit": "Eastern Standard Time", "America/Toronto": "Eastern Standard Time",
    "US/Eastern": "Eastern Standard Time", "US/Central": "Central Standard Time",
    "America/Winnipeg": "Central Standard Time", "US/Mountain": "Mountain Standard Time",
    "America/Edmonton": "Mountain Standard Time", "US/Pacific": "Pacific Standard Time",
    "America/Vancouver": "Pacific Standard Time", "US/Alaska": "Alaskan Standard Time",
    "US/Hawaii": "Hawaiian Standard Time", "Asia/Calcutta": "India Standard Time",
    "Asia/Hong_Kong": "China Standard Time", "Australia/Melbourne": "AUS Eastern Standard Time",
    "Australia/Canberra": "AUS Eastern Standard Time",
}
_WINDOWS_BY_NAME = {name.lower(): name for name in WINDOWS_ZONES}
_WINDOWS_OF_IANA = {iana.lower(): windows for windows, iana in WINDOWS_ZONES.items()}
_WINDOWS_OF_IANA.update({iana.lower(): windows for iana, windows in _IANA_ALIASES.items()})
GRAPH_DATETIME = "%Y-%m-%dT%H:%M:%S.0000000"
_UNENCODED_PLUS = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+) (\d\d:?\d\d)$")
# Graph's message for a calendarView without its window (as public reports quote it).
MISSING_WINDOW = ("This request requires a time window specified by the query string parameters StartDateTime and "
                  "EndDateTime.")


def unsupported_zone(name: str) -> GraphError:
    """Graph's answer for a zone name it does not know (code and wording as public reports of Graph errors quote
    them; the reference notes have no captured body for it)."""
    return GraphError(400, "TimeZoneNotSupportedException",
                      f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.")


def windows_zone(name: str | None) -> str:
    """Return the Windows id the store keeps for a zone given by Windows id or IANA name; raise for unknown ones."""
    key = (name or "UTC").strip().lower()
    found = _WINDOWS_BY_NAME.get(key) or _WINDOWS_OF_IANA.get(key)
    if found is None:
        raise unsupported_zone(name or "")
    return found


def display_zone(name: str | None) -> ZoneInfo | None:
    """Return the zone to show times in for a Windows id or any IANA name, or None when neither knows it."""
    if not name:
        return ZoneInfo("UTC")
    windows = _WINDOWS_BY_NAME.get(name.strip().lower())
    if windows is not None:
        return ZoneInfo(WINDOWS_ZONES[windows])
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def output_zone(prefer: Prefer) -> tuple[str, ZoneInfo]:
    """Return (label, zone) for returned times: ``Prefer: outlook.timezone`` when it names a zone, else UTC.

    A preference is advisory (RFC 7240): an unknown zone name gives UTC times, and no Preference-Applied for it.
    """
    name = prefer.time_zone
    tz = display_zone(name) if name else None
    if name and tz is not None:
        applied = f'outlook.timezone="{name}"'
        if applied not in prefer.applied:
            prefer.applied.append(applied)
        return name, tz
    return "UTC", ZoneInfo("UTC")


def parse_instant(text: str) -> datetime:
    """Parse a Graph datetime ("2017-04-15T12:00:00", fractions of any length, optional offset) as naive or aware."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def from_date_time_zone(value: object, field: str) -> tuple[datetime, str]:
    """Return (UTC instant, Windows zone id) for a dateTimeTimeZone object; raise a 400 for a malformed one."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphError(400, "ErrorInvalidRequest", f"The '{field}' property needs a dateTime and a timeZone.")
    windows = windows_zone(value.get("timeZone"))
    try:
        local = parse_instant(value["dateTime"])
    except ValueError:
        raise GraphError(400, "ErrorInvalidRequest",
                         f"Cannot convert the literal '{value['dateTime']}' to the expected type 'Edm.DateTime'.") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(WINDOWS_ZONES[windows]))
    return local.astimezone(UTC).replace(microsecond=0), windows


def to_date_time_zone(instant: datetime, label: str, tz: ZoneInfo) -> dict[str, str]:
    """Return a dateTimeTimeZone for an instant shown in a zone (7 fractional digits, as Graph writes them)."""
    local = instant.astimezone(tz).replace(tzinfo=None, microsecond=0)
    return {"dateTime": local.isoformat() + ".0000000", "timeZone": label}


def all_day_date_time_zone(day: date, label: str) -> dict[str, str]:
    """An all-day boundary: midnight of that date whatever zone is asked for (all-day events float)."""
    return {"dateTime": datetime.combine(day, time()).strftime(GRAPH_DATETIME), "timeZone": label}


def local_date(instant: datetime, windows: str | None) -> date:
    """The calendar date of an instant in the event's own zone (all-day events start at its midnight)."""
    return instant.astimezone(ZoneInfo(WINDOWS_ZONES.get(windows or "UTC", "UTC"))).date()


def is_midnight(instant: datetime, windows: str) -> bool:
    """Whether an instant is midnight in a (stored, Windows) zone: where all-day events begin and end."""
    return instant.astimezone(ZoneInfo(WINDOWS_ZONES.get(windows, "UTC"))).time() == time()


def window(query: dict[str, str]) -> tuple[datetime, datetime]:
    """Return the (start, end) of a calendarView window from startDateTime/endDateTime (any case; no offset = UTC)."""
    lowered = {key.lower(): value for key, value in query.items()}
    start, end = lowered.get("startdatetime"), lowered.get("enddatetime")
    if not start or not end:
        raise GraphError(400, "ErrorInvalidParameter", MISSING_WINDOW)
    bounds = []
    for text in (start, end):
        # An offset sent unencoded ("...T19:00:00+01:00") reaches us with its "+" decoded as a space.
        text = _UNENCODED_PLUS.sub(r"\1+\2", text.strip())
        try:
            value = parse_instant(text)
        except ValueError:
            raise GraphError(400, "ErrorInvalidParameter",
                             f"The value '{text}' of parameter 'StartDateTime/EndDateTime' is invalid.") from None
        bounds.append((value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC))
    if bounds[1] <= bounds[0]:
        raise GraphError(400, "ErrorInvalidParameter", "The EndDateTime must be later than the StartDateTime.")
    return bounds[0], bounds[1]

"""Canonical forms of contact and event fields: what two copies must agree on to count as the same content.

A round trip through Exchange (or Graph) reorders addresses, lower-cases nothing, renames time zones to
Windows names and back, drops microseconds and fills in a display name; none of that may look like an edit.
The canonical form is only ever hashed and compared; the values written to either side stay as the user typed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from enum import Enum, StrEnum
from functools import lru_cache
from typing import Any

from tzlocal.windows_tz import tz_win, win_tz


class ItemKind(StrEnum):
    CONTACT = "contact"
    EVENT = "event"


class ContentError(ValueError):
    """Input that cannot be content (a naive datetime, an unknown zone, an unknown field): a permanent error."""


# The fields of each kind, in a fixed order, with the value an absent field stands for. They mirror the
# gateway's plain items (mailboxes.items.Contact / Event as dataclasses.asdict gives them), so the wiring
# between the two is a dict conversion, not a mapping table.
CONTACT_FIELDS: dict[str, Any] = {
    "given_name": "",
    "surname": "",
    "display_name": "",
    "emails": (),
    "phones": {},
    "addresses": {},
    "company": "",
    "job_title": "",
    "notes": "",
    "birthday": None,
}
EVENT_FIELDS: dict[str, Any] = {
    "subject": "",
    "start": None,
    "end": None,
    "time_zone": "UTC",
    "all_day": False,
    "location": "",
    "body": "",
    "attendees": (),
    "recurrence": None,
    "cancelled": False,
}
FIELDS: dict[ItemKind, dict[str, Any]] = {ItemKind.CONTACT: CONTACT_FIELDS, ItemKind.EVENT: EVENT_FIELDS}

_WHITESPACE = re.compile(r"\s+")
_PHONE_NOISE = re.compile(r"[^0-9+x#*]")


def text(value: object) -> str:
    """One-line text: Unicode NFC, whitespace runs collapsed, ends trimmed (servers trim; users add spaces)."""
    if value is None:
        return ""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", str(value))).strip()


def multiline_text(value: object) -> str:
    """Notes and bodies: line endings unified, trailing spaces per line and blank ends dropped."""
    if value is None:
        return ""
    raw = unicodedata.normalize("NFC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in raw.split("\n")).strip("\n")


def email(value: object) -> str:
    """Addresses compare case-insensitively (no provider we meet has case-sensitive local parts)."""
    return text(value).lower()


def phone(value: object) -> str:
    """Digits, a leading +, extension and dial marks; spaces, dashes, dots and brackets are formatting."""
    return _PHONE_NOISE.sub("", text(value).lower().replace("ext", "x"))


@lru_cache(maxsize=512)
def canonical_zone(name: str) -> str:
    """One IANA name per Windows zone: Exchange keeps Windows zones, so Europe/Amsterdam returns as Europe/Berlin."""
    cleaned = text(name)
    if cleaned in win_tz:
        return win_tz[cleaned]
    if cleaned in tz_win:
        return win_tz.get(tz_win[cleaned], cleaned)
    try:
        zoneinfo.ZoneInfo(cleaned)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ContentError(f"unknown time zone {name!r}") from exc
    return cleaned


def instant(value: object, field: str) -> str | None:
    """A moment as UTC ISO text to the second (Exchange drops sub-seconds); naive datetimes are refused."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ContentError(f"{field}: expected a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ContentError(f"{field}: naive datetime {value.isoformat()} (time zone unknown)")
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def calendar_date(value: object, zone: str, field: str) -> str | None:
    """A day: a date as is, a datetime as the day it falls on in the event's own zone (all-day midnights)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ContentError(f"{field}: naive datetime {value.isoformat()} (time zone unknown)")
        return value.astimezone(zoneinfo.ZoneInfo(zone)).date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise ContentError(f"{field}: expected a date, got {type(value).__name__}")


def _mapping_items(value: object, field: str) -> Iterable[tuple[object, object]]:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return value.items()
    if isinstance(value, Iterable) and not isinstance(value, str):
        return value  # already (key, value) pairs
    raise ContentError(f"{field}: expected a mapping of type to value")


def _key(value: object) -> str:
    return text(value.value if isinstance(value, Enum) else value).lower()


def _address(value: object) -> list[str]:
    parts = value if isinstance(value, Mapping) else getattr(value, "__dict__", {})
    return [
        multiline_text(parts.get(name, ""))
        for name in ("street", "city", "state", "postal_code", "country")
    ]


def _default_display_name(values: Mapping[str, Any]) -> str:
    return text(f"{text(values.get('given_name'))} {text(values.get('surname'))}")


def normalize_contact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical contact: emails and phones as sorted sets, empty slots dropped, a derived display name blanked."""
    display = text(values.get("display_name"))
    if display.casefold() == _default_display_name(values).casefold():
        display = ""  # the server fills the display name in from the names; that is not an edit
    phones = sorted({(_key(kind), phone(number)) for kind, number in _mapping_items(values.get("phones"), "phones")})
    addresses = sorted(
        (_key(kind), parts)
        for kind, address in _mapping_items(values.get("addresses"), "addresses")
        if any(parts := _address(address))
    )
    birthday = values.get("birthday")
    if isinstance(birthday, dt.datetime):
        birthday = birthday.date()
    return {
        "given_name": text(values.get("given_name")),
        "surname": text(values.get("surname")),
        "display_name": display,
        "emails": sorted({email(address) for address in values.get("emails") or () if email(address)}),
        "phones": [[kind, number] for kind, number in phones if number],
        "addresses": [[kind, parts] for kind, parts in addresses],
        "company": text(values.get("company")),
        "job_title": text(values.get("job_title")),
        "notes": multiline_text(values.get("notes")),
        "birthday": calendar_date(birthday, "UTC", "birthday"),
    }


def _attr(value: object, name: str, default: object = None) -> object:
    if isinstance(value, Mapping):
        return value.get(name, default)
    return getattr(value, name, default)


def _recurrence(value: object, when: Callable[[object, str], str | None]) -> dict[str, Any] | None:
    """A pattern with its exceptions; weekday and exception order carries no meaning."""
    if value is None:
        return None
    frequency = _attr(value, "frequency")
    changed = [
        [when(_attr(change, "original_start"), "original_start"), when(_attr(change, "start"), "start"),
         when(_attr(change, "end"), "end")]
        for change in _attr(value, "changed_occurrences", ()) or ()
    ]
    return {
        "frequency": _key(frequency),
        "interval": int(_attr(value, "interval", 1) or 1),
        "weekdays": sorted({int(day) for day in _attr(value, "weekdays", ()) or ()}),
        "start_date": calendar_date(_attr(value, "start_date"), "UTC", "recurrence.start_date"),
        "end_date": calendar_date(_attr(value, "end_date"), "UTC", "recurrence.end_date"),
        "count": _attr(value, "count"),
        "cancelled_occurrences": sorted(
            {calendar_date(day, "UTC", "recurrence.cancelled_occurrences") for day in
             _attr(value, "cancelled_occurrences", ()) or ()}
        ),
        "changed_occurrences": sorted(changed, key=lambda change: change[0] or ""),
    }


def normalize_event(values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical event: UTC instants (or days, if all-day), one name per zone, attendees as a sorted set."""
    zone = canonical_zone(str(values.get("time_zone") or "UTC"))
    all_day = bool(values.get("all_day"))

    def when(value: object, field: str) -> str | None:
        return calendar_date(value, zone, field) if all_day else instant(value, field)

    start, end = when(values.get("start"), "start"), when(values.get("end"), "end")
    attendees = sorted(
        {(email(_attr(person, "email", person)), bool(_attr(person, "required", True)))
         for person in values.get("attendees") or ()}
    )
    return {
        "subject": text(values.get("subject")),
        "start": start,
        "end": end,
        "time_zone": zone,
        "all_day": all_day,
        "location": text(values.get("location")),
        "body": multiline_text(values.get("body")),
        # Display names of attendees are left out: the server resolves them from its directory.
        "attendees": [[address, required] for address, required in attendees if address],
        "recurrence": _recurrence(values.get("recurrence"), when),
        "cancelled": bool(values.get("cancelled")),
    }


NORMALIZERS: dict[ItemKind, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    ItemKind.CONTACT: normalize_contact,
    ItemKind.EVENT: normalize_event,
}

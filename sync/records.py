"""Between the three shapes of one item: CRM rows (sync.models), the core's Content values, gateway items.

Content values are what ``dataclasses.asdict`` gives for a gateway item (sync.normalize.FIELDS), so a mailbox
item becomes content by one call; rows keep JSON in their JSONFields, turned back into dates and aware
datetimes here, since the canonical form refuses strings where a date or an instant belongs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from mailboxes import items
from mailboxes.items import Collection
from sync.content import Content
from sync.models import Contact, Event, SyncedRecord
from sync.normalize import ItemKind

KIND_OF = {Collection.CONTACTS: ItemKind.CONTACT, Collection.CALENDAR: ItemKind.EVENT}
MODEL_OF: dict[Collection, type[SyncedRecord]] = {Collection.CONTACTS: Contact, Collection.CALENDAR: Event}
CONTACT_COLUMNS = ("given_name", "surname", "display_name", "company", "job_title", "notes", "birthday")
EVENT_COLUMNS = ("subject", "time_zone", "all_day", "location", "body", "cancelled")


def _key(value: object) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _instant(value: object, zone: ZoneInfo) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.astimezone(zone)


def _plain(value: object) -> dict[str, Any]:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else dict(value)  # type: ignore[arg-type]


# --- rows -> content values -------------------------------------------------------------------------


def row_values(row: SyncedRecord) -> dict[str, Any]:
    """The row's content values (sync.normalize.FIELDS of its kind), with real dates and aware datetimes."""
    if isinstance(row, Contact):
        return {
            **{name: getattr(row, name) for name in CONTACT_COLUMNS},
            "emails": tuple(row.emails or ()),
            "phones": dict(row.phones or {}),
            "addresses": {kind: dict(parts) for kind, parts in (row.addresses or {}).items()},
        }
    assert isinstance(row, Event)
    zone = ZoneInfo(row.time_zone)
    return {
        **{name: getattr(row, name) for name in EVENT_COLUMNS},
        "start": row.start.astimezone(zone),
        "end": row.end.astimezone(zone),
        "attendees": tuple(dict(person) for person in row.attendees or ()),
        "recurrence": recurrence_values(row.recurrence, zone),
    }


def recurrence_values(data: Mapping[str, Any] | None, zone: ZoneInfo) -> dict[str, Any] | None:
    """A stored (JSON) recurrence as content values: dates as dates, moved occurrences as aware datetimes."""
    if not data:
        return None
    return {
        "frequency": _key(data["frequency"]),
        "interval": int(data.get("interval") or 1),
        "weekdays": tuple(int(day) for day in data.get("weekdays") or ()),
        "start_date": _date(data.get("start_date")),
        "end_date": _date(data.get("end_date")),
        "count": data.get("count"),
        "cancelled_occurrences": tuple(_date(day) for day in data.get("cancelled_occurrences") or ()),
        "changed_occurrences": tuple(
            {name: _instant(change[name], zone) for name in ("original_start", "start", "end")}
            for change in data.get("changed_occurrences") or ()
        ),
    }


def row_content(row: SyncedRecord) -> Content:
    return Content.build(ItemKind.CONTACT if isinstance(row, Contact) else ItemKind.EVENT, row_values(row))


# --- content values -> rows -------------------------------------------------------------------------


def write_values(row: SyncedRecord, values: Mapping[str, Any]) -> None:
    """Set the row's fields from content values (as typed by either side); the caller saves."""
    if isinstance(row, Contact):
        for name in CONTACT_COLUMNS:
            setattr(row, name, values.get(name) if name == "birthday" else values.get(name) or "")
        row.birthday = _date(values.get("birthday"))
        row.emails = [str(address) for address in values.get("emails") or ()]
        row.phones = {_key(kind): str(number) for kind, number in (values.get("phones") or {}).items()}
        row.addresses = {_key(kind): _plain(parts) for kind, parts in (values.get("addresses") or {}).items()}
        return
    assert isinstance(row, Event)
    for name in EVENT_COLUMNS:
        setattr(row, name, values.get(name))
    row.time_zone = values.get("time_zone") or "UTC"
    row.all_day, row.cancelled = bool(values.get("all_day")), bool(values.get("cancelled"))
    row.start, row.end = values["start"], values["end"]
    row.attendees = [
        {"email": person["email"], "name": person.get("name", ""), "required": bool(person.get("required", True))}
        for person in (_plain(p) for p in values.get("attendees") or ())
    ]
    row.recurrence = recurrence_json(values.get("recurrence"))


def recurrence_json(value: object) -> dict[str, Any] | None:
    """A recurrence (values or a gateway Recurrence) as JSON for the row."""
    if value is None:
        return None
    data = _plain(value)
    return {
        "frequency": _key(data["frequency"]),
        "interval": int(data.get("interval") or 1),
        "weekdays": [int(day) for day in data.get("weekdays") or ()],
        "start_date": _iso(_date(data.get("start_date"))),
        "end_date": _iso(_date(data.get("end_date"))),
        "count": data.get("count"),
        "cancelled_occurrences": [_iso(_date(day)) for day in data.get("cancelled_occurrences") or ()],
        "changed_occurrences": [
            {name: _plain(change)[name].isoformat() for name in ("original_start", "start", "end")}
            for change in data.get("changed_occurrences") or ()
        ],
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


# --- content values <-> gateway items ---------------------------------------------------------------


def gateway_item(kind: ItemKind, values: Mapping[str, Any]) -> items.Contact | items.Event:
    """The gateway's plain item for content values."""
    if kind is ItemKind.CONTACT:
        return items.Contact(
            given_name=values.get("given_name") or "", surname=values.get("surname") or "",
            display_name=values.get("display_name") or "", emails=tuple(values.get("emails") or ()),
            phones={items.PhoneType(_key(k)): str(v) for k, v in (values.get("phones") or {}).items()},
            addresses={items.AddressType(_key(k)): items.PostalAddress(**_plain(v))
                       for k, v in (values.get("addresses") or {}).items()},
            company=values.get("company") or "", job_title=values.get("job_title") or "",
            notes=values.get("notes") or "", birthday=_date(values.get("birthday")),
        )  # fmt: skip
    zone = ZoneInfo(values.get("time_zone") or "UTC")
    recurrence = recurrence_values(recurrence_json(values.get("recurrence")), zone)
    return items.Event(
        subject=values.get("subject") or "", start=values["start"], end=values["end"],
        time_zone=values.get("time_zone") or "UTC", all_day=bool(values.get("all_day")),
        location=values.get("location") or "", body=values.get("body") or "",
        attendees=tuple(items.Attendee(**_plain(p)) for p in values.get("attendees") or ()),
        recurrence=None if recurrence is None else items.Recurrence(
            frequency=items.RecurrenceFrequency(recurrence["frequency"]), interval=recurrence["interval"],
            weekdays=recurrence["weekdays"], start_date=recurrence["start_date"], end_date=recurrence["end_date"],
            count=recurrence["count"], cancelled_occurrences=recurrence["cancelled_occurrences"],
            changed_occurrences=tuple(items.OccurrenceChange(**c) for c in recurrence["changed_occurrences"]),
        ),
        cancelled=bool(values.get("cancelled")),
    )  # fmt: skip


def item_content(item: items.Contact | items.Event) -> Content:
    """A mailbox item's content: its dataclass fields are the content fields (the gateway gives plain dates)."""
    if isinstance(item, items.Contact):
        return Content.build(ItemKind.CONTACT, dataclasses.asdict(item))
    values = dataclasses.asdict(item)
    del values["send_invitations"]  # how one write notifies attendees, not what the event is
    return Content.build(ItemKind.EVENT, values)

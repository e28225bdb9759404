"""Graph's event JSON <-> the store's event fields (mailstore/fields.py), both ways.

Rendering writes every member Graph writes for an event (docs examples, user-post-events.md), times in the
``Prefer: outlook.timezone`` zone (UTC without one), enums in camelCase. Parsing accepts what Graph accepts
(enums in any case, Windows or IANA zone names), keeps what the store and EWS know, and ignores read-only members
(``id``, ``iCalUId``, ``responseStatus``...) as Graph does.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from simulator.mailstore.fields import normalize_event

from . import event_recurrence, extended
from .event_instances import Instance, z
from .event_times import (
    all_day_date_time_zone,
    from_date_time_zone,
    is_midnight,
    local_date,
    to_date_time_zone,
)
from .wire import GraphError

RESPONSES = {"Unknown": "none", "Organizer": "organizer", "Tentative": "tentativelyAccepted", "Accept": "accepted",
             "Decline": "declined", "NoResponseReceived": "notResponded"}
SHOW_AS = {"Free": "free", "Tentative": "tentative", "Busy": "busy", "OOF": "oof",
           "WorkingElsewhere": "workingElsewhere", "NoData": "unknown"}
SENSITIVITY = {"Normal": "normal", "Personal": "personal", "Private": "private", "Confidential": "confidential"}
IMPORTANCE = {"Low": "low", "Normal": "normal", "High": "high"}
ATTENDEE_TYPES = ("required", "optional", "resource")
NO_TIME = "0001-01-01T00:00:00Z"  # Graph's "never" in responseStatus.time
DEFAULT_REMINDER = 15
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
# Graph members kept as they are (booleans/strings the store has no EWS meaning for): Graph name -> store key.
_PASSTHROUGH = {"allowNewTimeProposals": ("allow_new_time_proposals", bool),
                "isOnlineMeeting": ("is_online_meeting", bool), "hideAttendees": ("hide_attendees", bool),
                "responseRequested": ("response_requested", bool), "isReminderOn": ("reminder_is_set", bool)}


@dataclass(slots=True)
class Rendering:
    """How to render for one request: the mailbox owner, the zone for times, ids, extended properties wanted."""

    owner_address: str
    owner_name: str
    zone_label: str
    zone: ZoneInfo
    event_id: str
    series_master_id: str | None = None
    expand: list[str] | None = None  # store keys of the extended properties to render (None: the member is absent)
    body_type: str = "html"  # Prefer: outlook.body-content-type; Graph answers HTML without it


def _person(person: dict[str, Any]) -> dict[str, Any]:
    return {"emailAddress": {"name": person.get("name") or person["email"], "address": person["email"]}}


def _preview(body: str, body_type: str) -> str:
    text = _TAGS.sub(" ", body) if body_type.upper() == "HTML" else body
    return _SPACE.sub(" ", text).strip()[:255]


def _times(instance: Instance, fields: dict[str, Any], how: Rendering) -> tuple[dict[str, str], dict[str, str]]:
    if fields.get("is_all_day"):
        return (all_day_date_time_zone(local_date(instance.start, fields.get("start_tz")), how.zone_label),
                all_day_date_time_zone(local_date(instance.end, fields.get("end_tz") or fields.get("start_tz")),
                                       how.zone_label))
    return to_date_time_zone(instance.start, how.zone_label, how.zone), to_date_time_zone(instance.end, how.zone_label,
                                                                                            how.zone)


def to_graph(instance: Instance, how: Rendering) -> dict[str, Any]:
    """Return the Graph event for an instance (a stored event or one occurrence of a series)."""
    item, fields = instance.item, instance.fields
    organizer = fields.get("organizer") or {"email": how.owner_address, "name": how.owner_name}
    is_organizer = organizer["email"].lower() == how.owner_address.lower()
    attendees = fields.get("attendees") or []
    body, body_type = fields.get("body") or "", fields.get("body_type") or "Text"
    location = fields.get("location") or ""
    start, end = _times(instance, fields, how)
    start_tz = fields.get("start_tz") or "UTC"
    event: dict[str, Any] = {
        "@odata.etag": f'W/"{item.change_key}"',
        "id": how.event_id,
        "createdDateTime": z(item.created),
        "lastModifiedDateTime": z(item.modified),
        "changeKey": item.change_key,
        "categories": list(fields.get("categories") or []),
        "transactionId": fields.get("transaction_id"),
        "originalStartTimeZone": start_tz,
        "originalEndTimeZone": fields.get("end_tz") or start_tz,
        "iCalUId": fields.get("uid"),
        "reminderMinutesBeforeStart": int(fields.get("reminder_minutes", DEFAULT_REMINDER)),
        "isReminderOn": bool(fields.get("reminder_is_set", True)),
        "hasAttachments": bool(fields.get("attachments")),
        "subject": fields.get("subject") or "",
        "bodyPreview": _preview(body, body_type),
        "importance": IMPORTANCE.get(fields.get("importance") or "Normal", "normal"),
        "sensitivity": SENSITIVITY.get(fields.get("sensitivity") or "Normal", "normal"),
        "isAllDay": bool(fields.get("is_all_day")),
        "isCancelled": bool(fields.get("is_cancelled")),
        "isDraft": False,
        "isOrganizer": is_organizer,
        "responseRequested": bool(fields.get("response_requested", True)),
        "seriesMasterId": how.series_master_id,
        "showAs": SHOW_AS.get(fields.get("show_as") or ("Free" if fields.get("is_cancelled") else "Busy"), "busy"),
        "type": instance.type,
        "webLink": f"https://outlook.office365.com/owa/?itemid={how.event_id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": bool(fields.get("is_online_meeting")),
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": bool(fields.get("allow_new_time_proposals", True)),
        "hideAttendees": bool(fields.get("hide_attendees")),
        "responseStatus": {"response": "organizer" if is_organizer else "none", "time": NO_TIME},
        "body": _body_as(body, body_type, how.body_type),
        "start": start,
        "end": end,
        "location": {"displayName": location, "locationType": "default", "uniqueIdType": "unknown"},
        "locations": [{"displayName": location, "locationType": "default", "uniqueIdType": "unknown"}] if location
        else [],
        "recurrence": (event_recurrence.to_graph(fields["recurrence"], start_tz)
                       if instance.type == "seriesMaster" else None),
        "attendees": [{"type": a.get("type", "required"),
                       "status": {"response": RESPONSES.get(a.get("response") or "Unknown", "none"), "time": NO_TIME},
                       **_person(a)} for a in attendees],
        "organizer": _person(organizer),
        "onlineMeeting": None,
    }
    if instance.original is not None:
        event["originalStart"] = z(instance.original)
    if how.expand is not None:
        event["singleValueExtendedProperties"] = extended.render_single_values(item, how.expand)
    return event


def _body_as(content: str, stored: str, wanted: str) -> dict[str, str]:
    """The body in the format asked for: HTML (Graph's default) wraps a text body, text strips an HTML one."""
    is_html = stored.upper() == "HTML"
    if wanted == "text" and is_html:
        content = html.unescape(_TAGS.sub("", content)).strip()
    elif wanted == "html" and not is_html and content:
        content = f"<html><body>{html.escape(content).replace(chr(10), '<br>')}</body></html>"
    return {"contentType": wanted, "content": content}


def select(event: dict[str, Any], wanted: str | None) -> dict[str, Any]:
    """Keep only the ``$select``-ed members (``id``, the OData annotations and an expansion always stay)."""
    if not wanted:
        return event
    names = {name.strip().lower() for name in wanted.split(",") if name.strip()}
    if "location" in names:
        names.add("locations")  # Graph answers both for either (event-get.md, user-list-events.md)
    return {k: v for k, v in event.items() if k.startswith("@") or k == "id" or k.lower() in names
            or k == "singleValueExtendedProperties"}


# --- parsing ---------------------------------------------------------------------------------------------------
def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", message)


def _enum(value: Any, table: dict[str, str], member: str) -> str:
    by_graph = {graph.lower(): store for store, graph in table.items()}
    found = by_graph.get(str(value).lower()) if isinstance(value, str) else None
    if found is None:
        raise _invalid(f"The value '{value}' of the '{member}' property is not valid.")
    return found


def _string(value: Any, member: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"The '{member}' property must be a string.")
    return value


def _attendees(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _invalid("The 'attendees' property must be a collection.")
    found = []
    for entry in value:
        email = (entry.get("emailAddress") or {}) if isinstance(entry, dict) else {}
        if not isinstance(email.get("address"), str) or not email["address"]:
            raise _invalid("Each attendee needs an emailAddress with an address.")
        kind = str(entry.get("type") or "required").lower()
        if kind not in ATTENDEE_TYPES:
            raise _invalid(f"The value '{entry.get('type')}' of the 'type' property is not valid.")
        status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
        response = _enum(status["response"], RESPONSES, "response") if status.get("response") else "Unknown"
        found.append({"email": email["address"], "name": email.get("name") or email["address"], "type": kind,
                      "response": response})
    return found


def _body(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise _invalid("The 'body' property must be an itemBody.")
    kind = str(value.get("contentType") or "text").lower()
    if kind not in ("text", "html"):
        raise _invalid(f"The value '{value.get('contentType')}' of the 'contentType' property is not valid.")
    return _string(value.get("content"), "body.content"), "HTML" if kind == "html" else "Text"


def _location(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise _invalid("The 'location' property must be a location.")
    return _string(value.get("displayName"), "location.displayName")


def from_graph(body: Any, current: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """Return (fields to set, fields to delete, extended properties) for a create (current None) or a PATCH.

    Start/end and all-day are checked together against what the event will be after the change: an all-day event
    runs from midnight to midnight in its zone, as Exchange requires.
    """
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    fields: dict[str, Any] = {}
    deleted: list[str] = []
    properties: dict[str, str] = {}
    for member, value in body.items():
        if member == "subject":
            fields["subject"] = _string(value, member)
        elif member == "body":
            if value is None:
                fields["body"], fields["body_type"] = "", "Text"
            else:
                fields["body"], fields["body_type"] = _body(value)
        elif member in ("start", "end"):
            fields[member], fields[f"{member}_tz"] = from_date_time_zone(value, member)
        elif member == "isAllDay":
            fields["is_all_day"] = bool(value)
        elif member == "location":
            fields["location"] = _location(value)
        elif member == "locations" and "location" not in body and isinstance(value, list) and value:
            fields["location"] = "; ".join(_location(entry) for entry in value)
        elif member == "attendees":
            fields["attendees"] = _attendees(value or [])
        elif member == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise _invalid("The 'categories' property must be a collection of strings.")
            fields["categories"] = list(value)
        elif member == "importance" and value is not None:
            fields["importance"] = _enum(value, IMPORTANCE, member)
        elif member == "sensitivity" and value is not None:
            fields["sensitivity"] = _enum(value, SENSITIVITY, member)
        elif member == "showAs" and value is not None:
            fields["show_as"] = _enum(value, SHOW_AS, member)
        elif member == "reminderMinutesBeforeStart" and value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _invalid("The 'reminderMinutesBeforeStart' property must be a non-negative integer.")
            fields["reminder_minutes"] = value
        elif member in _PASSTHROUGH and value is not None:
            fields[_PASSTHROUGH[member][0]] = bool(value)
        elif member == "transactionId" and value is not None:
            if current is not None and value != current.get("transaction_id"):
                raise _invalid("The transactionId of an event cannot be changed once it is set.")
            fields["transaction_id"] = _string(value, member)
        elif member == "recurrence":
            if value is None:
                deleted.append("recurrence")
            else:
                fields["recurrence"] = value  # converted below, once the start date is known
        elif member == "singleValueExtendedProperties":
            properties.update(extended.parse_single_values(value))
    for member in ("start", "end"):
        if member in fields:
            fields[member] = z(fields[member])
    after = {**(current or {}), **fields}
    if "recurrence" in fields:
        if not after.get("start"):
            raise _invalid("A recurring event needs a start.")
        fields["recurrence"] = event_recurrence.from_graph(
            fields["recurrence"], local_date(datetime.fromisoformat(after["start"].replace("Z", "+00:00")),
                                             after.get("start_tz")))
    _check_times({**(current or {}), **fields}, creating=current is None)
    if current is None:
        fields = normalize_event(fields)
    return fields, deleted, properties


def _check_times(after: dict[str, Any], creating: bool) -> None:
    if creating and not (after.get("start") and after.get("end")):
        raise _invalid("An event needs a start and an end.")
    if not (after.get("start") and after.get("end")):
        return
    start = datetime.fromisoformat(after["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(after["end"].replace("Z", "+00:00"))
    if end < start:
        raise _invalid("The end of an event cannot be before its start.")
    if after.get("is_all_day"):
        zone = after.get("start_tz") or "UTC"
        if not (is_midnight(start, zone) and is_midnight(end, after.get("end_tz") or zone)) or end == start:
            raise _invalid("An all-day event must start and end at midnight, and end at least one day after it starts.")

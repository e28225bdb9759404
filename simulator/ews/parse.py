"""EWS item elements and field paths -> the store's field vocabulary (CreateItem, UpdateItem)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from .render import ADDRESS_KEYS, ADDRESS_PARTS, PHONE_FIELDS
from .render_calendar import MONTHS
from .soap import SoapFault, t
from .values import extended_key, format_instant, is_array_type, parse_instant

KIND_OF_ELEMENT = {"Contact": "contact", "CalendarItem": "event", "Message": "message", "Item": "message"}
_ADDRESS_FIELDS = {v: k for k, v in ADDRESS_KEYS.items()}
_ADDRESS_PART_FIELDS = dict(ADDRESS_PARTS)
_PATTERNS = {"DailyRecurrence": "daily", "WeeklyRecurrence": "weekly", "AbsoluteMonthlyRecurrence": "absolute_monthly",
             "RelativeMonthlyRecurrence": "relative_monthly", "AbsoluteYearlyRecurrence": "absolute_yearly",
             "RelativeYearlyRecurrence": "relative_yearly"}
_RANGES = {"NoEndRecurrence": "no_end", "EndDateRecurrence": "end_date", "NumberedRecurrence": "numbered"}
_ATTENDEE_TYPES = {"RequiredAttendees": "required", "OptionalAttendees": "optional", "Resources": "resource"}
# Plain text properties: element name -> store key (the same name in every item kind that has it).
_SCALARS = {
    "Subject": "subject", "Sensitivity": "sensitivity", "Importance": "importance", "FileAs": "file_as",
    "DisplayName": "display_name", "GivenName": "given_name", "Initials": "initials", "MiddleName": "middle_name",
    "Nickname": "nickname", "CompanyName": "company_name", "AssistantName": "assistant_name",
    "BusinessHomePage": "business_homepage", "Department": "department", "JobTitle": "job_title",
    "Manager": "manager", "OfficeLocation": "office", "Profession": "profession", "SpouseName": "spouse_name",
    "Surname": "surname", "Notes": "notes", "Location": "location", "LegacyFreeBusyStatus": "show_as", "UID": "uid",
    "InternetMessageId": "internet_message_id",
}
_BOOLEANS = {"IsAllDayEvent": "is_all_day", "IsRead": "is_read", "ReminderIsSet": "reminder_is_set"}
# FieldURI -> store key, for DeleteItemField and for restrictions.
URI_KEYS = {f"{prefix}:{element}": key for element, key in _SCALARS.items()
            for prefix in ("item", "contacts", "calendar", "message")}
URI_KEYS.update({"item:Body": "body", "item:Categories": "categories", "calendar:Start": "start", "calendar:End": "end",
                 "calendar:IsAllDayEvent": "is_all_day", "message:IsRead": "is_read", "calendar:Recurrence": "recurrence",
                 "item:ReminderMinutesBeforeStart": "reminder_minutes", "contacts:Birthday": "birthday",
                 "message:ToRecipients": "to", "message:CcRecipients": "cc", "message:BccRecipients": "bcc",
                 "message:ReplyTo": "reply_to",
                 "calendar:RequiredAttendees": "attendees:required", "calendar:OptionalAttendees": "attendees:optional",
                 "calendar:Resources": "attendees:resource", "item:DateTimeCreated": "created",
                 "item:LastModifiedTime": "modified"})


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def _person(node: etree._Element) -> dict[str, str]:
    address = node.findtext(t("EmailAddress")) or ""
    return {"email": address, "name": node.findtext(t("Name")) or address}


def _recurrence(node: etree._Element) -> dict[str, Any]:
    pattern: dict[str, Any] = {}
    rng: dict[str, Any] = {"type": "no_end"}
    for child in node:
        name = etree.QName(child).localname
        if name in _PATTERNS:
            pattern["type"] = _PATTERNS[name]
            for part in child:
                part_name, text = etree.QName(part).localname, (part.text or "").strip()
                if part_name == "Interval":
                    pattern["interval"] = int(text)
                elif part_name == "DaysOfWeek":
                    pattern["days_of_week"] = text.split()
                elif part_name == "FirstDayOfWeek":
                    pattern["first_day_of_week"] = text
                elif part_name == "DayOfWeekIndex":
                    pattern["week_index"] = text
                elif part_name == "DayOfMonth":
                    pattern["day_of_month"] = int(text)
                elif part_name == "Month":
                    pattern["month"] = MONTHS.index(text) + 1
        elif name in _RANGES:
            rng["type"] = _RANGES[name]
            # xs:date may carry an offset ("2026-03-02-05:00"); the date part is what counts.
            rng["start_date"] = (child.findtext(t("StartDate")) or "")[:10]
            if child.find(t("EndDate")) is not None:
                rng["end_date"] = (child.findtext(t("EndDate")) or "")[:10]
            if child.find(t("NumberOfOccurrences")) is not None:
                rng["count"] = int(child.findtext(t("NumberOfOccurrences")) or "1")
    if "type" not in pattern:
        raise SoapFault("ErrorInvalidRecurrence", "The recurrence pattern is invalid.")
    pattern.setdefault("interval", 1)
    return {"pattern": pattern, "range": rng}


def parse_properties(node: etree._Element, kind: str, tz_context: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (fields, extended) for the properties present in an item element; nested dicts are partial."""
    fields: dict[str, Any] = {}
    extended: dict[str, Any] = {}
    for child in node:
        name = etree.QName(child).localname
        text = child.text or ""
        if name in _SCALARS:
            fields[_SCALARS[name]] = text
        elif name in _BOOLEANS:
            fields[_BOOLEANS[name]] = _bool(text)
        elif name == "Body":
            fields["notes" if kind == "contact" else "body"] = text
            if kind != "contact":
                fields["body_type"] = child.get("BodyType", "Text")
        elif name == "Categories":
            fields["categories"] = [s.text or "" for s in child]
        elif name == "ReminderMinutesBeforeStart":
            fields["reminder_minutes"] = int(text)
        elif name == "ExtendedProperty":
            key = extended_key(child.find(t("ExtendedFieldURI")))
            values = child.find(t("Values"))
            extended[key] = [v.text or "" for v in values] if is_array_type(key) and values is not None else (
                child.findtext(t("Value")) or "")
        elif name == "EmailAddresses":
            for entry in child:
                fields[f"email{entry.get('Key', 'EmailAddress1')[-1]}"] = (entry.text or "").strip()
        elif name == "PhoneNumbers":
            phones = fields.setdefault("phones", {})
            for entry in child:
                key = entry.get("Key", "")
                phones[PHONE_FIELDS.get(key, key)] = (entry.text or "").strip()
        elif name == "PhysicalAddresses":
            addresses = fields.setdefault("addresses", {})
            for entry in child:
                parts = addresses.setdefault(_ADDRESS_FIELDS.get(entry.get("Key", ""), entry.get("Key", "")), {})
                for part in entry:
                    parts[_ADDRESS_PART_FIELDS[etree.QName(part).localname]] = part.text or ""
        elif name in ("Birthday", "WeddingAnniversary"):
            fields["birthday" if name == "Birthday" else "wedding_anniversary"] = format_instant(parse_instant(text))[:10]
        elif name in ("Start", "End"):
            fields[name.lower()] = format_instant(parse_instant(text, tz_context))
        elif name in ("StartTimeZone", "MeetingTimeZone"):
            fields["start_tz"] = child.get("Id") or child.get("Name") or "UTC"
            if name == "MeetingTimeZone":
                fields.setdefault("end_tz", fields["start_tz"])
        elif name == "EndTimeZone":
            fields["end_tz"] = child.get("Id") or child.get("Name") or "UTC"
        elif name in _ATTENDEE_TYPES:
            fields[f"attendees:{_ATTENDEE_TYPES[name]}"] = [
                {**_person(a.find(t("Mailbox"))), "type": _ATTENDEE_TYPES[name], "response": "Unknown"} for a in child]
        elif name == "Recurrence":
            fields["recurrence"] = _recurrence(child)
        elif name in ("ToRecipients", "CcRecipients", "BccRecipients"):
            fields[name[:-10].lower() if name != "ToRecipients" else "to"] = [_person(m) for m in child]
        elif name == "ReplyTo":
            fields["reply_to"] = [_person(m) for m in child]
        elif name in ("From", "Sender"):
            fields["from"] = _person(child.find(t("Mailbox")))
    return fields, extended


def merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return the top-level field values after applying partial changes (phones, addresses, attendees merge)."""
    result: dict[str, Any] = {}
    for key, value in changes.items():
        if key.startswith("attendees:"):
            kind = key.split(":", 1)[1]
            base = result.get("attendees", current.get("attendees") or [])
            result["attendees"] = [a for a in base if a.get("type", "required") != kind] + value
        elif key == "phones":
            result["phones"] = {**(current.get("phones") or {}), **value}
        elif key == "addresses":
            addresses = {k: dict(v) for k, v in (current.get("addresses") or {}).items()}
            for kind, parts in value.items():
                addresses.setdefault(kind, {}).update(parts)
            result["addresses"] = addresses
        else:
            result[key] = value
    return result


def deletion(uri: etree._Element, current: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return (fields to set, fields to delete) for a DeleteItemField path."""
    name = etree.QName(uri).localname
    field_uri = uri.get("FieldURI", "")
    if name == "IndexedFieldURI":
        index = uri.get("FieldIndex", "")
        if field_uri == "contacts:EmailAddress":
            return {}, [f"email{index[-1]}"]
        if field_uri == "contacts:PhoneNumber":
            phones = dict(current.get("phones") or {})
            phones.pop(PHONE_FIELDS.get(index, index), None)
            return {"phones": phones}, []
        if field_uri.startswith("contacts:PhysicalAddress:"):
            addresses = {k: dict(v) for k, v in (current.get("addresses") or {}).items()}
            part = _ADDRESS_PART_FIELDS.get(field_uri.rsplit(":", 1)[1], "")
            addresses.get(_ADDRESS_FIELDS.get(index, index), {}).pop(part, None)
            return {"addresses": addresses}, []
        return {}, []
    key = URI_KEYS.get(field_uri)
    if key is None:
        return {}, []
    if key.startswith("attendees:"):
        kind = key.split(":", 1)[1]
        return {"attendees": [a for a in current.get("attendees") or [] if a.get("type") != kind]}, []
    if key == "body" and current.get("notes") is not None:
        return {}, ["notes"]
    return {}, [key]

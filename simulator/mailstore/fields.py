"""The store's field vocabulary for contacts, events and messages, and normalization of seeded/user input.

Protocol-neutral names (snake_case); each front (EWS, later Graph) maps them to its own.
Contact: given_name, middle_name, surname, nickname, display_name, file_as, company_name, job_title, department,
  email1..email3, phones {business, business2, home, home2, mobile, business_fax, home_fax, other, pager, assistant,
  car, company_main}, addresses {business, home, other: {street, city, state, postal_code, country}}, notes,
  birthday (YYYY-MM-DD), categories.
Event: subject, body, body_type (Text/HTML), location, start/end (UTC ISO "...Z"), start_tz/end_tz (Windows time
  zone ids), is_all_day, attendees [{email, name, type: required/optional/resource, response}], organizer
  {email, name}, recurrence {pattern {...}, range {...}} or None, modified_occurrences {original start: fields},
  deleted_occurrences [original start], is_cancelled, invitations_sent (MeetingRequestWasSent), uid, show_as, sensitivity, reminder_minutes, categories.
Message: subject, body, body_type, from/to/cc/bcc/reply_to ({email, name}), is_read, is_draft, internet_message_id,
  sent_at, attachments [{id, name, content_type, size, sha256, content (base64), is_inline, last_modified}]
  (records made by attachments.file_attachment).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

PHONE_TYPES = ("business", "business2", "home", "home2", "mobile", "business_fax", "home_fax", "other", "pager",
               "assistant", "car", "company_main")
ADDRESS_TYPES = ("business", "home", "other")
ADDRESS_PARTS = ("street", "city", "state", "postal_code", "country")


def utc_iso(value: Any) -> str:
    """Return a datetime (or ISO string) as the store keeps instants: UTC, whole seconds, "Z"."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store only keeps timezone-aware instants")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _person(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {"email": value, "name": value}
    return {"email": value["email"], "name": value.get("name") or value["email"]}


def normalize_contact(data: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """Return contact fields in the store's vocabulary (accepts "emails" as a list and "body" for notes)."""
    fields = {k: v for k, v in data.items() if k not in ("emails", "body")}
    for position, address in enumerate(data.get("emails") or [], start=1):
        if position <= 3 and address:
            fields[f"email{position}"] = address
    if "body" in data:
        fields["notes"] = data["body"]
    if "birthday" in fields and isinstance(fields["birthday"], date):
        fields["birthday"] = fields["birthday"].isoformat()
    if not partial and not fields.get("display_name"):
        name = " ".join(p for p in (fields.get("given_name"), fields.get("surname")) if p)
        fields["display_name"] = name or fields.get("company_name") or fields.get("email1", "")
    return fields


def normalize_event(data: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """Return event fields in the store's vocabulary, instants in UTC."""
    fields = dict(data)
    for key in ("start", "end"):
        if key in fields:
            fields[key] = utc_iso(fields[key])
    if "attendees" in fields:
        fields["attendees"] = [
            {**_person(a), "type": (a.get("type", "required") if isinstance(a, dict) else "required"),
             "response": (a.get("response", "Unknown") if isinstance(a, dict) else "Unknown")}
            for a in fields["attendees"]
        ]
    if not partial:
        fields.setdefault("subject", "")
        fields.setdefault("start_tz", "UTC")
        fields.setdefault("end_tz", fields["start_tz"])
        fields.setdefault("is_all_day", False)
        fields.setdefault("uid", uuid.uuid4().hex.upper())
    return fields


def normalize_message(data: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """Return message fields in the store's vocabulary."""
    fields = dict(data)
    for key in ("to", "cc", "bcc", "reply_to"):
        if key in fields:
            fields[key] = [_person(p) for p in fields[key]]
    if fields.get("from"):
        fields["from"] = _person(fields["from"])
    if not partial:
        fields.setdefault("subject", "")
        fields.setdefault("is_read", False)
    return fields

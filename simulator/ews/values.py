"""EWS value formats: instants, Windows time zones, extended property keys."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from simulator.mailstore.timezones import zone

ZONE_NAMES = {"UTC": "(UTC) Coordinated Universal Time", "Eastern Standard Time": "(UTC-05:00) Eastern Time (US & Canada)",
              "Central Standard Time": "(UTC-06:00) Central Time (US & Canada)",
              "Mountain Standard Time": "(UTC-07:00) Mountain Time (US & Canada)",
              "Pacific Standard Time": "(UTC-08:00) Pacific Time (US & Canada)",
              "GMT Standard Time": "(UTC+00:00) Dublin, Edinburgh, Lisbon, London",
              "W. Europe Standard Time": "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
              "Romance Standard Time": "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"}

# Distinguished property sets -> their GUIDs, so either spelling of a property names the same thing.
PROPERTY_SETS = {
    "meeting": "6ed8da90-450b-101b-98da-00aa003f1305", "appointment": "00062002-0000-0000-c000-000000000046",
    "common": "00062008-0000-0000-c000-000000000046", "publicstrings": "00020329-0000-0000-c000-000000000046",
    "address": "00062004-0000-0000-c000-000000000046", "internetheaders": "00020386-0000-0000-c000-000000000046",
    "calendarassistant": "11000e07-b51b-40d6-af21-caa85edab1d0", "unifiedmessaging": "4442858e-a9e3-4e80-b900-317a210cc15b",
    "task": "00062003-0000-0000-c000-000000000046", "sharing": "00062040-0000-0000-c000-000000000046",
}


def format_instant(value: datetime | str) -> str:
    """Return an instant as EWS writes it: UTC with a "Z"."""
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str, default_zone: str | None = None) -> datetime:
    """Parse an xs:dateTime from a request; a value without offset is in the request's time zone context."""
    text = text.strip()
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(default_zone))
    return value.astimezone(UTC).replace(microsecond=0)


def extended_key(uri: etree._Element) -> str:
    """Return the store key of an ExtendedFieldURI: "<set guid or 'tag'>|<name, #id or tag>|<type>"."""
    tag = uri.get("PropertyTag")
    kind = uri.get("PropertyType", "String")
    if tag:
        return f"tag|{int(tag, 16) if tag.lower().startswith('0x') else int(tag)}|{kind}"
    property_set = uri.get("PropertySetId") or PROPERTY_SETS.get((uri.get("DistinguishedPropertySetId") or "").lower(), "")
    name = uri.get("PropertyName")
    identifier = name if name is not None else "#" + str(int(uri.get("PropertyId", "0"), 0))
    return f"{property_set.lower()}|{identifier}|{kind}"


def is_array_type(key: str) -> bool:
    """Return whether an extended property key holds an array type (Values/Value rather than Value)."""
    return key.endswith("Array")

"""Our tag on Graph items: a single-value extended property naming the same MAPI property the EWS backend writes
(``EngageSyncId`` in our property set), so an item tagged over EWS is found over Graph and back."""

from __future__ import annotations

from typing import Any

# The same named property as mailboxes.ews_mapping.EngageTag (property set GUID and name); a test keeps them equal.
PROPERTY_SET = "c3a1e9d2-7b4f-4c1a-9e2d-5f8b0a6d4e17"
PROPERTY_NAME = "EngageSyncId"
TAG_PROPERTY_ID = f"String {{{PROPERTY_SET}}} Name {PROPERTY_NAME}"

EXPAND = f"singleValueExtendedProperties($filter=id eq '{TAG_PROPERTY_ID}')"


def tag_property(tag: str) -> list[dict[str, str]]:
    """The ``singleValueExtendedProperties`` member that writes ``tag``."""
    return [{"id": TAG_PROPERTY_ID, "value": tag}]


def tag_filter(tag: str) -> str:
    """The ``$filter`` that finds items carrying ``tag`` (quotes doubled, as OData escapes them)."""
    value = tag.replace("'", "''")
    return f"singleValueExtendedProperties/any(ep: ep/id eq '{TAG_PROPERTY_ID}' and ep/value eq '{value}')"


def tag_of(body: dict[str, Any]) -> str | None:
    """The tag of an item read with ``$expand`` of our property, None when it has none."""
    for prop in body.get("singleValueExtendedProperties") or ():
        if str(prop.get("id", "")).lower() == TAG_PROPERTY_ID.lower():
            return prop.get("value")
    return None

"""Graph's single-value extended property ids <-> the store's keys, so Graph and EWS name one MAPI property alike.

Graph spells a property ``"{type} {guid} Name {name}"``, ``"{type} {guid} Id 0x8012"`` or ``"{type} 0x4001001E"``
(a property tag: id in the high 16 bits, MAPI type in the low 16); the store keys it
``"<set guid>|<name or #id>|<type>"`` or ``"tag|<id>|<type>"`` as the EWS part does (``ews.values.extended_key``),
so a property written through one protocol is read and filtered through the other.
"""

from __future__ import annotations

import re
from typing import Any

from .wire import GraphError

# Graph's (and EWS's) MAPI type names, keyed lower-case so the id's type word matches case-insensitively.
_TYPES = {name.lower(): name for name in (
    "Binary", "Boolean", "CLSID", "Currency", "Double", "Float", "Integer", "Long", "Object", "Short", "String",
    "SystemTime", "ApplicationTime")}
# MAPI type codes for the tag form ("String 0x4001001F"): PT_UNICODE, PT_LONG, PT_BOOLEAN, ...
_TYPE_CODES = {"Binary": 0x0102, "Boolean": 0x000B, "CLSID": 0x0048, "Currency": 0x0006, "Double": 0x0005,
               "Float": 0x0004, "Integer": 0x0003, "Long": 0x0014, "Object": 0x000D, "Short": 0x0002,
               "String": 0x001F, "SystemTime": 0x0040, "ApplicationTime": 0x0007}
_NAMED = re.compile(r"^(?P<type>\w+)\s+\{(?P<guid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}\s+"
                    r"(?:name\s+(?P<name>\S.*?)|id\s+(?P<id>0x[0-9a-f]{1,4}|\d{1,5}))\s*$", re.IGNORECASE)
_TAGGED = re.compile(r"^(?P<type>\w+)\s+(?P<tag>0x[0-9a-f]{8})\s*$", re.IGNORECASE)


def invalid_property_id(property_id: Any) -> GraphError:
    return GraphError(400, "ErrorInvalidProperty", f"The extended property id '{property_id}' is not valid.")


def store_key(property_id: Any) -> str:
    """Return the store key for a Graph extended property id, or raise 400 for a malformed one."""
    if not isinstance(property_id, str):
        raise invalid_property_id(property_id)
    named = _NAMED.match(property_id.strip())
    tagged = None if named else _TAGGED.match(property_id.strip())
    match = named or tagged
    if match is None or match["type"].lower() not in _TYPES:
        raise invalid_property_id(property_id)
    kind = _TYPES[match["type"].lower()]
    if tagged:
        return f"tag|{int(tagged['tag'], 16) >> 16}|{kind}"
    identifier = named["name"] if named["name"] is not None else "#" + str(int(named["id"], 0))
    return f"{named['guid'].lower()}|{identifier}|{kind}"


def graph_property_id(key: str) -> str:
    """Return the Graph id of a store key (the named form when the property has a name)."""
    property_set, identifier, kind = key.split("|", 2)
    if property_set == "tag":
        return f"{kind} 0x{int(identifier):04X}{_TYPE_CODES.get(kind, 0x001F):04X}"
    if identifier.startswith("#"):
        return f"{kind} {{{property_set}}} Id 0x{int(identifier[1:]):04x}"
    return f"{kind} {{{property_set}}} Name {identifier}"


def is_single_value(key: str) -> bool:
    """Array-typed properties belong to multiValueExtendedProperties, not the single-value collection."""
    return not key.endswith("Array")


def parse_single_values(entries: Any) -> dict[str, str]:
    """Return store keys and values of a request's ``singleValueExtendedProperties``, or raise 400."""
    if not isinstance(entries, list):
        raise GraphError(400, "RequestBodyRead",
                         "singleValueExtendedProperties must be an array of {id, value} objects.")
    found: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "id" not in entry:
            raise GraphError(400, "RequestBodyRead", "Each single-value extended property needs an id and a value.")
        value = entry.get("value")
        if value is not None and not isinstance(value, str):
            raise GraphError(400, "RequestBodyRead",
                             "An extended property value is a string (numbers and dates in their text form).")
        found[store_key(entry["id"])] = value if value is not None else ""
    return found


def render_single_values(extended: dict[str, Any], keys: set[str] | None) -> list[dict[str, str]]:
    """The item's single-value properties as Graph lists them; ``keys`` limits them (an $expand filter)."""
    return [{"id": graph_property_id(key), "value": str(value)} for key, value in extended.items()
            if is_single_value(key) and (keys is None or key in keys)]

"""Graph's singleValueExtendedProperties ids <-> the store's extended-property keys (shared with EWS).

Graph id forms (resources/extended-properties-overview): "{type} {guid} Name {name}", "{type} {guid} Id 0x8012",
"{type} 0x0037" (a MAPI property tag). Store key (ews/values.extended_key): "<guid or 'tag'>|<name, #id or tag>|<type>",
so a property set through Graph is the same MAPI property EWS reads, and the other way round.
"""

from __future__ import annotations

import re
from typing import Any

from .wire import GraphError

_NAMED = re.compile(r"^(?P<type>\w+)\s+\{(?P<guid>[0-9a-fA-F-]{36})\}\s+(?P<how>Name|Id)\s+(?P<name>.+)$", re.IGNORECASE)
_TAGGED = re.compile(r"^(?P<type>\w+)\s+(?P<tag>0x[0-9a-fA-F]{1,8})$", re.IGNORECASE)
_TYPES = {name.lower(): name for name in (
    "ApplicationTime", "Binary", "Boolean", "CLSID", "Currency", "Double", "Error", "Float", "Integer", "IntegerArray",
    "Long", "Null", "Object", "Short", "SystemTime", "String", "StringArray", "BinaryArray", "SystemTimeArray")}
_EXPAND = re.compile(r"^singleValueExtendedProperties(?:\(\$filter=(?P<filter>.+)\))?$", re.IGNORECASE)
_ID_EQ = re.compile(r"^\s*id\s+eq\s+'(?P<id>(?:[^']|'')*)'\s*$", re.IGNORECASE)


def _malformed(graph_id: str) -> GraphError:
    return GraphError(400, "ErrorInvalidProperty", f"The extended property id '{graph_id}' is not valid.")


def store_key(graph_id: str) -> str:
    """Return the store key for a Graph extended-property id; raise a 400 for a malformed one."""
    text = graph_id.strip()
    named = _NAMED.match(text)
    if named:
        kind = _TYPES.get(named["type"].lower())
        if kind is None:
            raise _malformed(graph_id)
        if named["how"].lower() == "name":
            return f"{named['guid'].lower()}|{named['name']}|{kind}"
        try:
            return f"{named['guid'].lower()}|#{int(named['name'], 0)}|{kind}"
        except ValueError:
            raise _malformed(graph_id) from None
    tagged = _TAGGED.match(text)
    if tagged and tagged["type"].lower() in _TYPES:
        tag = int(tagged["tag"], 16)
        return f"tag|{tag >> 16 if tag > 0xFFFF else tag}|{_TYPES[tagged['type'].lower()]}"
    raise _malformed(graph_id)


def graph_id(key: str) -> str:
    """Return the Graph id of a store key (the form Graph answers: lower-case GUID, hex ids)."""
    where, name, kind = key.split("|", 2)
    if where == "tag":
        return f"{kind} 0x{int(name):04x}"
    if name.startswith("#"):
        return f"{kind} {{{where}}} Id 0x{int(name[1:]):04x}"
    return f"{kind} {{{where}}} Name {name}"


def from_graph(values: Any) -> dict[str, str]:
    """Return {store key: value} for a request's singleValueExtendedProperties list."""
    if not isinstance(values, list):
        raise GraphError(400, "ErrorInvalidRequest", "singleValueExtendedProperties must be a collection.")
    found: dict[str, str] = {}
    for entry in values:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise GraphError(400, "ErrorInvalidRequest", "Each singleValueExtendedProperty needs an id and a value.")
        value = entry.get("value")
        found[store_key(entry["id"])] = "" if value is None else str(value)
    return found


def expansion(expand: str | None) -> set[str] | None:
    """Return the store keys an ``$expand=singleValueExtendedProperties(...)`` asks for ("*" for all), or None.

    The filter may name one id or several joined with ``or``, as the docs show.
    """
    if not expand:
        return None
    for part in expand.split(","):
        matched = _EXPAND.match(part.strip())
        if matched is None:
            continue
        if matched["filter"] is None:
            return {"*"}
        keys = set()
        for clause in re.split(r"\s+or\s+", matched["filter"], flags=re.IGNORECASE):
            equal = _ID_EQ.match(clause)
            if equal is None:
                raise GraphError(400, "BadRequest", f"Invalid $expand filter: '{matched['filter']}'.")
            keys.add(store_key(equal["id"].replace("''", "'")))
        return keys
    return None


def to_graph(extended: dict[str, Any], wanted: set[str]) -> list[dict[str, str]]:
    """Return the single-value properties of an item that an expansion asks for, in Graph's shape."""
    return [{"id": graph_id(key), "value": str(value)} for key, value in extended.items()
            if not isinstance(value, list) and ("*" in wanted or key in wanted)]

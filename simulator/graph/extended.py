"""Graph's single-value extended properties over the store's keys (the same MAPI properties EWS reads and writes).

Graph ids (extended-properties-overview.md): ``"{type} {guid} Name {name}"``, ``"{type} {guid} Id 0x8012"`` and
``"{type} 0x4001001F"`` (a property tag with its type code). The store keys them as
``"<guid or 'tag'>|<name, #id or tag>|<type>"`` (see ``simulator.ews.values.extended_key``), so a property written
through EWS is read through Graph and back.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.mailstore import Item

from .wire import GraphError

_NAMED = re.compile(r"^\s*(\w+)\s+\{([0-9a-fA-F-]{36})\}\s+(Name|Id)\s+(.+?)\s*$", re.IGNORECASE)
_TAGGED = re.compile(r"^\s*(\w+)\s+0x([0-9a-fA-F]{8})\s*$", re.IGNORECASE)
_TYPE_CODES = {"String": 0x001F, "Integer": 0x0003, "Boolean": 0x000B, "SystemTime": 0x0040, "Binary": 0x0102,
               "Long": 0x0014, "Double": 0x0005, "Short": 0x0002, "Float": 0x0004, "Currency": 0x0006,
               "ApplicationTime": 0x0007, "CLSID": 0x0048}
_TYPES = {name.lower(): name for name in _TYPE_CODES}
_EXPAND = re.compile(r"singleValueExtendedProperties\s*\(\s*\$filter\s*=\s*(.*)\)\s*$", re.IGNORECASE)
_ID_EQ = re.compile(r"id\s+eq\s+'((?:[^']|'')*)'", re.IGNORECASE)
_ANY = re.compile(r"^\s*singleValueExtendedProperties/any\s*\(\s*(\w+)\s*:\s*(.*)\)\s*$", re.IGNORECASE)


def _bad_id(graph_id: str) -> GraphError:
    return GraphError(400, "ErrorInvalidProperty", f"The extended property id '{graph_id}' is not valid.")


def store_key(graph_id: str) -> str:
    """The store key of a Graph extended property id; 400 for an id in none of the documented forms."""
    if match := _NAMED.match(graph_id):
        kind = _TYPES.get(match.group(1).lower())
        if kind is None:
            raise _bad_id(graph_id)
        guid, form, name = match.group(2).lower(), match.group(3).lower(), match.group(4)
        if form == "id":
            try:
                name = "#" + str(int(name, 0))
            except ValueError:
                raise _bad_id(graph_id) from None
        return f"{guid}|{name}|{kind}"
    if match := _TAGGED.match(graph_id):
        kind = _TYPES.get(match.group(1).lower())
        if kind is None:
            raise _bad_id(graph_id)
        return f"tag|{int(match.group(2)[:4], 16)}|{kind}"
    raise _bad_id(graph_id)


def graph_property_id(key: str) -> str:
    """The Graph id of a store key (the inverse of ``store_key``, in Graph's own spelling)."""
    space, name, kind = key.split("|", 2)
    if space == "tag":
        return f"{kind} 0x{int(name):04x}{_TYPE_CODES.get(kind, 0x001F):04x}"
    if name.startswith("#"):
        return f"{kind} {{{space}}} Id 0x{int(name[1:]):04x}"
    return f"{kind} {{{space}}} Name {name}"


def parse_single_values(values: Any) -> dict[str, str]:
    """``singleValueExtendedProperties`` of a request body -> store keys and values (400 when malformed)."""
    if values is None:
        return {}
    if not isinstance(values, list):
        raise GraphError(400, "RequestBodyRead", "singleValueExtendedProperties must be an array.")
    parsed = {}
    for entry in values:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or "value" not in entry:
            raise GraphError(400, "RequestBodyRead", "Each singleValueExtendedProperty needs an id and a value.")
        value = entry["value"]
        parsed[store_key(entry["id"])] = value if isinstance(value, str) else str(value)
    return parsed


def render_single_values(item: Item, keys: list[str] | None) -> list[dict[str, str]]:
    """The item's single-value extended properties (only ``keys`` when given) as Graph renders them."""
    wanted = item.extended if keys is None else {k: item.extended[k] for k in keys if k in item.extended}
    return [{"id": graph_property_id(key), "value": value} for key, value in wanted.items()
            if not isinstance(value, list)]


def expanded_keys(expand: str | None) -> list[str] | None:
    """The store keys named by ``$expand=singleValueExtendedProperties($filter=id eq '...' [or id eq '...'])``;
    None when the query does not expand them (400 for any other ``$expand``)."""
    if not expand:
        return None
    match = _EXPAND.match(expand.strip())
    if match is None:
        raise GraphError(400, "BadRequest", f"Parsing OData Select and Expand failed: '{expand}' is not supported.")
    ids = [value.replace("''", "'") for value in _ID_EQ.findall(match.group(1))]
    if not ids:
        raise GraphError(400, "BadRequest", "The $expand of singleValueExtendedProperties needs $filter=id eq '...'.")
    return [store_key(i) for i in ids]


def any_filter(expression: str) -> tuple[str, str, str] | None:
    """Parse ``singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq '{value}')`` (also ``ne``,
    ``startswith(ep/value, '...')``, ``contains(ep/value, '...')``) into (store key, operator, value); None when the
    expression is not of that shape."""
    match = _ANY.match(expression)
    if match is None:
        return None
    var, body = match.group(1), match.group(2)
    id_match = re.search(rf"{var}/id\s+eq\s+'((?:[^']|'')*)'", body, re.IGNORECASE)
    if id_match is None:
        return None
    key = store_key(id_match.group(1).replace("''", "'"))
    if value_match := re.search(rf"{var}/value\s+(eq|ne)\s+'((?:[^']|'')*)'", body, re.IGNORECASE):
        return key, value_match.group(1).lower(), value_match.group(2).replace("''", "'")
    if value_match := re.search(rf"(startswith|contains)\s*\(\s*{var}/value\s*,\s*'((?:[^']|'')*)'\s*\)", body,
                                re.IGNORECASE):
        return key, value_match.group(1).lower(), value_match.group(2).replace("''", "'")
    return key, "exists", ""


def matches(item: Item, condition: tuple[str, str, str]) -> bool:
    """Whether an item satisfies a parsed ``any_filter`` condition."""
    key, operator, expected = condition
    value = item.extended.get(key)
    if value is None or isinstance(value, list):
        return False
    return {"eq": value == expected, "ne": value != expected, "startswith": value.startswith(expected),
            "contains": expected in value, "exists": True}[operator]

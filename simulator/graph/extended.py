"""Graph's single-value extended properties over the store's keys (the same MAPI properties EWS reads and writes).

Graph ids (extended-properties-overview.md): ``"{type} {guid} Name {name}"``, ``"{type} {guid} Id 0x8012"`` and
``"{type} 0x4001001F"`` (a property tag with its type code). The store keys them as
``"<guid or 'tag'>|<name, #id or tag>|<type>"`` (see ``simulator.ews.values.extended_key``), so a property written
through EWS is read through Graph and back. Contacts, events and messages share the body form
(``parse_single_values``), the ``$expand`` form (``expanded_keys``) and the one ``$filter`` form (``parse_filter``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
_LITERAL = r"'(?:[^']|'')*'"
_ANY_START = re.compile(r"^\s*singleValueExtendedProperties\s*/", re.IGNORECASE)
_ANY = re.compile(r"^\s*singleValueExtendedProperties\s*/\s*any\s*\(\s*(?P<var>[A-Za-z_]\w*)\s*:(?P<body>.*)\)\s*$",
                  re.IGNORECASE | re.DOTALL)
_ID_CLAUSE = re.compile(rf"\s*(?P<var>[A-Za-z_]\w*)\s*/\s*id\s+eq\s+(?P<literal>{_LITERAL})\s*", re.IGNORECASE)
_VALUE_CLAUSE = re.compile(rf"\s*(?P<var>[A-Za-z_]\w*)\s*/\s*value\s+(?P<op>eq|ne)\s+(?P<literal>{_LITERAL})\s*",
                           re.IGNORECASE)
_VALUE_FUNCTION = re.compile(rf"\s*(?P<op>startswith|contains)\s*\(\s*(?P<var>[A-Za-z_]\w*)\s*/\s*value\s*,\s*"
                             rf"(?P<literal>{_LITERAL})\s*\)\s*", re.IGNORECASE)
_AND = re.compile(r"and\b", re.IGNORECASE)


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


def invalid_filter(detail: str) -> GraphError:
    """Graph's answer for a $filter the service cannot evaluate."""
    return GraphError(400, "ErrorInvalidUrlQueryFilter",
                      f"The query filter contains one or more invalid nodes. {detail}".strip())


@dataclass(frozen=True, slots=True)
class ExtendedFilter:
    """singleValueExtendedProperties/any(ep: ep/id eq key and <value condition>)."""

    key: str
    operator: str  # eq, ne, startswith, contains
    value: str

    def matches(self, item: Item) -> bool:
        """Whether an item's extended properties satisfy the filter. eq/ne compare exactly (as the EWS part's
        IsEqualTo does); startswith/contains ignore case, as the docs' contains(ep/Value, 'green') finds 'Green'."""
        found = item.extended.get(self.key)
        if not isinstance(found, str):
            return False
        if self.operator == "eq":
            return found == self.value
        if self.operator == "ne":
            return found != self.value
        if self.operator == "startswith":
            return found.lower().startswith(self.value.lower())
        return self.value.lower() in found.lower()


def is_extended_filter(text: str) -> bool:
    """Whether a $filter is about extended properties (then ``parse_filter`` reads it, or refuses it)."""
    return _ANY_START.match(text) is not None


def parse_filter(text: str) -> ExtendedFilter:
    """Parse the whole of ``singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq '{value}')``
    (singlevaluelegacyextendedproperty-get.md) for contacts, events and messages: any lambda variable, either
    clause first, any spacing and case of keywords, '' for a quote inside a literal (OData's escape); the value
    condition may also be ``ne``, ``startswith(ep/value, '...')`` or ``contains(ep/value, '...')``. Anything else,
    including text around a well-formed condition and casts (``cast(ep/value, Edm.Int32) eq 12``), is Graph's 400."""
    outer = _ANY.match(text)
    if outer is None:
        raise invalid_filter("Only singleValueExtendedProperties/any(ep: ep/id eq '...' and ep/value eq '...') "
                             "is supported.")
    variable, body = outer["var"], outer["body"]
    property_id: str | None = None
    condition: tuple[str, str] | None = None
    position = 0
    for index in range(2):
        if index:
            joiner = _AND.match(body, position)
            if joiner is None:
                raise invalid_filter("Expected 'and' between the id and value conditions.")
            position = joiner.end()
        id_clause = _ID_CLAUSE.match(body, position) if property_id is None else None
        value_clause = None if id_clause or condition else \
            _VALUE_CLAUSE.match(body, position) or _VALUE_FUNCTION.match(body, position)
        clause = id_clause or value_clause
        if clause is None or clause["var"] != variable:
            raise invalid_filter(f"Expected {variable}/id eq '...' and {variable}/value eq '...' (or ne, "
                                 f"startswith({variable}/value, '...'), contains({variable}/value, '...')).")
        if id_clause:
            property_id = _literal(clause["literal"])
        else:
            condition = (clause["op"].lower(), _literal(clause["literal"]))
        position = clause.end()
    if position != len(body) or property_id is None or condition is None:
        raise invalid_filter("Unexpected text after the value condition.")
    return ExtendedFilter(store_key(property_id), *condition)


def _literal(text: str) -> str:
    return text[1:-1].replace("''", "'")

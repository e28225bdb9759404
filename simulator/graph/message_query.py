"""The OData query options of the message routes: $filter (the extended-property form), $select, $top, $skip and
$orderby, parsed from the already URL-decoded query; anything else is Graph's 400 ($expand is
``extended.expanded_keys``, shared with contacts).

The one filter supported is the documented tag lookup (singlevaluelegacyextendedproperty-get.md)::

    singleValueExtendedProperties/Any(ep: ep/id eq 'String {guid} Name CrmSendKey' and ep/value eq 'crm-1')

with any lambda variable, either clause first, any spacing and case of keywords, and '' for a quote inside a
literal (OData's escape); the value condition may also be ``ne``, ``startswith(ep/value, '...')`` or
``contains(ep/value, '...')`` (documented for string values). Casts (``cast(ep/value, Edm.Int32) eq 12``) and
every other filter are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .extended import store_key
from .message_fields import READABLE
from .wire import GraphError

_LITERAL = r"'(?:[^']|'')*'"
_ANY = re.compile(r"^\s*singleValueExtendedProperties\s*/\s*any\s*\(\s*(?P<var>[A-Za-z_]\w*)\s*:(?P<body>.*)\)\s*$",
                  re.IGNORECASE | re.DOTALL)
_ID_CLAUSE = re.compile(rf"\s*(?P<var>[A-Za-z_]\w*)\s*/\s*id\s+eq\s+(?P<literal>{_LITERAL})\s*", re.IGNORECASE)
_VALUE_CLAUSE = re.compile(rf"\s*(?P<var>[A-Za-z_]\w*)\s*/\s*value\s+(?P<op>eq|ne)\s+(?P<literal>{_LITERAL})\s*",
                           re.IGNORECASE)
_VALUE_FUNCTION = re.compile(rf"\s*(?P<op>startswith|contains)\s*\(\s*(?P<var>[A-Za-z_]\w*)\s*/\s*value\s*,\s*"
                             rf"(?P<literal>{_LITERAL})\s*\)\s*", re.IGNORECASE)
_AND = re.compile(r"and\b", re.IGNORECASE)
_ORDERABLE = {"receiveddatetime": "receivedDateTime", "sentdatetime": "sentDateTime",
              "createddatetime": "createdDateTime", "lastmodifieddatetime": "lastModifiedDateTime",
              "subject": "subject"}
MAX_TOP = 1000
DEFAULT_TOP = 10  # Graph's page size for message lists without $top


def invalid_filter(detail: str) -> GraphError:
    """Graph's answer for a $filter the service cannot evaluate."""
    return GraphError(400, "ErrorInvalidUrlQueryFilter",
                      f"The query filter contains one or more invalid nodes. {detail}".strip())


def invalid_query(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _literal(text: str) -> str:
    return text[1:-1].replace("''", "'")


@dataclass(frozen=True, slots=True)
class ExtendedFilter:
    """singleValueExtendedProperties/any(ep: ep/id eq key and <value condition>)."""

    key: str
    operator: str  # eq, ne, startswith, contains
    value: str

    def matches(self, extended: dict[str, Any]) -> bool:
        """Whether an item's extended properties satisfy the filter. eq/ne compare exactly (as the EWS part's
        IsEqualTo does); startswith/contains ignore case, as the docs' contains(ep/Value, 'green') finds 'Green'."""
        found = extended.get(self.key)
        if not isinstance(found, str):
            return False
        if self.operator == "eq":
            return found == self.value
        if self.operator == "ne":
            return found != self.value
        if self.operator == "startswith":
            return found.lower().startswith(self.value.lower())
        return self.value.lower() in found.lower()


def parse_filter(text: str) -> ExtendedFilter:
    """Return the extended-property filter, or raise Graph's 400 for any other filter."""
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


def parse_select(text: str) -> frozenset[str]:
    """Return the properties a $select names, or raise Graph's 400 for one a message does not have."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    by_lower = {name.lower(): name for name in READABLE}
    selected = set()
    for name in names:
        if name.lower() not in by_lower:
            raise GraphError(400, "RequestBroker--ParseUri",
                             f"Could not find a property named '{name}' on type 'microsoft.graph.message'.")
        selected.add(by_lower[name.lower()])
    return frozenset(selected)


def parse_count(text: str | None, name: str, default: int, maximum: int | None) -> int:
    """Return a $top/$skip value, or raise 400 for one that is not a non-negative integer in range."""
    if text is None:
        return default
    if not text.strip().isdigit() or (maximum is not None and not 0 < int(text) <= maximum):
        bound = f" between 1 and {maximum}" if maximum else ""
        raise invalid_query(f"Invalid value '{text}' for query option {name}: expected an integer{bound}.")
    return int(text)


def parse_orderby(text: str | None) -> tuple[str, bool]:
    """Return the property to sort by and whether descending (Graph's default: receivedDateTime desc)."""
    if text is None:
        return "receivedDateTime", True
    parts = text.split()
    if not parts or len(parts) > 2 or parts[0].lower() not in _ORDERABLE or \
            (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise invalid_query(f"$orderby '{text}' is not supported; order by receivedDateTime, sentDateTime, "
                            "createdDateTime, lastModifiedDateTime or subject, asc or desc.")
    return _ORDERABLE[parts[0].lower()], len(parts) == 2 and parts[1].lower() == "desc"

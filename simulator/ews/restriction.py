"""FindItem restrictions (And/Or/Not, comparisons, Exists, Contains) evaluated against store items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree

from simulator.mailstore import Item
from simulator.mailstore.records import ITEM_CLASSES

from .parse import URI_KEYS
from .render import PHONE_FIELDS
from .soap import SoapFault, t
from .values import extended_key, format_instant

_COMPARISONS = {
    "IsEqualTo": lambda a, b: a == b, "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b, "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b, "IsLessThanOrEqualTo": lambda a, b: a <= b,
}
_PATHS = ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI")


def value_of(item: Item, path: etree._Element) -> Any:
    """Return the item's value for a property path (None when it has none)."""
    name = etree.QName(path).localname
    if name == "ExtendedFieldURI":
        return item.extended.get(extended_key(path))
    uri = path.get("FieldURI", "")
    if name == "IndexedFieldURI":
        index = path.get("FieldIndex", "")
        if uri == "contacts:EmailAddress":
            return item.fields.get(f"email{index[-1]}")
        if uri == "contacts:PhoneNumber":
            return (item.fields.get("phones") or {}).get(PHONE_FIELDS.get(index, index))
        return None
    if uri == "item:ItemClass":
        return ITEM_CLASSES[item.kind]
    if uri == "item:DateTimeCreated" or uri == "item:DateTimeReceived":
        return format_instant(item.created)
    if uri == "item:LastModifiedTime":
        return format_instant(item.modified)
    if uri == "item:Subject" and item.kind == "contact":
        return item.fields.get("subject") or item.fields.get("display_name")
    key = URI_KEYS.get(uri)
    if key is None or key.startswith("attendees:"):
        raise SoapFault("ErrorInvalidPropertyRequest", f"The property {uri} can't be used in a restriction.")
    if key == "body" and item.kind == "contact":
        key = "notes"
    return item.fields.get(key)


def _comparable(left: Any, right: str) -> tuple[Any, Any]:
    if isinstance(left, bool):
        return left, right.strip().lower() in ("true", "1")
    if isinstance(left, int | float):
        return float(left), float(right)
    if isinstance(left, str) and len(left) >= 19 and left[4:5] == "-" and left[10:11] == "T":
        try:
            return (datetime.fromisoformat(left.replace("Z", "+00:00")),
                    datetime.fromisoformat(right.strip().replace("Z", "+00:00")))
        except ValueError:
            pass
    return str(left), right


def _constant(node: etree._Element) -> str:
    constant = node.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
    if constant is None:
        raise SoapFault("ErrorUnsupportedPathForQuery", "Comparing two properties is not supported.")
    return constant.get("Value", "")


def _path(node: etree._Element) -> etree._Element:
    for child in node:
        if etree.QName(child).localname in _PATHS:
            return child
    raise SoapFault("ErrorSchemaValidation", "The restriction has no property path.")


def matches(item: Item, node: etree._Element) -> bool:
    """Return whether an item satisfies one search expression element."""
    name = etree.QName(node).localname
    if name == "And":
        return all(matches(item, child) for child in node)
    if name == "Or":
        return any(matches(item, child) for child in node)
    if name == "Not":
        return not matches(item, node[0])
    if name == "Exists":
        return value_of(item, _path(node)) not in (None, "", [])
    if name == "Contains":
        value = value_of(item, _path(node))
        needle = node.find(t("Constant")).get("Value", "")
        if value is None:
            return False
        haystack = " ".join(value) if isinstance(value, list) else str(value)
        if "IgnoreCase" in node.get("ContainmentComparison", "Exact"):
            haystack, needle = haystack.lower(), needle.lower()
        mode = node.get("ContainmentMode", "Substring")
        if mode == "FullString":
            return haystack == needle
        if mode == "Prefixed":
            return haystack.startswith(needle)
        return needle in haystack
    if name in _COMPARISONS:
        value = value_of(item, _path(node))
        if value is None:
            return name == "IsNotEqualTo"
        if isinstance(value, list):
            return any(_COMPARISONS[name](*_comparable(v, _constant(node))) for v in value)
        try:
            return _COMPARISONS[name](*_comparable(value, _constant(node)))
        except (ValueError, TypeError):
            return False
    raise SoapFault("ErrorUnsupportedQueryFilter", f"The restriction {name} is not supported.")

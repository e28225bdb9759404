"""Graph's contact JSON <-> the store's contact fields (``mailstore/fields.py``): ``render_contact`` and
``parse_contact``. Store fields Graph has no property for (faxes, pager...) are kept untouched by a PATCH.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from simulator.mailstore import Item

from . import extended
from .ids import folder_graph_id, graph_id
from .wire import GraphError, GraphRequest

# Graph contact property -> store field, for the plain string properties.
GRAPH_TO_STORE = {
    "givenName": "given_name", "middleName": "middle_name", "surname": "surname", "nickName": "nickname",
    "displayName": "display_name", "fileAs": "file_as", "companyName": "company_name", "jobTitle": "job_title",
    "department": "department", "initials": "initials", "title": "title", "generation": "generation",
    "officeLocation": "office", "profession": "profession", "businessHomePage": "business_homepage",
    "assistantName": "assistant_name", "manager": "manager", "spouseName": "spouse_name", "personalNotes": "notes",
    "mobilePhone": None, "yomiGivenName": "yomi_given_name", "yomiSurname": "yomi_surname",
    "yomiCompanyName": "yomi_company_name",
}
_LIST_FIELDS = {"categories": "categories", "imAddresses": "im_addresses", "children": "children"}
_ADDRESSES = {"businessAddress": "business", "homeAddress": "home", "otherAddress": "other"}
_ADDRESS_PARTS = {"street": "street", "city": "city", "state": "state", "postalCode": "postal_code",
                  "countryOrRegion": "country"}
_PHONE_LISTS = {"businessPhones": ("business", "business2"), "homePhones": ("home", "home2")}
# Read-only or server-set properties a client may echo back; Graph ignores them on write.
_READ_ONLY = {"id", "changeKey", "createdDateTime", "lastModifiedDateTime", "parentFolderId"}
_NAVIGATION = {"singleValueExtendedProperties", "multiValueExtendedProperties", "photo", "extensions"}
_EMAIL_FIELDS = ("email1", "email2", "email3")
# What $select may name: every property render_contact writes.
PROPERTIES = frozenset({*GRAPH_TO_STORE, *_LIST_FIELDS, *_ADDRESSES, *_PHONE_LISTS, *_READ_ONLY, "emailAddresses",
                        "birthday"})


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# Rendered contacts by (mailbox, item id, version, immutable ids): an item's version changes with every change and
# its id with every move, so an entry never goes stale; polls and pages re-render the same contacts constantly.
_RENDERED: dict[tuple[str, str, int, bool], dict[str, Any]] = {}
_RENDERED_MAX = 50_000


def render_contact(request: GraphRequest, item: Item, select: Iterable[str] | None = None,
                   expand_keys: list[str] | None = None) -> dict[str, Any]:
    """Graph's contact JSON of a store contact (only ``select`` properties and ``id`` when given)."""
    key = (request.address, item.id, item.version, request.prefer.immutable_ids)
    body = _RENDERED.get(key)
    if body is None:
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        body = _RENDERED[key] = _render(request, item)
    if select is not None:
        wanted = {name.lower() for name in select}
        body = {k: v for k, v in body.items() if k in ("@odata.etag", "id") or k.lower() in wanted}
    if expand_keys is not None:
        body = {**body, "singleValueExtendedProperties": extended.render_single_values(item, expand_keys)}
    return body


def _render(request: GraphRequest, item: Item) -> dict[str, Any]:
    fields = item.fields
    folder = request.world.mailstore.mailbox(request.address).folders[item.folder_id]
    phones = fields.get("phones") or {}
    addresses = fields.get("addresses") or {}
    body: dict[str, Any] = {
        "@odata.etag": f'W/"{item.change_key}"',
        "id": graph_id(request.address, item, request.prefer.immutable_ids),
        "createdDateTime": _iso(item.created), "lastModifiedDateTime": _iso(item.modified),
        "changeKey": item.change_key, "categories": list(fields.get("categories") or []),
        "parentFolderId": folder_graph_id(folder),
        "birthday": f"{fields['birthday']}T00:00:00Z" if fields.get("birthday") else None,
    }
    for graph_name, store_name in GRAPH_TO_STORE.items():
        if store_name is not None:
            body[graph_name] = fields.get(store_name)
    body["mobilePhone"] = phones.get("mobile")
    for graph_name, store_name in _LIST_FIELDS.items():
        body[graph_name] = list(fields.get(store_name) or [])
    for graph_name, kinds in _PHONE_LISTS.items():
        body[graph_name] = [phones[k] for k in kinds if phones.get(k)]
    body["emailAddresses"] = [{"name": fields.get(f"{key}_name") or fields[key], "address": fields[key]}
                              for key in _EMAIL_FIELDS if fields.get(key)]
    for graph_name, kind in _ADDRESSES.items():
        parts = addresses.get(kind) or {}
        body[graph_name] = {g: parts[s] for g, s in _ADDRESS_PARTS.items() if parts.get(s)}
    return body


def parse_contact(body: Any, current: Item | None = None) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """A Graph contact body -> (fields to set, fields to delete, extended properties to set) in store terms.
    ``current`` (for a PATCH) is what nested values (phones, addresses) are merged into."""
    if not isinstance(body, dict):
        raise GraphError(400, "RequestBodyRead", "The request body must be a JSON object (a contact).")
    existing = current.fields if current is not None else {}
    set_fields: dict[str, Any] = {}
    delete: list[str] = []
    phones = dict(existing.get("phones") or {})
    addresses = {k: dict(v) for k, v in (existing.get("addresses") or {}).items()}
    touched_phones = touched_addresses = False
    for name, value in body.items():
        if name.startswith("@") or name in _READ_ONLY or name in _NAVIGATION:
            continue
        if name in GRAPH_TO_STORE and name != "mobilePhone":
            _string(name, value)
            if value is None:
                delete.append(GRAPH_TO_STORE[name])  # type: ignore[arg-type]
            else:
                set_fields[GRAPH_TO_STORE[name]] = value  # type: ignore[index]
        elif name == "mobilePhone":
            _string(name, value)
            phones["mobile"] = value
            touched_phones = True
        elif name in _PHONE_LISTS:
            numbers = _strings(name, value)
            for slot, kind in enumerate(_PHONE_LISTS[name]):
                phones[kind] = numbers[slot] if slot < len(numbers) else None
            touched_phones = True
        elif name in _LIST_FIELDS:
            set_fields[_LIST_FIELDS[name]] = _strings(name, value)
        elif name == "emailAddresses":
            entries = value or []
            if not isinstance(entries, list) or len(entries) > 3 or not all(
                    isinstance(e, dict) and isinstance(e.get("address"), str) for e in entries):
                raise GraphError(400, "ErrorInvalidProperty", "emailAddresses takes up to 3 {name, address} objects.")
            for slot, key in enumerate(_EMAIL_FIELDS):
                if slot < len(entries):
                    set_fields[key] = entries[slot]["address"]
                    if entries[slot].get("name") and entries[slot]["name"] != entries[slot]["address"]:
                        set_fields[f"{key}_name"] = entries[slot]["name"]
                    else:
                        delete.append(f"{key}_name")
                else:
                    delete.extend((key, f"{key}_name"))
        elif name in _ADDRESSES:
            if value is not None and not isinstance(value, dict):
                raise GraphError(400, "ErrorInvalidProperty", f"{name} must be a physicalAddress object.")
            addresses[_ADDRESSES[name]] = {s: value[g] for g, s in _ADDRESS_PARTS.items() if value and value.get(g)}
            touched_addresses = True
        elif name == "birthday":
            if value is None:
                delete.append("birthday")
            else:
                set_fields["birthday"] = _birthday(value)
        else:
            raise GraphError(400, "RequestBodyRead", f"The property '{name}' does not exist on type "
                                                     f"'microsoft.graph.contact'. Make sure to only use property "
                                                     f"names that are defined by the type or mark the type as open "
                                                     f"type.")
    if touched_phones:
        set_fields["phones"] = {k: v for k, v in phones.items() if v}
    if touched_addresses:
        set_fields["addresses"] = {k: v for k, v in addresses.items() if v}
    extended_values = extended.parse_single_values(body.get("singleValueExtendedProperties"))
    return set_fields, [d for d in delete if d not in set_fields], extended_values


def _string(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise GraphError(400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type "
                                                 f"'Edm.String' of property '{name}'.")


def _strings(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GraphError(400, "RequestBodyRead", f"{name} must be an array of strings.")
    return list(value)


def _birthday(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise GraphError(400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type "
                                                 f"'Edm.DateTimeOffset'.") from None

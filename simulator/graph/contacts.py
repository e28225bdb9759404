"""Graph contacts over the store's contact items: list, get, create, patch, delete, and the contacts delta.

Paths (after ``/users/{id|upn}``): ``/contacts[/{id}]``, ``/contacts/delta`` (the default Contacts folder) and
``/contactFolders/{folder-id}/contacts[/{id}|/delta]``; ``delta()`` is accepted for ``delta`` as the OpenAPI spells it.
The contact JSON <-> store fields mapping is ``contact_fields.py``.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.mailstore import Folder, Item
from simulator.mailstore.fields import normalize_contact
from simulator.mailstore.syncstate import changes_since

from . import delta, extended
from .contact_fields import PROPERTIES, parse_contact, render_contact
from .ids import find_folder, find_item, folder_graph_id
from .query_options import option, paged, parse_select, preferred_page_size
from .wire import GraphRequest, Response, Route, empty_response, item_not_found, json_response, route

ROUTES: list[Route] = []
CONTACTS = ("Contacts.ReadWrite",)
READ_CONTACTS = ("Contacts.ReadWrite", "Contacts.Read")
DEFAULT_DELTA_PAGE = 10  # Outlook's default delta page; Prefer: odata.maxpagesize changes it
_FOLDER = r"/contactFolders/(?P<folder>[^/]+)"
_DELTA = r"/contacts/delta(?:\(\))?"

# --- folders and items -----------------------------------------------------------------------------------------
def _folder(request: GraphRequest, match: re.Match[str]) -> Folder:
    groups = match.groupdict()
    if groups.get("folder") is None:
        return request.world.mailstore.folder(request.address, "contacts")
    folder = find_folder(request.world, request.address, groups["folder"])
    if folder.folder_class != "IPF.Contact":
        raise item_not_found()
    return folder


def _contact(request: GraphRequest, match: re.Match[str]) -> Item:
    item = find_item(request.world, request.address, match.group("id"))
    if item.kind != "contact":
        raise item_not_found()
    if match.groupdict().get("folder") is not None and item.folder_id != _folder(request, match).id:
        raise item_not_found()
    return item


def _select(request: GraphRequest) -> list[str] | None:
    selected = parse_select(option(request, "$select"), PROPERTIES, "microsoft.graph.contact")
    return sorted(selected) if selected is not None else None


# --- delta ---------------------------------------------------------------------------------------------------------
@route("GET", _FOLDER + _DELTA, READ_CONTACTS)
def contacts_delta(request: GraphRequest, match: re.Match[str]) -> Response:
    """One page of a contacts delta round: changes after the token's sequence, ``@removed`` for deletions."""
    folder = _folder(request, match)
    token = delta.from_query(request, "contacts", folder.id)
    seen = token.seq if token else 0
    select = token.extra.get("select") if token else _select(request)
    changes, resume, done = changes_since(folder, seen, preferred_page_size(request, DEFAULT_DELTA_PAGE))
    value = []
    for change in changes:
        if change.item is None:
            removed_id = (folder.tombstone_immutable_ids.get(change.item_id, "") if request.prefer.immutable_ids
                          else change.item_id.replace("+", "-").replace("/", "_"))
            value.append({"@odata.type": "#microsoft.graph.contact", "id": removed_id,
                          "@removed": {"reason": "deleted"}})
        else:
            value.append({"@odata.type": "#microsoft.graph.contact", **render_contact(request, change.item, select)})
    page = {"@odata.context": f"{request.base_url}/v1.0/$metadata#Collection(contact)", "value": value,
            **delta.links(request, delta.DeltaToken("contacts", folder.id, resume, {"select": select}), done)}
    return json_response(200, page)


_DEFAULT_DELTA = route("GET", _DELTA, READ_CONTACTS)(contacts_delta)


# --- CRUD ------------------------------------------------------------------------------------------------------
def list_contacts(request: GraphRequest, match: re.Match[str]) -> Response:
    """A page of the folder's contacts (``$top`` default 10, ``$skip``, ``$select``, ``$expand`` of extended
    properties, ``$filter`` on a single-value extended property), oldest first."""
    folder = _folder(request, match)
    items = sorted((i for i in folder.items.values() if i.kind == "contact"), key=lambda i: i.created_seq)
    filter_text = option(request, "$filter")
    if filter_text is not None:
        wanted = extended.parse_filter(filter_text)
        items = [i for i in items if wanted.matches(i)]
    select, expand_keys = _select(request), extended.expanded_keys(option(request, "$expand"))
    page, more = paged(request, items)
    return json_response(200, {
        "@odata.context": f"{request.base_url}/v1.0/$metadata#users('{request.address}')/contacts",
        "value": [render_contact(request, i, select, expand_keys) for i in page], **more})


def create_contact(request: GraphRequest, match: re.Match[str]) -> Response:
    """201 with the new contact (its ``singleValueExtendedProperties`` are kept on the item)."""
    folder = _folder(request, match)
    set_fields, _deleted, extended_values = parse_contact(request.body)
    item = request.world.mailstore.create_item(request.address, folder.id, "contact", normalize_contact(set_fields),
                                               extended_values)
    return json_response(201, {"@odata.context": f"{request.base_url}/v1.0/$metadata#users('{request.address}')/"
                                                 f"contacts/$entity", **render_contact(request, item)})


def get_contact(request: GraphRequest, match: re.Match[str]) -> Response:
    item = _contact(request, match)
    return json_response(200, render_contact(request, item, _select(request),
                                             extended.expanded_keys(option(request, "$expand"))))


def update_contact(request: GraphRequest, match: re.Match[str]) -> Response:
    """200 with the whole updated contact; ``null`` clears a property."""
    item = _contact(request, match)
    set_fields, delete, extended_values = parse_contact(request.body, item)
    item = request.world.mailstore.update_item(request.address, item.id, set_fields, delete, extended_values)
    return json_response(200, render_contact(request, item))


def delete_contact(request: GraphRequest, match: re.Match[str]) -> Response:
    """204; the contact moves to Deleted Items, as Outlook does (delta reports it ``@removed``)."""
    item = _contact(request, match)
    store = request.world.mailstore
    store.move_item(request.address, item.id, store.mailbox(request.address).distinguished["deleteditems"])
    return empty_response(204)


def _render_folder(request: GraphRequest, folder: Folder) -> dict[str, Any]:
    parent = request.world.mailstore.mailbox(request.address).folders.get(folder.parent_id or "")
    return {"id": folder_graph_id(folder), "displayName": folder.name,
            "parentFolderId": folder_graph_id(parent) if parent is not None else None}


@route("GET", r"/contactFolders", READ_CONTACTS)
def list_contact_folders(request: GraphRequest, match: re.Match[str]) -> Response:
    """The mailbox's contact folders other than the default Contacts folder (as Graph lists them)."""
    store = request.world.mailstore
    default = store.folder(request.address, "contacts")
    folders = [f for f in store.mailbox(request.address).folders.values()
               if f.folder_class == "IPF.Contact" and f.id != default.id]
    return json_response(200, {"@odata.context": f"{request.base_url}/v1.0/$metadata#users('{request.address}')/"
                                                 f"contactFolders", "value": [_render_folder(request, f)
                                                                              for f in folders]})


@route("GET", _FOLDER, READ_CONTACTS)
def get_contact_folder(request: GraphRequest, match: re.Match[str]) -> Response:
    return json_response(200, _render_folder(request, _folder(request, match)))


for _prefix in (_FOLDER, ""):
    route("GET", _prefix + r"/contacts", READ_CONTACTS)(list_contacts)
    route("POST", _prefix + r"/contacts", CONTACTS)(create_contact)
    route("GET", _prefix + r"/contacts/(?P<id>[^/]+)", READ_CONTACTS)(get_contact)
    route("PATCH", _prefix + r"/contacts/(?P<id>[^/]+)", CONTACTS)(update_contact)
    route("DELETE", _prefix + r"/contacts/(?P<id>[^/]+)", CONTACTS)(delete_contact)

"""Graph's item and folder ids over the store's EWS ids, and ``translateExchangeIds``.

Formats (user-translateexchangeids.md, outlook-immutable-id.md):
- ``ewsId``: the EWS ItemId (standard base64, the store's ``Item.id``); it changes when the item moves.
- ``restId``: the same bytes in URL-safe base64 (``+`` -> ``-``, ``/`` -> ``_``); what Graph answers by default.
- ``restImmutableEntryId``: ``Item.immutable_id`` (URL-safe base64); what Graph answers under
  ``Prefer: IdType="ImmutableId"``; it survives moves.
- ``entryId`` / ``immutableEntryId``: the binary forms, URL-safe base64 without padding plus one digit giving the
  number of ``=`` removed (the documented "trailing pad-count digit").
Graph accepts either REST form on any request, whatever the ``Prefer`` header says.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from simulator.mailstore import Folder, Item
from simulator.mailstore.records import IMMUTABLE_ID_PREFIX

from .wire import GraphError, GraphRequest, Response, Route, item_not_found, json_response, route

ROUTES: list[Route] = []

_IMMUTABLE_B64_PREFIX = base64.urlsafe_b64encode(IMMUTABLE_ID_PREFIX[:24]).decode()  # 32 characters, no padding
_REST_ID = re.compile(r"^[A-Za-z0-9_\-]+={0,2}$")
ID_TYPES = ("entryId", "ewsId", "immutableEntryId", "restId", "restImmutableEntryId")
MAX_TRANSLATE_IDS = 1000
# Any one of these opens translateExchangeIds (it is bound to the user, like the item operations).
ANY_MAILBOX_ROLE = ("Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send")


def rest_id(ews_id: str) -> str:
    """The REST (URL-safe) form of an EWS id."""
    return ews_id.replace("+", "-").replace("/", "_")


def ews_id(rest: str) -> str:
    """The EWS form of a REST id (the inverse of ``rest_id``)."""
    return rest.replace("-", "+").replace("_", "/")


def graph_id(address: str, item: Item, immutable: bool) -> str:
    """The id Graph answers for an item: its immutable id under ``Prefer: IdType="ImmutableId"``, else its restId.

    ``address`` names the mailbox (kept for symmetry with ``find_item``; the ids already embed it)."""
    return item.immutable_id if immutable else rest_id(item.id)


def folder_graph_id(folder: Folder) -> str:
    """A folder's Graph id: its EWS folder id made URL-safe (folder ids do not change on moves, immutable or not)."""
    return rest_id(folder.id)


def is_immutable(graph_item_id: str) -> bool:
    return graph_item_id.startswith(_IMMUTABLE_B64_PREFIX)


def _check_well_formed(graph_item_id: str) -> None:
    if not graph_item_id or not _REST_ID.match(graph_item_id):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    try:
        base64.urlsafe_b64decode(graph_item_id + "=" * (-len(graph_item_id) % 4))
    except (binascii.Error, ValueError):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.") from None


def lookup_item(world: Any, address: str, graph_item_id: str) -> Item | None:
    """The live item a Graph id (immutable or REST, or an EWS id) names in the mailbox, or None."""
    store = world.mailstore
    if is_immutable(graph_item_id):
        return store.item_by_immutable_id(address, graph_item_id)
    return store.item(address, ews_id(graph_item_id))


def find_item(world: Any, address: str, graph_item_id: str) -> Item:
    """The live item a Graph id names; 400 ``ErrorInvalidIdMalformed`` for a malformed id, 404
    ``ErrorItemNotFound`` for a well-formed one naming nothing in this mailbox. Call under ``world.lock``."""
    item = lookup_item(world, address, graph_item_id)
    if item is None:
        _check_well_formed(graph_item_id)
        raise item_not_found()
    return item


def find_folder(world: Any, address: str, graph_folder_id: str) -> Folder:
    """A folder by Graph id or well-known name (``inbox``, ``sentitems``, ``drafts``, ``contacts``, ``calendar``...);
    404 ``ErrorItemNotFound`` / 400 ``ErrorInvalidIdMalformed`` as for items."""
    store = world.mailstore
    mailbox = store.mailbox(address)
    folder_id = mailbox.distinguished.get(graph_folder_id.lower())
    folder = mailbox.folders.get(folder_id or ews_id(graph_folder_id))
    if folder is None:
        _check_well_formed(graph_folder_id)
        raise item_not_found()
    return folder


# --- translateExchangeIds --------------------------------------------------------------------------------------
def _to_binary(url_safe: str) -> str:
    """URL-safe base64 -> the binary-id text form: padding removed, its count appended as a digit."""
    stripped = url_safe.rstrip("=")
    return stripped + str(len(url_safe) - len(stripped))


def _from_binary(text: str) -> str | None:
    if not text or not text[-1].isdigit() or int(text[-1]) > 2:
        return None
    return text[:-1] + "=" * int(text[-1])


def _item_of(world: Any, address: str, source: str, source_type: str) -> Item | None:
    if source_type == "ewsId":
        return world.mailstore.item(address, source)
    if source_type == "restId":
        return None if is_immutable(source) else world.mailstore.item(address, ews_id(source))
    if source_type == "restImmutableEntryId":
        return world.mailstore.item_by_immutable_id(address, source)
    decoded = _from_binary(source)
    if decoded is None:
        return None
    if source_type == "entryId":
        return world.mailstore.item(address, ews_id(decoded))
    return world.mailstore.item_by_immutable_id(address, decoded)  # immutableEntryId


def _as(item: Item, target_type: str) -> str:
    if target_type == "ewsId":
        return item.id
    if target_type == "restId":
        return rest_id(item.id)
    if target_type == "restImmutableEntryId":
        return item.immutable_id
    if target_type == "entryId":
        return _to_binary(rest_id(item.id))
    return _to_binary(item.immutable_id)  # immutableEntryId


@route("POST", r"/translateExchangeIds", ANY_MAILBOX_ROLE)
def translate_exchange_ids(request: GraphRequest, match: re.Match[str]) -> Response:
    """Translate up to 1,000 ids of this mailbox between formats; an id that names nothing gets ``errorDetails``."""
    body = request.body if isinstance(request.body, dict) else {}
    # The CSDL names the parameters in camelCase; the service matches parameter names case-insensitively.
    params = {str(k).lower(): v for k, v in body.items()}
    input_ids, source_type, target_type = params.get("inputids"), params.get("sourceidtype"), params.get("targetidtype")
    if not isinstance(input_ids, list) or not all(isinstance(i, str) for i in input_ids):
        raise GraphError(400, "ErrorInvalidParameter", "The value of the parameter 'InputIds' is invalid.")
    canonical = {t.lower(): t for t in ID_TYPES}  # enums are read case-insensitively, as the service does
    source_type = canonical.get(str(source_type).lower()) if isinstance(source_type, str) else None
    target_type = canonical.get(str(target_type).lower()) if isinstance(target_type, str) else None
    for name, value in (("SourceIdType", source_type), ("TargetIdType", target_type)):
        if value is None:
            raise GraphError(400, "ErrorInvalidParameter", f"The value of the parameter '{name}' is invalid.")
    if len(input_ids) > MAX_TRANSLATE_IDS:
        raise GraphError(400, "ErrorInvalidParameter",
                         f"The number of ids exceeds the maximum of {MAX_TRANSLATE_IDS} per request.")
    results = []
    for source in input_ids:
        item = _item_of(request.world, request.address, source, str(source_type))
        if item is None:
            results.append({"sourceId": source, "errorDetails": {
                "code": "ErrorInvalidIdMalformed" if not _REST_ID.match(source.replace("+", "-").replace("/", "_"))
                else "ErrorItemNotFound",
                "message": "Id is malformed." if not _REST_ID.match(source.replace("+", "-").replace("/", "_"))
                else "The specified object was not found in the store."}})
        else:
            results.append({"sourceId": source, "targetId": _as(item, str(target_type))})
    return json_response(200, {"@odata.context": f"{request.base_url}/v1.0/$metadata#Collection(microsoft.graph."
                                                 f"convertIdResult)", "value": results})

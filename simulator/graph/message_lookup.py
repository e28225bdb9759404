"""Finding a mailbox's messages and mail folders by their Graph ids and well-known names."""

from __future__ import annotations

from typing import Any

from simulator.mailstore import Folder, Item

from .message_fields import rest_id, store_id
from .wire import GraphError, GraphRequest, item_not_found

# The mail folders Graph names by well-known name (mailFolder-id), as the store names its distinguished folders.
WELL_KNOWN_MAIL_FOLDERS = frozenset({"inbox", "drafts", "sentitems", "deleteditems", "outbox", "msgfolderroot"})
# Folders whose items are not the user's mail (the dumpster); GET /messages does not list them.
_HIDDEN_PREFIX = "recoverableitems"


def message_id(request: GraphRequest, item: Item) -> str:
    """The Graph id of a message, as this request asks for it (Prefer: IdType)."""
    return rest_id(item.id)


def find_message(world: Any, address: str, graph_id: str) -> Item:
    """The live message with that Graph id in the mailbox, or Graph's 404."""
    item = world.mailstore.item(address, store_id(graph_id))
    if item is None or item.kind != "message":
        raise item_not_found()
    return item


def folder_id(folder: Folder) -> str:
    return rest_id(folder.id)


def find_mail_folder(request: GraphRequest, name_or_id: str) -> Folder:
    """A mail folder by well-known name (case-insensitive) or Graph id, or Graph's 404."""
    store = request.world.mailstore
    folder = store.folder(request.address, name_or_id.lower()) if name_or_id.lower() in WELL_KNOWN_MAIL_FOLDERS \
        else store.folder(request.address, store_id(name_or_id))
    if folder is None or folder.folder_class not in ("IPF.Note", ""):
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return folder


def mail_folders(request: GraphRequest) -> list[Folder]:
    """Every folder whose messages GET /messages lists (not the dumpster)."""
    mailbox = request.world.mailstore.mailbox(request.address)
    hidden = {fid for name, fid in mailbox.distinguished.items() if name.startswith(_HIDDEN_PREFIX)}
    return [f for f in mailbox.folders.values() if f.id not in hidden]

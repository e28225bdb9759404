"""Finding a mailbox's messages and mail folders by Graph id (``ids.py``: REST or immutable) or well-known name."""

from __future__ import annotations

from typing import Any

from simulator.mailstore import Folder, Item

from . import ids
from .wire import GraphRequest, item_not_found

# Folders whose items are not the user's mail (the dumpster); GET /messages does not list them.
_HIDDEN_PREFIX = "recoverableitems"
_MAIL_FOLDER_CLASSES = ("IPF.Note", "")


def message_id(request: GraphRequest, item: Item) -> str:
    """The Graph id of a message, as this request asks for it (``Prefer: IdType="ImmutableId"`` or the restId)."""
    return ids.graph_id(request.address, item, request.prefer.immutable_ids)


def find_message(world: Any, address: str, graph_id: str) -> Item:
    """The live message a Graph id names (either id form), 404 ``ErrorItemNotFound`` or 400 for a malformed id."""
    item = ids.find_item(world, address, graph_id)
    if item.kind != "message":
        raise item_not_found()
    return item


def find_mail_folder(request: GraphRequest, name_or_id: str) -> Folder:
    """A mail folder by well-known name (``drafts``, ``sentitems``, ``inbox``...; any case) or Graph id."""
    folder = ids.find_folder(request.world, request.address, name_or_id)
    if folder.folder_class not in _MAIL_FOLDER_CLASSES or (folder.distinguished or "").startswith(_HIDDEN_PREFIX):
        raise item_not_found()
    return folder


def folder_id(folder: Folder) -> str:
    return ids.folder_graph_id(folder)


def mail_folders(request: GraphRequest) -> list[Folder]:
    """Every folder whose messages GET /messages lists (not the dumpster)."""
    mailbox = request.world.mailstore.mailbox(request.address)
    return [f for f in mailbox.folders.values() if not (f.distinguished or "").startswith(_HIDDEN_PREFIX)]

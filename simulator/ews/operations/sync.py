"""SyncFolderItems: net changes since an opaque sync state, MaxChangesReturned at a time."""

from __future__ import annotations

from lxml import etree

from simulator.mailstore import InvalidSyncState

from .. import soap
from ..context import RequestContext
from ..lookup import FOLDER_NOT_FOUND, ItemError, resolve_folder
from ..render import render_item, view_of
from ..shape import parse_shape
from ..soap import m, sub, t

INVALID_STATE_TEXT = "Synchronization state data is corrupt or otherwise invalid."


def _error(messages: etree._Element, code: str, text: str) -> None:
    # Exchange writes an empty SyncState and IncludesLastItemInRange even on errors (exchangelib relies on them).
    message = soap.response_message(messages, "SyncFolderItems", code, text)
    sub(message, m("SyncState"))
    sub(message, m("IncludesLastItemInRange"), "true")


def sync_folder_items(context: RequestContext, request: etree._Element) -> etree._Element:
    """Answer one page of changes; IncludesLastItemInRange says whether the folder is fully reported."""
    shape = parse_shape(request.find(m("ItemShape")))
    root, messages = soap.response_root("SyncFolderItems")
    folder_node = request.find(m("SyncFolderId"))
    try:
        if folder_node is None or not len(folder_node):
            raise ItemError(*FOLDER_NOT_FOUND)  # only a lenient simulator lets such a request through
        folder = resolve_folder(context, folder_node[0])
    except ItemError as error:
        _error(messages, error.code, error.text)
        return root
    state = (request.findtext(m("SyncState")) or "").strip() or None
    limit = int(request.findtext(m("MaxChangesReturned")) or "512")
    ignored = {n.get("Id") for n in request.find(m("Ignore"))} if request.find(m("Ignore")) is not None else set()
    if context.fault is not None and context.fault.kind == "invalid_sync_state":
        _error(messages, "ErrorInvalidSyncStateData", INVALID_STATE_TEXT)
        return root
    try:
        changes, new_state, last = context.store.changes(context.address, folder.id, state, limit)
    except InvalidSyncState:
        _error(messages, "ErrorInvalidSyncStateData", INVALID_STATE_TEXT)
        return root
    mailbox = context.store.mailbox(context.address)
    message = soap.response_message(messages, "SyncFolderItems")
    sub(message, m("SyncState"), new_state)
    sub(message, m("IncludesLastItemInRange"), "true" if last else "false")
    container = sub(message, m("Changes"))
    for change in changes:
        if change.item_id in ignored:
            continue
        node = sub(container, t(change.kind))
        if change.kind in ("Create", "Update"):
            render_item(node, view_of(change.item, mailbox.display_name, mailbox.address), shape,
                        folder.change_key, folder.id)
        elif change.kind == "Delete":
            sub(node, t("ItemId"), Id=change.item_id)
        else:
            sub(node, t("ItemId"), Id=change.item_id, ChangeKey=change.item.change_key)
            sub(node, t("IsRead"), "true" if change.item.fields.get("is_read") else "false")
    return root

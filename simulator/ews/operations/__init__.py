"""EWS operations by name: each takes the request context and the request element, returns the response element."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from ..context import RequestContext
from .attachments import create_attachment, get_attachment
from .find import find_item
from .folders import find_folder, get_folder
from .items import create_item, delete_item, get_item, update_item
from .sending import send_item
from .sync import sync_folder_items

Operation = Callable[[RequestContext, etree._Element], etree._Element]

OPERATIONS: dict[str, Operation] = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "SyncFolderItems": sync_folder_items,
    "GetItem": get_item,
    "FindItem": find_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "SendItem": send_item,
    "CreateAttachment": create_attachment,
    "GetAttachment": get_attachment,
}

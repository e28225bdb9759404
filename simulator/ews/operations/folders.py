"""GetFolder and FindFolder over the distinguished folders of the impersonated mailbox."""

from __future__ import annotations

from lxml import etree

from simulator.mailstore import Folder

from .. import soap
from ..context import RequestContext
from ..lookup import ItemError, resolve_folder
from ..soap import m, sub, t

_FOLDER_ELEMENT = {"IPF.Contact": "ContactsFolder", "IPF.Appointment": "CalendarFolder"}
_ID_ONLY = ("FolderId",)
_DEFAULT = ("FolderId", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount")
_ALL = ("FolderId", "ParentFolderId", "FolderClass", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount")
_URI_TO_FIELD = {"folder:FolderId": "FolderId", "folder:ParentFolderId": "ParentFolderId",
                 "folder:FolderClass": "FolderClass", "folder:DisplayName": "DisplayName",
                 "folder:TotalCount": "TotalCount", "folder:ChildFolderCount": "ChildFolderCount",
                 "folder:UnreadCount": "UnreadCount", "folder:EffectiveRights": "EffectiveRights",
                 "folder:DistinguishedFolderId": "DistinguishedFolderId"}


def requested_fields(shape: etree._Element | None) -> set[str]:
    """Return the folder fields a FolderShape asks for (base shape plus additional FieldURIs we keep)."""
    base = shape.findtext(t("BaseShape")) if shape is not None else "Default"
    fields = set({"IdOnly": _ID_ONLY, "AllProperties": _ALL}.get(base or "", _DEFAULT))
    if shape is not None:
        for uri in shape.iterfind(f"{t('AdditionalProperties')}/{t('FieldURI')}"):
            field = _URI_TO_FIELD.get(uri.get("FieldURI", ""))
            if field:
                fields.add(field)
    return fields


def render_folder(context: RequestContext, parent: etree._Element, folder: Folder, fields: set[str]) -> None:
    """Append a folder element with the requested fields in the schema's order."""
    element_name = _FOLDER_ELEMENT.get(folder.folder_class, "Folder")
    node = sub(parent, t(element_name))
    sub(node, t("FolderId"), Id=folder.id, ChangeKey=folder.change_key)
    if "ParentFolderId" in fields and folder.parent_id:
        parent_folder = context.store.folder(context.address, folder.parent_id)
        sub(node, t("ParentFolderId"), Id=folder.parent_id, ChangeKey=parent_folder.change_key if parent_folder else "")
    if "FolderClass" in fields and folder.folder_class:
        sub(node, t("FolderClass"), folder.folder_class)
    if "DisplayName" in fields:
        sub(node, t("DisplayName"), folder.name)
    if "TotalCount" in fields:
        sub(node, t("TotalCount"), str(len(folder.items)))
    if "ChildFolderCount" in fields:
        sub(node, t("ChildFolderCount"), str(len(context.store.child_folders(context.address, folder.id))))
    if "EffectiveRights" in fields:
        rights = sub(node, t("EffectiveRights"))
        for name in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read",
                     "ViewPrivateItems"):
            sub(rights, t(name), "true")
    if "DistinguishedFolderId" in fields and folder.distinguished:
        sub(node, t("DistinguishedFolderId"), folder.distinguished)
    if "UnreadCount" in fields and element_name == "Folder":
        unread = sum(1 for item in folder.items.values() if item.kind == "message" and not item.fields.get("is_read"))
        sub(node, t("UnreadCount"), str(unread))


def get_folder(context: RequestContext, request: etree._Element) -> etree._Element:
    """GetFolder: one response message per requested folder id, an error message for ids naming no folder."""
    fields = requested_fields(request.find(m("FolderShape")))
    root, messages = soap.response_root("GetFolder")
    for node in request.find(m("FolderIds")):
        try:
            folder = resolve_folder(context, node)
        except ItemError as error:
            message = soap.response_message(messages, "GetFolder", error.code, error.text)
            sub(message, m("Folders"))  # empty on errors, as Exchange writes it
            continue
        message = soap.response_message(messages, "GetFolder")
        render_folder(context, sub(message, m("Folders")), folder, fields)
    return root


def find_folder(context: RequestContext, request: etree._Element) -> etree._Element:
    """FindFolder: the folders under each parent (Shallow), or the whole subtree (Deep)."""
    fields = requested_fields(request.find(m("FolderShape")))
    deep = request.get("Traversal") == "Deep"
    root, messages = soap.response_root("FindFolder")
    for node in request.find(m("ParentFolderIds")):
        try:
            parent = resolve_folder(context, node)
        except ItemError as error:
            soap.response_message(messages, "FindFolder", error.code, error.text)
            continue
        found, queue = [], [parent]
        while queue:
            children = context.store.child_folders(context.address, queue.pop(0).id)
            found.extend(children)
            if deep:
                queue.extend(children)
        message = soap.response_message(messages, "FindFolder")
        result = sub(message, m("RootFolder"), IndexedPagingOffset=str(len(found)), TotalItemsInView=str(len(found)),
                     IncludesLastItemInRange="true")
        folders = sub(result, t("Folders"))
        for folder in found:
            render_folder(context, folders, folder, fields)
    return root

"""GetItem, CreateItem, UpdateItem and DeleteItem."""

from __future__ import annotations

from typing import Any

from lxml import etree

from simulator.mailstore.fields import normalize_contact, normalize_event, normalize_message

from .. import soap
from ..attachments import parse_attachments
from ..context import RequestContext
from ..lookup import ItemError, Target, item_ids, resolve, resolve_folder, view_for
from ..parse import KIND_OF_ELEMENT, deletion, merge, parse_properties
from ..render import render_attachments, render_item
from ..shape import ID_ONLY, parse_shape
from ..soap import m, sub, t
from ..values import extended_key
from .sending import record_meeting_mail, send_message, take_send_slot

_NORMALIZE = {"contact": normalize_contact, "event": normalize_event, "message": normalize_message}
_DEFAULT_FOLDER = {"contact": "contacts", "event": "calendar", "message": "drafts"}
_STALE = ("The send or update operation could not be performed because the change key passed in the request does "
          "not match the current change key for the item.")


def tz_context(context: RequestContext) -> str | None:
    """Return the Windows time zone of the request's TimeZoneContext header (for naive datetimes)."""
    if context.header is None:
        return None
    node = context.header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}")
    return node.get("Id") if node is not None else None


def _error(messages: etree._Element, operation: str, error: ItemError) -> None:
    message = soap.response_message(messages, operation, error.code, error.text)
    if operation != "DeleteItem":
        sub(message, m("Items"))  # ItemInfoResponseMessageType requires it, empty on errors (as Exchange writes it)


def get_item(context: RequestContext, request: etree._Element) -> etree._Element:
    """GetItem: each id in its own response message, rendered with the requested shape."""
    shape = parse_shape(request.find(m("ItemShape")))
    root, messages = soap.response_root("GetItem")
    for node in item_ids(request.find(m("ItemIds"))):
        try:
            target = resolve(context, node)
        except ItemError as error:
            _error(messages, "GetItem", error)
            continue
        message = soap.response_message(messages, "GetItem")
        folder = context.store.mailbox(context.address).folders[target.item.folder_id]
        render_item(sub(message, m("Items")), view_for(context, target), shape, folder.change_key, folder.id)
    return root


def _target_folder(context: RequestContext, request: etree._Element, kind: str) -> Any:
    saved = request.find(m("SavedItemFolderId"))
    if saved is not None and len(saved):
        return resolve_folder(context, saved[0])
    return context.store.folder(context.address, _DEFAULT_FOLDER[kind])


def create_item(context: RequestContext, request: etree._Element) -> etree._Element:
    """CreateItem: contacts, calendar items (meeting invitations) and messages (save, send, send and save)."""
    disposition = request.get("MessageDisposition", "SaveOnly")
    invitations = request.get("SendMeetingInvitations", "SendToAllAndSaveCopy")
    root, messages = soap.response_root("CreateItem")
    items = request.find(m("Items"))
    sent_before = False
    for node in (items if items is not None else []):
        kind = KIND_OF_ELEMENT.get(etree.QName(node).localname)
        try:
            if etree.QName(node).localname == "CancelCalendarItem":
                cancelled = _cancel_meeting(context, node)
                message = soap.response_message(messages, "CreateItem")
                render_item(sub(message, m("Items")), view_for(context, Target(cancelled)), ID_ONLY)
                continue
            if kind is None:
                raise ItemError("ErrorInvalidRequest", "The request is invalid.")
            fields, extended = parse_properties(node, kind, tz_context(context))
            fields = _NORMALIZE[kind](merge({}, fields))
            # Attachments inside CreateItem are created with the item, in one step (exchangelib sends them so
            # for Exchange 2013 and later): the item never exists without them.
            attachments = parse_attachments(node.find(t("Attachments")), context.address)
            if attachments:
                fields["attachments"] = attachments
            if kind == "event" and not (fields.get("start") and fields.get("end")):
                raise ItemError("ErrorInvalidRequest", "A calendar item needs Start and End.")
            if kind == "message" and disposition != "SaveOnly":
                try:
                    take_send_slot(context)
                except soap.SoapFault as throttled:
                    if not sent_before:
                        raise
                    # Earlier messages of this request left: say so per message, so a retry resends only this one.
                    raise ItemError(throttled.code, throttled.message) from None
                sent_before = True
                save_to = None
                if disposition == "SendAndSaveCopy":
                    named = request.find(m("SavedItemFolderId")) is not None
                    save_to = _target_folder(context, request, "message") if named else \
                        context.store.folder(context.address, "sentitems")
                send_message(context, fields, extended, save_to)
                message = soap.response_message(messages, "CreateItem")
                sub(message, m("Items"))  # Exchange returns no item for a sent message
                continue
            folder = _target_folder(context, request, kind)
            if kind == "message":
                fields.setdefault("is_draft", True)  # a message saved, not sent, is a draft
            if kind == "event" and fields.get("attendees") and invitations != "SendToNone":
                fields["invitations_sent"] = True
                record_meeting_mail(context, fields, extended, "request")
            created = context.store.create_item(context.address, folder.id, kind, fields, extended)
        except ItemError as error:
            _error(messages, "CreateItem", error)
            continue
        message = soap.response_message(messages, "CreateItem")
        node = render_item(sub(message, m("Items")), view_for(context, Target(created)), ID_ONLY)
        if created.fields.get("attachments"):
            # Exchange answers the new attachments' ids with the item (schema order: right after ItemId).
            holder = render_attachments(node, created.fields["attachments"], ids_only=True)
            node.remove(holder)
            node.insert(1, holder)
    return root


def _cancel_meeting(context: RequestContext, node: etree._Element) -> Any:
    """The organizer cancels a meeting: attendees get the cancellation and the event goes to Deleted Items."""
    target = resolve(context, node.find(t("ReferenceItemId")))
    if target.item.kind != "event":
        raise ItemError("ErrorInvalidReferenceItem", "The reference item does not support the requested operation.")
    fields = dict(target.item.fields)
    body = node.find(t("NewBodyContent"))
    if body is not None:
        fields["body"], fields["body_type"] = body.text or "", body.get("BodyType", "Text")
    record_meeting_mail(context, fields, target.item.extended, "cancellation")
    context.store.update_item(context.address, target.item.id, {"is_cancelled": True})
    trash = context.store.folder(context.address, "deleteditems")
    return context.store.move_item(context.address, target.item.id, trash.id)


def _apply_updates(context: RequestContext, target: Target, updates: etree._Element) -> tuple[dict, list, dict, list]:
    kind = target.item.kind
    current = target.item.fields
    set_fields: dict[str, Any] = {}
    delete_fields: list[str] = []
    set_extended: dict[str, Any] = {}
    delete_extended: list[str] = []
    for update in updates:
        action = etree.QName(update).localname
        path = update[0]
        if etree.QName(path).localname == "ExtendedFieldURI":
            key = extended_key(path)
            if action == "DeleteItemField":
                delete_extended.append(key)
            else:
                _, extended = parse_properties(update[1], kind, tz_context(context))
                set_extended.update(extended)
            continue
        if action == "DeleteItemField":
            changed, deleted = deletion(path, {**current, **set_fields})
            set_fields.update(changed)
            delete_fields.extend(deleted)
            continue
        changes, _ = parse_properties(update[1], kind, tz_context(context))
        if action == "AppendToItemField":
            for key, value in changes.items():
                existing = set_fields.get(key, current.get(key))
                if isinstance(value, str):
                    changes[key] = (existing or "") + value
                elif isinstance(value, list) and not key.startswith("attendees:"):
                    changes[key] = list(existing or []) + value
                elif key.startswith("attendees:"):
                    kept = [a for a in current.get("attendees") or [] if a.get("type") == key.split(":", 1)[1]]
                    changes[key] = kept + value
        set_fields.update(merge({**current, **set_fields}, changes))
    return set_fields, delete_fields, set_extended, delete_extended


def update_item(context: RequestContext, request: etree._Element) -> etree._Element:
    """UpdateItem with ChangeKey concurrency: a stale key is a conflict unless ConflictResolution is AlwaysOverwrite."""
    resolution = request.get("ConflictResolution", "AutoResolve")
    notify = request.get("SendMeetingInvitationsOrCancellations", "SendToAllAndSaveCopy")
    root, messages = soap.response_root("UpdateItem")
    for change in request.find(m("ItemChanges")):
        try:
            id_node = change[0]
            target = resolve(context, id_node)
            given_key = id_node.get("ChangeKey")
            if given_key and given_key != target.item.change_key and resolution != "AlwaysOverwrite":
                raise ItemError("ErrorIrresolvableConflict", _STALE)
            set_fields, delete_fields, set_extended, delete_extended = _apply_updates(
                context, target, change.find(t("Updates")))
            if target.original_start_key is not None:
                set_fields, delete_fields = _as_exception(target, set_fields), []
            elif "recurrence" in set_fields or "recurrence" in delete_fields:
                # A new pattern replaces the series: Exchange drops its exceptions and deleted occurrences.
                set_fields.update({"modified_occurrences": {}, "deleted_occurrences": []})
            item = context.store.update_item(context.address, target.item.id, set_fields, delete_fields,
                                             set_extended, delete_extended)
            if item.kind == "event" and item.fields.get("attendees") and notify not in ("SendToNone",):
                record_meeting_mail(context, item.fields, item.extended, "update")
        except ItemError as error:
            _error(messages, "UpdateItem", error)
            continue
        message = soap.response_message(messages, "UpdateItem")
        render_item(sub(message, m("Items")), view_for(context, target), ID_ONLY)
        sub(sub(message, m("ConflictResults")), t("Count"), "0")
    return root


def _as_exception(target: Target, set_fields: dict[str, Any]) -> dict[str, Any]:
    """Turn changes to one occurrence into an exception of the series (the master keeps the rest)."""
    modified = {k: dict(v) for k, v in (target.item.fields.get("modified_occurrences") or {}).items()}
    overrides = modified.setdefault(target.original_start_key, {})
    overrides.update({k: v for k, v in set_fields.items() if k != "recurrence"})
    return {"modified_occurrences": modified}


def delete_item(context: RequestContext, request: etree._Element) -> etree._Element:
    """DeleteItem: HardDelete/SoftDelete remove, MoveToDeletedItems moves; meeting cancellations when asked."""
    delete_type = request.get("DeleteType", "MoveToDeletedItems")
    cancellations = request.get("SendMeetingCancellations")
    root, messages = soap.response_root("DeleteItem")
    for node in item_ids(request.find(m("ItemIds"))):
        try:
            target = resolve(context, node)
            item = target.item
            if item.kind == "event" and cancellations is None:
                raise ItemError("ErrorSendMeetingCancellationsRequired",
                                "The SendMeetingCancellations attribute is required for calendar items.")
            if item.kind == "event" and item.fields.get("attendees") and cancellations != "SendToNone":
                record_meeting_mail(context, item.fields, item.extended, "cancellation")
            if target.original_start_key is not None:
                deleted = [*(item.fields.get("deleted_occurrences") or []), target.original_start_key]
                modified = dict(item.fields.get("modified_occurrences") or {})
                modified.pop(target.original_start_key, None)
                context.store.update_item(context.address, item.id, {"deleted_occurrences": deleted,
                                                                     "modified_occurrences": modified})
            elif delete_type in ("MoveToDeletedItems", "SoftDelete"):
                # Deleted Items, then the dumpster (Recoverable Items\Deletions) on a second or a soft delete.
                trash = context.store.folder(context.address, "deleteditems")
                dumpster = context.store.folder(context.address, "recoverableitemsdeletions")
                target_folder = trash if delete_type == "MoveToDeletedItems" and item.folder_id != trash.id else dumpster
                if dumpster is None or item.folder_id == dumpster.id:
                    context.store.delete_item(context.address, item.id)
                else:
                    context.store.move_item(context.address, item.id, target_folder.id)
            else:
                context.store.delete_item(context.address, item.id)
        except ItemError as error:
            _error(messages, "DeleteItem", error)
            continue
        soap.response_message(messages, "DeleteItem")
    return root

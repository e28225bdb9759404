"""Sending mail: the 30-a-minute limit, the outbound log, the copy in Sent Items, and SendItem for drafts."""

from __future__ import annotations

import uuid
from typing import Any

from lxml import etree

from simulator.mailstore import Folder
from simulator.mailstore.attachments import new_attachment_id
from simulator.mailstore.fields import normalize_message
from simulator.mailstore.records import now_utc

from .. import soap
from ..context import RequestContext
from ..lookup import ItemError, item_ids, resolve, resolve_folder
from ..soap import m

# Exchange Online throttles a mailbox past its message rate; EWS reports a budget overrun as ErrorServerBusy with a
# back-off, and nothing is submitted, so the client may retry the same send safely.
_SEND_LIMIT_TEXT = "The server cannot service this request right now. Try again later."
SEND_LIMIT_BACK_OFF_MS = 60000


def take_send_slot(context: RequestContext) -> None:
    """Claim one submission in the mailbox's per-minute budget or raise the throttling fault (nothing sent)."""
    forced = context.fault is not None and context.fault.kind == "send_limit"
    if forced or not context.world.faults.take_send_slot(context.address):
        back_off = context.fault.back_off_ms if forced else SEND_LIMIT_BACK_OFF_MS
        raise soap.SoapFault("ErrorServerBusy", _SEND_LIMIT_TEXT, {"BackOffMilliseconds": str(back_off)})


def send_message(context: RequestContext, fields: dict[str, Any], extended: dict[str, Any],
                 save_to: Folder | None) -> dict[str, Any]:
    """Submit a message: log it as sent and, when asked, keep a copy (Sent Items unless another folder is named)."""
    mailbox = context.store.mailbox(context.address)
    sent = dict(fields)
    sent.setdefault("internet_message_id", f"<{uuid.uuid4().hex}@{mailbox.address.split('@')[-1]}>")
    sent["from"] = sent.get("from") or {"email": mailbox.address, "name": mailbox.display_name}
    sent["sent_at"] = now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
    sent["is_read"] = True
    sent["is_draft"] = False
    entry = context.store.record_sent(context.address, sent, extended)
    if save_to is not None:
        # The copy in Sent Items is a new item: its attachments get ids of their own, as in Exchange.
        copy = dict(sent)
        if sent.get("attachments"):
            copy["attachments"] = [{**a, "id": new_attachment_id(mailbox.address)} for a in sent["attachments"]]
        context.store.create_item(context.address, save_to.id, "message", copy, extended)
    return entry


def record_meeting_mail(context: RequestContext, fields: dict[str, Any], extended: dict[str, Any], what: str) -> None:
    """Log the meeting request, update or cancellation Exchange sends to the attendees of an organizer's event."""
    prefix = {"request": "", "update": "Updated: ", "cancellation": "Canceled: "}[what]
    recipients = [{"email": a["email"], "name": a.get("name") or a["email"]} for a in fields.get("attendees") or []]
    context.store.record_sent(context.address, {
        "to": recipients, "subject": prefix + fields.get("subject", ""), "body": fields.get("body", ""),
        "body_type": fields.get("body_type", "Text"), "meeting": what, "uid": fields.get("uid"),
    }, extended)


def send_item(context: RequestContext, request: etree._Element) -> etree._Element:
    """SendItem: send drafts; SaveItemToFolder keeps the sent copy (in SavedItemFolderId or Sent Items)."""
    save = request.get("SaveItemToFolder", "true").lower() == "true"
    saved = request.find(m("SavedItemFolderId"))
    root, messages = soap.response_root("SendItem")
    sent_before = False
    for node in item_ids(request.find(m("ItemIds"))):
        try:
            target = resolve(context, node)
            if target.item.kind != "message":
                raise ItemError("ErrorInvalidItemForOperationSendItem", "The item is not a message that can be sent.")
            folder = None
            if save:
                folder = resolve_folder(context, saved[0]) if saved is not None and len(saved) else \
                    context.store.folder(context.address, "sentitems")
            try:
                take_send_slot(context)
            except soap.SoapFault as throttled:
                if not sent_before:
                    raise
                raise ItemError(throttled.code, throttled.message) from None  # the earlier drafts did leave
            sent_before = True
            send_message(context, normalize_message(target.item.fields, partial=True), target.item.extended, folder)
            context.store.delete_item(context.address, target.item.id)
        except ItemError as error:
            soap.response_message(messages, "SendItem", error.code, error.text)
            continue
        soap.response_message(messages, "SendItem")
    return root

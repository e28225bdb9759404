"""Graph's message and fileAttachment JSON <-> the store's message fields (``mailstore.fields`` vocabulary).

Parsing refuses what Graph refuses (unknown properties, wrong types, attachments that are not files or exceed the
inline limit) with 400/413; rendering writes the properties Graph returns for a message, in its spelling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any
from urllib.parse import quote

from simulator.mailstore import Item
from simulator.mailstore.attachments import file_attachment

from . import ids
from .extended import parse_single_values, render_single_values
from .wire import GraphError

# outlook-large-attachments.md: a single POST carries files under 3 MB; larger ones need an upload session.
INLINE_ATTACHMENT_LIMIT = 3 * 1024 * 1024
FILE_ATTACHMENT_TYPE = "#microsoft.graph.fileAttachment"

_RECIPIENT_FIELDS = {"toRecipients": "to", "ccRecipients": "cc", "bccRecipients": "bcc", "replyTo": "reply_to"}
_IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}  # stored in EWS's spelling
_BODY_TYPES = {"text": "Text", "html": "HTML"}
# Properties a client may write on a message (create, PATCH, sendMail); the rest are the server's.
WRITABLE = frozenset({*_RECIPIENT_FIELDS, "subject", "body", "importance", "categories", "isRead", "from", "sender",
                      "internetMessageHeaders", "isDeliveryReceiptRequested", "isReadReceiptRequested",
                      "singleValueExtendedProperties", "attachments", "flag", "inferenceClassification"})
# Properties a message has in Graph ($select accepts these; "id" is always returned).
READABLE = frozenset({*WRITABLE, "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "receivedDateTime",
                      "sentDateTime", "hasAttachments", "internetMessageId", "bodyPreview", "parentFolderId",
                      "conversationId", "isDraft", "webLink", "uniqueBody"}) - {"attachments",
                                                                                 "singleValueExtendedProperties"}
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def body_error(message: str) -> GraphError:
    """Graph's answer for a request body it cannot read into a message."""
    return GraphError(400, "RequestBodyRead", message)


def _person(value: Any, where: str) -> dict[str, str]:
    address = value.get("emailAddress") if isinstance(value, dict) else None
    if not isinstance(address, dict) or not isinstance(address.get("address"), str) or not address["address"]:
        raise body_error(f"Each entry of {where} needs emailAddress.address.")
    name = address.get("name")
    return {"email": address["address"], "name": name if isinstance(name, str) and name else address["address"]}


def parse_message(body: Any, address: str, *, partial: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    """Return store fields and extended properties for a Graph message body (a PATCH body when ``partial``)."""
    if not isinstance(body, dict):
        raise body_error("The request body must be a JSON object describing a message.")
    fields: dict[str, Any] = {}
    extended: dict[str, str] = {}
    for name, value in body.items():
        if name.startswith("@odata."):
            continue
        if name not in WRITABLE:
            raise body_error(f"The property '{name}' does not exist on type 'microsoft.graph.message' or is "
                             "read-only.")
        if name in _RECIPIENT_FIELDS:
            if not isinstance(value, list):
                raise body_error(f"{name} must be an array of recipients.")
            fields[_RECIPIENT_FIELDS[name]] = [_person(entry, name) for entry in value]
        elif name in ("from", "sender"):
            if value is not None:
                fields["from"] = _person(value, name)
        elif name == "subject":
            fields["subject"] = _text(value, name)
        elif name == "body":
            if not isinstance(value, dict):
                raise body_error("body must be an itemBody object {contentType, content}.")
            kind = str(value.get("contentType") or "text").lower()
            if kind not in _BODY_TYPES:
                raise body_error(f"body.contentType must be text or html, not '{value.get('contentType')}'.")
            fields["body"], fields["body_type"] = _text(value.get("content"), "body.content"), _BODY_TYPES[kind]
        elif name == "importance":
            if not isinstance(value, str) or value.lower() not in _IMPORTANCE:
                raise body_error("importance must be low, normal or high.")
            fields["importance"] = _IMPORTANCE[value.lower()]
        elif name == "categories":
            if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                raise body_error("categories must be an array of strings.")
            fields["categories"] = list(value)
        elif name in ("isRead", "isDeliveryReceiptRequested", "isReadReceiptRequested"):
            if not isinstance(value, bool):
                raise body_error(f"{name} must be true or false.")
            fields[{"isRead": "is_read", "isDeliveryReceiptRequested": "delivery_receipt",
                    "isReadReceiptRequested": "read_receipt"}[name]] = value
        elif name == "internetMessageHeaders":
            if not isinstance(value, list) or not all(
                    isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str)
                    for h in value):
                raise body_error("internetMessageHeaders must be an array of {name, value}.")
            fields["internet_message_headers"] = [{"name": h["name"], "value": h["value"]} for h in value]
        elif name == "singleValueExtendedProperties":
            extended.update(parse_single_values(value))
        elif name == "attachments":
            if partial:
                raise body_error("Attachments are added with POST .../attachments, not by updating the message.")
            if not isinstance(value, list):
                raise body_error("attachments must be an array of fileAttachment objects.")
            fields["attachments"] = [parse_file_attachment(entry, address) for entry in value]
        # flag and inferenceClassification are accepted and not kept: nothing the product reads depends on them.
    return fields, extended


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise body_error(f"{where} must be a string.")
    return value


def parse_file_attachment(entry: Any, address: str) -> dict[str, Any]:
    """Return a store attachment record for a Graph fileAttachment (base64 contentBytes, under 3 MB)."""
    if not isinstance(entry, dict):
        raise body_error("An attachment must be a JSON object.")
    odata_type = entry.get("@odata.type")
    if not isinstance(odata_type, str) or odata_type.lstrip("#").lower() != FILE_ATTACHMENT_TYPE[1:].lower():
        raise GraphError(400, "ErrorInvalidRequest" if odata_type else "RequestBodyRead",
                         "Only file attachments (@odata.type #microsoft.graph.fileAttachment) are supported here."
                         if odata_type else "An attachment needs @odata.type #microsoft.graph.fileAttachment.")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise GraphError(400, "ErrorInvalidAttachmentName", "The attachment name is invalid or missing.")
    encoded = entry.get("contentBytes")
    if not isinstance(encoded, str):
        raise body_error("A file attachment needs contentBytes (base64).")
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise body_error("contentBytes is not valid base64.") from None
    if len(content) > INLINE_ATTACHMENT_LIMIT:
        raise GraphError(413, "RequestEntityTooLarge",
                         "The request size exceeds the maximum limit. Attach files of 3 MB or more with "
                         "createUploadSession.")
    content_type = entry.get("contentType")
    content_id = entry.get("contentId")
    return file_attachment(address, name, content_type if isinstance(content_type, str) else "", content,
                           is_inline=entry.get("isInline") is True,
                           content_id=content_id if isinstance(content_id, str) else None)


# --- rendering -------------------------------------------------------------------------------------------------
def _recipient(person: dict[str, str]) -> dict[str, Any]:
    return {"emailAddress": {"name": person.get("name") or person["email"], "address": person["email"]}}


def _instant(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def preview(fields: dict[str, Any]) -> str:
    """bodyPreview: the first 255 characters of the body as text."""
    text = fields.get("body") or ""
    if fields.get("body_type") == "HTML":
        text = _TAGS.sub(" ", text)
    return _SPACE.sub(" ", text).strip()[:255]


def _conversation_id(item: Item) -> str:
    """A stable conversation id per message (the simulator threads nothing: each message is its own conversation)."""
    digest = hashlib.sha256(item.immutable_id.encode()).digest()[:16]
    return "AAQk" + base64.urlsafe_b64encode(digest).decode()


def _conversation_index(item: Item) -> str:
    """Outlook's 22-byte conversation index header (reserved byte, FILETIME-ish time, GUID), base64."""
    return base64.b64encode(b"\x01" + hashlib.sha256(item.immutable_id.encode()).digest()[:21]).decode()


def render_message(item: Item, message_id: str, folder_id: str, *, select: frozenset[str] | None = None,
                   extended_keys: list[str] | None = None) -> dict[str, Any]:
    """A message as Graph returns it; ``select`` limits the properties; ``extended_keys`` (an $expand of
    singleValueExtendedProperties) adds those extended properties."""
    fields = item.fields
    attachments = fields.get("attachments") or []
    everything: dict[str, Any] = {
        "createdDateTime": _instant(item.created), "lastModifiedDateTime": _instant(item.modified),
        "changeKey": item.change_key, "categories": list(fields.get("categories") or []),
        "receivedDateTime": _instant(fields.get("sent_at") or item.created),
        "sentDateTime": _instant(fields.get("sent_at")),
        "hasAttachments": any(not a.get("is_inline") for a in attachments),
        "internetMessageId": fields.get("internet_message_id"), "subject": fields.get("subject", ""),
        "bodyPreview": preview(fields), "importance": str(fields.get("importance") or "Normal").lower(),
        "parentFolderId": folder_id, "conversationId": _conversation_id(item),
        "conversationIndex": _conversation_index(item),
        "isDeliveryReceiptRequested": bool(fields.get("delivery_receipt", False)),
        "isReadReceiptRequested": bool(fields.get("read_receipt", False)),
        "isRead": bool(fields.get("is_read", False)), "isDraft": bool(fields.get("is_draft", False)),
        "webLink": f"https://outlook.office365.com/owa/?ItemID={quote(message_id, safe='')}&exvsurl=1"
                   "&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "body": {"contentType": "html" if fields.get("body_type") == "HTML" else "text",
                 "content": fields.get("body") or ""},
        "toRecipients": [_recipient(p) for p in fields.get("to") or []],
        "ccRecipients": [_recipient(p) for p in fields.get("cc") or []],
        "bccRecipients": [_recipient(p) for p in fields.get("bcc") or []],
        "replyTo": [_recipient(p) for p in fields.get("reply_to") or []],
        "flag": {"flagStatus": "notFlagged"},
    }
    # A draft nobody has sent yet has no sender: Graph answers null (singlevaluelegacyextendedproperty-get.md).
    everything["sender"] = everything["from"] = _recipient(fields["from"]) if fields.get("from") else None
    if fields.get("internet_message_headers"):
        everything["internetMessageHeaders"] = list(fields["internet_message_headers"])
    message: dict[str, Any] = {"@odata.etag": f'W/"{item.change_key}"', "id": message_id}
    message.update(everything if select is None else {k: v for k, v in everything.items() if k in select})
    if extended_keys is not None:
        message["singleValueExtendedProperties"] = render_single_values(item, extended_keys)
    return message


def render_attachment(record: dict[str, Any], *, with_content: bool = True) -> dict[str, Any]:
    """A stored file attachment as Graph's fileAttachment."""
    rendered: dict[str, Any] = {
        "@odata.type": FILE_ATTACHMENT_TYPE, "@odata.mediaContentType": record["content_type"],
        "id": ids.rest_id(record["id"]), "lastModifiedDateTime": record.get("last_modified"), "name": record["name"],
        "contentType": record["content_type"], "size": record["size"], "isInline": bool(record.get("is_inline")),
        "contentId": record.get("content_id"), "contentLocation": None,
    }
    if with_content:
        rendered["contentBytes"] = record["content"]
    return rendered

"""CreateAttachment (file attachments added to an existing item; the parent gets a new change key), GetAttachment."""

from __future__ import annotations

from lxml import etree

from .. import soap
from ..attachments import parse_attachments
from ..context import RequestContext
from ..lookup import ItemError, resolve
from ..render import render_attachments
from ..soap import m, sub


def create_attachment(context: RequestContext, request: etree._Element) -> etree._Element:
    """One response message per attachment, each naming the attachment and the parent's new change key."""
    root, messages = soap.response_root("CreateAttachment")
    try:
        target = resolve(context, request.find(m("ParentItemId")))
        if target.original_start_key is not None:
            raise ItemError("ErrorInvalidRequest", "Attachments cannot be added to one occurrence of a series.")
        records = parse_attachments(request.find(m("Attachments")), context.address)
    except ItemError as error:
        message = soap.response_message(messages, "CreateAttachment", error.code, error.text)
        sub(message, m("Attachments"))  # AttachmentInfoResponseMessageType requires it, empty on errors
        return root
    item = context.store.add_attachments(context.address, target.item.id, records)
    for record in records:
        message = soap.response_message(messages, "CreateAttachment")
        render_attachments(message, [record], ids_only=True, root=item, tag=m("Attachments"))
    return root


def get_attachment(context: RequestContext, request: etree._Element) -> etree._Element:
    """One response message per requested attachment id, the file attachment with its content."""
    root, messages = soap.response_root("GetAttachment")
    for node in request.find(m("AttachmentIds")):
        record = context.store.attachment(context.address, node.get("Id", ""))
        if record is None:
            message = soap.response_message(messages, "GetAttachment", "ErrorInvalidAttachmentId",
                                            "The attachment id is invalid or the attachment was deleted.")
            sub(message, m("Attachments"))
            continue
        message = soap.response_message(messages, "GetAttachment")
        render_attachments(message, [record], with_content=True, tag=m("Attachments"))
    return root

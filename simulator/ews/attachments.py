"""EWS attachment elements -> the store's attachment records (CreateItem, CreateAttachment); rendering is in render."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from lxml import etree

from simulator.mailstore.attachments import file_attachment

from .lookup import ItemError
from .soap import t

# Exchange Online's default maximum message size (the tenant may raise it to 150 MB); bigger is refused.
MAX_ATTACHMENT_BYTES = 35 * 1024 * 1024


def parse_attachments(container: etree._Element | None, address: str) -> list[dict[str, Any]]:
    """Return store records for the FileAttachments in an Attachments element; other kinds are refused."""
    records: list[dict[str, Any]] = []
    for node in container if container is not None else []:
        kind = etree.QName(node).localname
        if kind != "FileAttachment":
            # Item and reference attachments exist in EWS; nothing the product sends uses them.
            raise ItemError("ErrorInvalidRequest", f"The request is invalid: {kind} is not supported here.")
        try:
            content = base64.b64decode(node.findtext(t("Content")) or "", validate=True)
        except (binascii.Error, ValueError):
            raise ItemError("ErrorInvalidRequest", "The attachment content is not valid base64.") from None
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise ItemError("ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
        name = node.findtext(t("Name"))
        if not name:
            raise ItemError("ErrorInvalidAttachmentName", "The attachment name is invalid or missing.")
        records.append(file_attachment(
            address, name, node.findtext(t("ContentType")) or "", content,
            is_inline=(node.findtext(t("IsInline")) or "").strip().lower() in ("true", "1"),
            content_id=node.findtext(t("ContentId")),
        ))
    return records

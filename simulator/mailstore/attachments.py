"""File attachments as the store keeps them: the bytes (base64, so the store stays JSON), and what the outbound log
reports about them (name, type, size, SHA-256), so a test can prove the bytes that left are the bytes sent in.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from .records import mailbox_key, now_utc


def new_attachment_id(address: str) -> str:
    """Return a fresh Exchange-looking attachment id (longer than an item id, as Exchange's are)."""
    return base64.b64encode(b"\x00\x03\x24\x00" + mailbox_key(address) + b"\x46\x00" + os.urandom(40)).decode()


def file_attachment(address: str, name: str, content_type: str, content: bytes, *, is_inline: bool = False,
                    content_id: str | None = None) -> dict[str, Any]:
    """Return a file attachment record for an item's ``attachments`` field."""
    record: dict[str, Any] = {
        "id": new_attachment_id(address), "name": name, "content_type": content_type or "application/octet-stream",
        "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
        "content": base64.b64encode(content).decode(), "is_inline": is_inline,
        "last_modified": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if content_id:
        record["content_id"] = content_id
    return record


def attachment_summary(attachments: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """What the outbound log keeps of attachments: no bytes, enough to compare them."""
    return [{"name": a["name"], "content_type": a["content_type"], "size": a["size"], "sha256": a["sha256"]}
            for a in attachments or []]

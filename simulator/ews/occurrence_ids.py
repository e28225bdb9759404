"""Ids of single occurrences of a recurring series: derived from the master's id and the original start, as
Exchange derives them, so GetItem/UpdateItem/DeleteItem can address an occurrence without storing it."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

_MARK = b"\x01OCC"


def parse_z(text: str) -> datetime:
    """Parse the store's "...Z" instant."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def occurrence_id(master_id: str, original_start: datetime) -> str:
    """Return the item id of the occurrence of `master_id` that originally starts at `original_start`."""
    stamp = int(original_start.timestamp()).to_bytes(8, "big", signed=True)
    return base64.b64encode(_MARK + stamp + base64.b64decode(master_id)).decode()


def parse_occurrence_id(item_id: str) -> tuple[str, datetime] | None:
    """Return (master id, original start) for an occurrence id, or None for any other id."""
    try:
        raw = base64.b64decode(item_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_MARK) or len(raw) < 13:
        return None
    stamp = int.from_bytes(raw[4:12], "big", signed=True)
    return base64.b64encode(raw[12:]).decode(), datetime.fromtimestamp(stamp, tz=UTC)

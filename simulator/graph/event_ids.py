"""Graph ids of events and of single occurrences of a series, and resolving them back.

A stored event (single or series master) has the item ids of ``ids.py`` (restId, or the immutable id under
``Prefer: IdType="ImmutableId"``). An occurrence is not stored; its id is derived from its master's id and its
original start, in the same layout EWS uses (``ews/occurrence_ids.py``): marker, start, then the master's id bytes.
So the restId of an occurrence is the URL-safe form of the very id EWS hands out for it, and the immutable form
embeds the master's immutable id, which survives moves.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from simulator.mailstore import Item

from . import ids
from .event_instances import Instance, occurrence, of_item
from .wire import GraphRequest, item_not_found

_MARK = b"\x01OCC"


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def event_id(request: GraphRequest, instance: Instance) -> str:
    """The Graph id of what an instance shows (the stored event, or the occurrence) in the request's id type."""
    return instance_id(instance.item, instance.original, request.prefer.immutable_ids)


def instance_id(item: Item, original: datetime | None, immutable: bool) -> str:
    """The Graph id of a stored event (``original`` None) or of its occurrence that originally starts then."""
    return _id(item.id, item.immutable_id, original, immutable)


def removed_id(item_id: str, immutable_id: str, original_key: str, immutable: bool) -> str:
    """The id of an instance that is gone (only its ids were kept), for an ``@removed`` entry."""
    original = datetime.fromisoformat(original_key.replace("Z", "+00:00")) if original_key else None
    return _id(item_id, immutable_id, original, immutable)


def _id(item_id: str, immutable_id: str, original: datetime | None, immutable: bool) -> str:
    master = immutable_id if immutable else ids.rest_id(item_id)
    if original is None:
        return master
    stamp = int(original.timestamp()).to_bytes(8, "big", signed=True)
    return base64.urlsafe_b64encode(_MARK + stamp + (_b64decode(master) or b"")).decode()


def _occurrence_parts(graph_id: str) -> tuple[str, datetime] | None:
    raw = _b64decode(graph_id)
    if raw is None or not raw.startswith(_MARK) or len(raw) < 13:
        return None
    original = datetime.fromtimestamp(int.from_bytes(raw[4:12], "big", signed=True), tz=UTC)
    return base64.urlsafe_b64encode(raw[12:]).decode(), original


def calendar_event(request: GraphRequest, graph_id: str) -> Instance:
    """The event or occurrence a Graph id names in one of the mailbox's calendars; 404 (or 400 malformed) else."""
    parts = _occurrence_parts(graph_id)
    master_id = parts[0] if parts else graph_id
    item = ids.find_item(request.world, request.address, master_id)
    folder = request.world.mailstore.mailbox(request.address).folders.get(item.folder_id)
    if item.kind != "event" or folder is None or folder.folder_class != "IPF.Appointment":
        raise item_not_found()
    if parts is None:
        return of_item(item)
    found = occurrence(item, parts[1])
    if found is None:
        raise item_not_found()
    return found

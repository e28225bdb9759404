"""Opaque folder sync states and the net changes since one, as SyncFolderItems reports them."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass

from .records import Folder, Item

_STATE_MAGIC = b"ESS1"


class InvalidSyncState(ValueError):
    """A sync state that is garbled, from another folder, or from the future (ErrorInvalidSyncStateData)."""


def encode_state(folder: Folder, seq: int) -> str:
    """Return an opaque base64 sync state: the folder it belongs to and the change it has seen, checksummed."""
    payload = _STATE_MAGIC + seq.to_bytes(8, "big") + folder.id.encode()
    return base64.b64encode(payload + zlib.crc32(payload).to_bytes(4, "big")).decode()


def decode_state(folder: Folder, state: str | None) -> int:
    """Return the change sequence a sync state has seen (0 for none); raise InvalidSyncState if it is not ours."""
    if not state:
        return 0
    try:
        raw = base64.b64decode(state.encode(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidSyncState("not base64") from e
    payload, checksum = raw[:-4], raw[-4:]
    if len(raw) < 16 or not payload.startswith(_STATE_MAGIC) or zlib.crc32(payload).to_bytes(4, "big") != checksum:
        raise InvalidSyncState("garbled")
    seq = int.from_bytes(payload[4:12], "big")
    if payload[12:].decode(errors="replace") != folder.id or seq > folder.last_seq:
        raise InvalidSyncState("belongs to another folder or another life of this one")
    return seq


@dataclass(slots=True)
class Change:
    """One net change: "Create", "Update", "Delete" or "ReadFlagChange" of an item (item None for a Delete)."""

    kind: str
    item_id: str
    seq: int
    item: Item | None = None


def changes_since(folder: Folder, seen: int, limit: int) -> tuple[list[Change], int, bool]:
    """Return up to `limit` net changes after `seen`, the sequence to resume from, and whether that was the last."""
    if seen >= folder.last_seq:
        return [], seen, True
    found: list[Change] = []
    for item in folder.items.values():
        last = max(item.changed_seq, item.read_seq)
        if item.created_seq > seen:
            found.append(Change("Create", item.id, last, item))
        elif item.changed_seq > seen:
            found.append(Change("Update", item.id, last, item))
        elif item.read_seq > seen:
            found.append(Change("ReadFlagChange", item.id, item.read_seq, item))
    for item_id, (created_seq, deleted_seq, _kind) in folder.tombstones.items():
        # An item born and gone since the state was taken never existed for the client.
        if deleted_seq > seen and created_seq <= seen:
            found.append(Change("Delete", item_id, deleted_seq))
    found.sort(key=lambda change: change.seq)
    if len(found) <= limit:
        return found, folder.last_seq, True
    page = found[:limit]
    return page, page[-1].seq, False

"""Plain records of the mail store: folders, items and the ids Exchange would give them (no protocol here)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The distinguished folders every Exchange Online mailbox has, with the display name and folder class Outlook shows.
DISTINGUISHED_FOLDERS: dict[str, tuple[str, str | None, str]] = {
    # name: (display name, parent distinguished name, folder class)
    "root": ("", None, ""),
    "msgfolderroot": ("Top of Information Store", "root", "IPF.Note"),
    "inbox": ("Inbox", "msgfolderroot", "IPF.Note"),
    "sentitems": ("Sent Items", "msgfolderroot", "IPF.Note"),
    "drafts": ("Drafts", "msgfolderroot", "IPF.Note"),
    "deleteditems": ("Deleted Items", "msgfolderroot", "IPF.Note"),
    "outbox": ("Outbox", "msgfolderroot", "IPF.Note"),
    "contacts": ("Contacts", "msgfolderroot", "IPF.Contact"),
    "calendar": ("Calendar", "msgfolderroot", "IPF.Appointment"),
    # The dumpster: soft-deleted items land in Deletions, outside the folders a user sees.
    "recoverableitemsroot": ("Recoverable Items", "root", ""),
    "recoverableitemsdeletions": ("Deletions", "recoverableitemsroot", ""),
    "recoverableitemspurges": ("Purges", "recoverableitemsroot", ""),
    "recoverableitemsversions": ("Versions", "recoverableitemsroot", ""),
}

# The item kinds the store keeps and the message class Exchange stamps on each.
ITEM_CLASSES = {"contact": "IPM.Contact", "event": "IPM.Appointment", "message": "IPM.Note"}


def now_utc() -> datetime:
    """Return the current time, timezone-aware and truncated to whole seconds as Exchange stores it."""
    return datetime.now(UTC).replace(microsecond=0)


def mailbox_key(address: str) -> bytes:
    """Return 16 stable bytes naming a mailbox inside its ids, as Exchange embeds the mailbox GUID."""
    return hashlib.md5(address.lower().encode(), usedforsecurity=False).digest()


def new_item_id(address: str) -> str:
    """Return a fresh Exchange-looking item id ("AAMkA..."): a mailbox prefix and random entry bytes."""
    return base64.b64encode(b"\x00\x03\x24\x00" + mailbox_key(address) + b"\x46\x00" + os.urandom(22)).decode()


def new_folder_id(address: str) -> str:
    """Return a fresh Exchange-looking folder id ("AAMkA...AuAAAA")."""
    return base64.b64encode(b"\x00\x03\x24\x00" + mailbox_key(address) + b"\x2e\x00" + os.urandom(22)).decode()


# Exchange's immutable entry ids start with these bytes (a PR_ENTRYID-like header and the store provider GUID), so
# Graph's immutable ids all begin "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A".
IMMUTABLE_ID_PREFIX = bytes.fromhex("0009002e00000000001d840311aa6611cd9bc800aa002f845a0d00")


def new_immutable_id(address: str) -> str:
    """Return a fresh immutable item id in Graph's URL-safe form; it never changes, even when the item moves."""
    return base64.urlsafe_b64encode(IMMUTABLE_ID_PREFIX + mailbox_key(address) + os.urandom(22) + b"\x00\x00").decode()


def new_change_key(version: int) -> str:
    """Return a change key that differs on every version, shaped like Exchange's ("CQAAABYAAAA...")."""
    return base64.b64encode(b"\x09\x00\x00\x00\x16\x00\x00\x00" + os.urandom(12) + version.to_bytes(4, "little")).decode()


@dataclass(slots=True)
class Item:
    """One mailbox item: a contact, calendar event or message, as plain field data plus extended properties."""

    id: str
    kind: str
    folder_id: str
    fields: dict[str, Any]
    # "<property set guid or 'tag'>|<name, #id or tag>|<type>" -> value (str, or list[str] for Array types).
    extended: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    change_key: str = ""
    created: datetime = field(default_factory=now_utc)
    modified: datetime = field(default_factory=now_utc)
    created_seq: int = 0
    changed_seq: int = 0
    read_seq: int = 0  # last time only the read flag changed (SyncFolderItems reports ReadFlagChange)
    # Graph's restImmutableEntryId: stays with the item across moves (the EWS id above changes on a move).
    immutable_id: str = ""

    def touch(self, seq: int) -> None:
        """Record a change: a new change key, a new modification time and the change's sequence number."""
        self.version += 1
        self.change_key = new_change_key(self.version)
        self.modified = now_utc()
        self.changed_seq = seq

    def to_json(self) -> dict[str, Any]:
        """Return the item as JSON-ready data (persistence and the control API)."""
        return {
            "id": self.id, "kind": self.kind, "folder_id": self.folder_id, "fields": self.fields,
            "extended": self.extended, "version": self.version, "change_key": self.change_key,
            "created": self.created.isoformat(), "modified": self.modified.isoformat(),
            "created_seq": self.created_seq, "changed_seq": self.changed_seq, "read_seq": self.read_seq,
            "immutable_id": self.immutable_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        """Rebuild an item written by to_json."""
        values = dict(data)
        values["created"] = datetime.fromisoformat(values["created"])
        values["modified"] = datetime.fromisoformat(values["modified"])
        return cls(**values)


@dataclass(slots=True)
class Folder:
    """A mailbox folder with its items and the tombstones SyncFolderItems needs to report deletions."""

    id: str
    name: str
    folder_class: str
    parent_id: str | None
    distinguished: str | None
    change_key: str = field(default_factory=lambda: new_change_key(1))
    items: dict[str, Item] = field(default_factory=dict)
    # item id -> (created_seq, deleted_seq, kind): what a sync state older than the deletion must still hear about.
    tombstones: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    # item id -> immutable id of each tombstone, so Graph's delta can name a removed item as the client knows it.
    tombstone_immutable_ids: dict[str, str] = field(default_factory=dict)
    last_seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the folder (items included) as JSON-ready data."""
        return {
            "id": self.id, "name": self.name, "folder_class": self.folder_class, "parent_id": self.parent_id,
            "distinguished": self.distinguished, "change_key": self.change_key, "last_seq": self.last_seq,
            "items": [item.to_json() for item in self.items.values()],
            "tombstones": {key: list(value) for key, value in self.tombstones.items()},
            "tombstone_immutable_ids": self.tombstone_immutable_ids,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Folder:
        """Rebuild a folder written by to_json."""
        folder = cls(
            id=data["id"], name=data["name"], folder_class=data["folder_class"], parent_id=data["parent_id"],
            distinguished=data["distinguished"], change_key=data["change_key"], last_seq=data["last_seq"],
        )
        folder.items = {item["id"]: Item.from_json(item) for item in data["items"]}
        folder.tombstones = {key: (v[0], v[1], v[2]) for key, v in data["tombstones"].items()}
        folder.tombstone_immutable_ids = dict(data.get("tombstone_immutable_ids") or {})
        return folder


@dataclass(slots=True)
class Mailbox:
    """One user's mailbox: its folders, a change clock shared by its folders, and its sent-mail log."""

    address: str
    display_name: str
    folders: dict[str, Folder] = field(default_factory=dict)
    distinguished: dict[str, str] = field(default_factory=dict)  # distinguished name -> folder id
    clock: int = 0
    # Bumped to expire every Graph delta token handed out for this mailbox (410 SyncStateNotFound afterwards).
    delta_generation: int = 0

    def tick(self) -> int:
        """Advance and return the mailbox's change sequence number."""
        self.clock += 1
        return self.clock

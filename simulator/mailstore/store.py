"""The protocol-neutral mail store: mailboxes, folders, items, change tracking and the outbound-mail log.

EWS (and later Microsoft Graph) render and parse; this module only keeps plain data. Every public method takes
the store's own lock, so the control API and request handlers may call it from any thread.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from typing import Any

from .attachments import attachment_summary
from .fields import normalize_contact, normalize_event, normalize_message
from .records import (
    DISTINGUISHED_FOLDERS,
    Folder,
    Item,
    Mailbox,
    new_change_key,
    new_folder_id,
    new_immutable_id,
    new_item_id,
    now_utc,
)
from .syncstate import Change, changes_since, decode_state, encode_state

_NORMALIZERS = {"contact": normalize_contact, "event": normalize_event, "message": normalize_message}
_FOLDER_KINDS = {"contacts": "contact", "calendar": "event"}


class UnknownMailbox(KeyError):
    """The address has no mailbox in the store."""


class UnknownItem(KeyError):
    """No item with that id in the mailbox (deleted, moved, or never there)."""


class MailStore:
    """All simulated mailboxes, keyed by lower-case SMTP address."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._mailboxes: dict[str, Mailbox] = {}
        self._index: dict[str, dict[str, Item]] = {}  # address -> item id -> item, across folders
        self._immutable: dict[str, dict[str, Item]] = {}  # address -> immutable id -> live item
        self._outbound: list[dict[str, Any]] = []

    # --- mailboxes -------------------------------------------------------------------------------------------
    def ensure_mailbox(self, address: str, display_name: str = "") -> Mailbox:
        """Return the mailbox for `address`, creating it with Exchange's distinguished folders if new."""
        key = address.lower()
        with self.lock:
            mailbox = self._mailboxes.get(key)
            if mailbox is None:
                mailbox = Mailbox(address=address, display_name=display_name or address.split("@")[0])
                for name, (display, parent, folder_class) in DISTINGUISHED_FOLDERS.items():
                    folder = Folder(
                        id=new_folder_id(key), name=display, folder_class=folder_class,
                        parent_id=mailbox.distinguished.get(parent) if parent else None, distinguished=name,
                    )
                    mailbox.folders[folder.id] = folder
                    mailbox.distinguished[name] = folder.id
                self._mailboxes[key] = mailbox
                self._index[key] = {}
                self._immutable[key] = {}
            elif display_name:
                mailbox.display_name = display_name
            return mailbox

    def remove_mailbox(self, address: str) -> None:
        """Forget a mailbox and everything in it."""
        with self.lock:
            self._mailboxes.pop(address.lower(), None)
            self._index.pop(address.lower(), None)
            self._immutable.pop(address.lower(), None)

    def mailbox_exists(self, address: str) -> bool:
        """Return whether the store holds a mailbox for `address`."""
        return address.lower() in self._mailboxes

    def mailbox(self, address: str) -> Mailbox:
        """Return the mailbox for `address` or raise UnknownMailbox."""
        try:
            return self._mailboxes[address.lower()]
        except KeyError:
            raise UnknownMailbox(address) from None

    def reset(self) -> None:
        """Drop every mailbox and the outbound log."""
        with self.lock:
            self._mailboxes.clear()
            self._index.clear()
            self._immutable.clear()
            self._outbound.clear()

    # --- lookups ---------------------------------------------------------------------------------------------
    def folder(self, address: str, name_or_id: str) -> Folder | None:
        """Return a folder by distinguished name ("contacts") or by folder id, or None."""
        mailbox = self.mailbox(address)
        folder_id = mailbox.distinguished.get(name_or_id, name_or_id)
        return mailbox.folders.get(folder_id)

    def item(self, address: str, item_id: str) -> Item | None:
        """Return the live item with that id, or None."""
        return self._index.get(address.lower(), {}).get(item_id)

    def item_by_immutable_id(self, address: str, immutable_id: str) -> Item | None:
        """Return the live item with that immutable (Graph) id, wherever it has moved, or None."""
        return self._immutable.get(address.lower(), {}).get(immutable_id)

    def child_folders(self, address: str, parent_id: str) -> list[Folder]:
        """Return the folders directly under `parent_id`."""
        return [f for f in self.mailbox(address).folders.values() if f.parent_id == parent_id]

    # --- changes through a protocol (EWS today, Graph later) -------------------------------------------------
    def create_item(
        self, address: str, folder_id: str, kind: str, fields: dict[str, Any], extended: dict[str, Any] | None = None,
        item_id: str | None = None,
    ) -> Item:
        """Create an item in a folder and return it (new id unless an import names one, logged for sync)."""
        with self.lock:
            mailbox = self.mailbox(address)
            folder = mailbox.folders[folder_id]
            return self._add(mailbox, folder, kind, fields, extended or {}, item_id)

    def create_folder(self, address: str, parent_id: str, name: str, folder_class: str = "IPF.Note",
                      folder_id: str | None = None) -> Folder:
        """Create a (non-distinguished) folder under `parent_id` and return it."""
        with self.lock:
            mailbox = self.mailbox(address)
            folder = Folder(id=folder_id or new_folder_id(mailbox.address.lower()), name=name,
                            folder_class=folder_class, parent_id=parent_id, distinguished=None)
            mailbox.folders[folder.id] = folder
            return folder

    def update_item(
        self, address: str, item_id: str, set_fields: dict[str, Any] | None = None,
        delete_fields: Iterable[str] = (), set_extended: dict[str, Any] | None = None,
        delete_extended: Iterable[str] = (),
    ) -> Item:
        """Apply field changes to an item; every change gives it a new change key."""
        with self.lock:
            mailbox = self.mailbox(address)
            item = self._require(address, item_id)
            only_read_flag = set(set_fields or {}) == {"is_read"} and not delete_fields and not set_extended and not delete_extended
            item.fields.update(set_fields or {})
            for name in delete_fields:
                item.fields.pop(name, None)
            item.extended.update(set_extended or {})
            for key in delete_extended:
                item.extended.pop(key, None)
            seq = mailbox.tick()
            if only_read_flag:
                item.version += 1
                item.change_key = new_change_key(item.version)
                item.read_seq = seq
            else:
                item.touch(seq)
            mailbox.folders[item.folder_id].last_seq = seq
            return item

    def delete_item(self, address: str, item_id: str) -> Item:
        """Remove an item for good (HardDelete / SoftDelete) and leave a tombstone for sync."""
        with self.lock:
            mailbox = self.mailbox(address)
            item = self._require(address, item_id)
            self._remove(mailbox, item)
            return item

    def move_item(self, address: str, item_id: str, to_folder_id: str) -> Item:
        """Move an item to another folder; as in Exchange, the moved item gets a new id (its immutable id stays)."""
        with self.lock:
            mailbox = self.mailbox(address)
            item = self._require(address, item_id)
            self._remove(mailbox, item)
            return self._add(mailbox, mailbox.folders[to_folder_id], item.kind, item.fields, item.extended,
                             immutable_id=item.immutable_id)

    def add_attachments(self, address: str, item_id: str, attachments: list[dict[str, Any]]) -> Item:
        """Attach file attachment records (``attachments.file_attachment``) to an item; it gets a new change key."""
        with self.lock:
            item = self._require(address, item_id)
            return self.update_item(address, item_id, {"attachments": [*(item.fields.get("attachments") or []),
                                                                       *attachments]})

    def attachment(self, address: str, attachment_id: str) -> dict[str, Any] | None:
        """Return the attachment record with that id on any live item of the mailbox, or None."""
        with self.lock:
            for item in self._index.get(address.lower(), {}).values():
                for record in item.fields.get("attachments") or []:
                    if record["id"] == attachment_id:
                        return record
            return None

    def changes(self, address: str, folder_id: str, state: str | None, limit: int) -> tuple[list[Change], str, bool]:
        """Return net changes since a sync state, the new state, and whether the folder is now fully reported.

        Raises syncstate.InvalidSyncState for a state this folder did not issue.
        """
        with self.lock:
            folder = self.mailbox(address).folders[folder_id]
            seen = decode_state(folder, state)
            found, resume_at, last = changes_since(folder, seen, limit)
            return found, encode_state(folder, resume_at), last

    def record_sent(self, address: str, fields: dict[str, Any], extended: dict[str, Any]) -> dict[str, Any]:
        """Append a sent message to the outbound log (what tests read as "the mail that left") and return it."""
        entry = {
            "mailbox": address.lower(),
            "from": fields.get("from") or {"email": address, "name": self.mailbox(address).display_name},
            "to": fields.get("to", []), "cc": fields.get("cc", []), "bcc": fields.get("bcc", []),
            "reply_to": fields.get("reply_to", []),
            "subject": fields.get("subject", ""), "body": fields.get("body", ""),
            "body_type": fields.get("body_type", "Text"),
            "internet_message_id": fields.get("internet_message_id") or f"<{uuid.uuid4().hex}@simulator.outlook.com>",
            "sent_at": now_utc().isoformat(), "extended": dict(extended),
            "attachments": attachment_summary(fields.get("attachments")),
        }
        if fields.get("meeting"):  # a meeting request, update or cancellation Exchange sent for an event
            entry["meeting"] = fields["meeting"]
        with self.lock:
            self._outbound.append(entry)
        return entry

    # --- the control API: seeding and "the user did it in Outlook" -------------------------------------------
    def seed_contacts(self, address: str, contacts: list[dict[str, Any]]) -> list[str]:
        """Add many contacts to the Contacts folder at once and return their ids."""
        return self._seed(address, "contacts", "contact", contacts)

    def seed_events(self, address: str, events: list[dict[str, Any]]) -> list[str]:
        """Add many events to the Calendar folder at once and return their ids."""
        return self._seed(address, "calendar", "event", events)

    def user_create(self, address: str, folder: str, data: dict[str, Any]) -> str:
        """Create an item as the user would in Outlook; `folder` is a distinguished name or id."""
        with self.lock:
            target = self._require_folder(address, folder)
            kind = _FOLDER_KINDS.get(target.distinguished or "", "message")
            return self._add(self.mailbox(address), target, kind, _NORMALIZERS[kind](data), {}).id

    def user_update(self, address: str, item_id: str, data: dict[str, Any]) -> str:
        """Change fields of an item as the user would in Outlook; return the new change key."""
        with self.lock:
            item = self._require(address, item_id)
            return self.update_item(address, item_id, set_fields=_NORMALIZERS[item.kind](data, partial=True)).change_key

    def user_delete(self, address: str, item_id: str) -> None:
        """Delete an item as the user would in Outlook (it moves to Deleted Items)."""
        with self.lock:
            self.move_item(address, item_id, self.mailbox(address).distinguished["deleteditems"])

    def list_items(self, address: str, folder: str) -> list[dict[str, Any]]:
        """Return the items of a folder as JSON-ready data."""
        with self.lock:
            return [item.to_json() for item in self._require_folder(address, folder).items.values()]

    def outbound_log(self, address: str | None = None) -> list[dict[str, Any]]:
        """Return the messages sent (by any mailbox, or by `address`), oldest first."""
        with self.lock:
            return [dict(e) for e in self._outbound if address is None or e["mailbox"] == address.lower()]

    # --- persistence -----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the whole store as JSON-ready data."""
        with self.lock:
            return {
                "mailboxes": [
                    {"address": m.address, "display_name": m.display_name, "clock": m.clock,
                     "distinguished": m.distinguished, "folders": [f.to_json() for f in m.folders.values()],
                     "delta_generation": m.delta_generation}
                    for m in self._mailboxes.values()
                ],
                "outbound": list(self._outbound),
            }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MailStore:
        """Rebuild a store written by to_json."""
        store = cls()
        for m in data.get("mailboxes", []):
            mailbox = Mailbox(address=m["address"], display_name=m["display_name"], clock=m["clock"],
                              distinguished=dict(m["distinguished"]), delta_generation=m.get("delta_generation", 0))
            index: dict[str, Item] = {}
            for f in m["folders"]:
                folder = Folder.from_json(f)
                mailbox.folders[folder.id] = folder
                index.update(folder.items)
            for item in index.values():
                item.immutable_id = item.immutable_id or new_immutable_id(mailbox.address)  # a save from before Graph
            store._mailboxes[m["address"].lower()] = mailbox
            store._index[m["address"].lower()] = index
            store._immutable[m["address"].lower()] = {item.immutable_id: item for item in index.values()}
        store._outbound = list(data.get("outbound", []))
        return store

    # --- internals -------------------------------------------------------------------------------------------
    def _seed(self, address: str, folder: str, kind: str, records: list[dict[str, Any]]) -> list[str]:
        normalize = _NORMALIZERS[kind]
        with self.lock:
            mailbox = self.mailbox(address)
            target = mailbox.folders[mailbox.distinguished[folder]]
            return [self._add(mailbox, target, kind, normalize(record), {}).id for record in records]

    def _add(self, mailbox: Mailbox, folder: Folder, kind: str, fields: dict[str, Any], extended: dict[str, Any],
             item_id: str | None = None, immutable_id: str | None = None) -> Item:
        seq = mailbox.tick()
        item = Item(id=item_id or new_item_id(mailbox.address), kind=kind, folder_id=folder.id, fields=fields,
                    extended=dict(extended), change_key=new_change_key(1), created_seq=seq, changed_seq=seq,
                    immutable_id=immutable_id or new_immutable_id(mailbox.address))
        folder.items[item.id] = item
        folder.last_seq = seq
        self._index[mailbox.address.lower()][item.id] = item
        self._immutable[mailbox.address.lower()][item.immutable_id] = item
        return item

    def _remove(self, mailbox: Mailbox, item: Item) -> None:
        folder = mailbox.folders[item.folder_id]
        seq = mailbox.tick()
        del folder.items[item.id]
        del self._index[mailbox.address.lower()][item.id]
        self._immutable[mailbox.address.lower()].pop(item.immutable_id, None)
        folder.tombstones[item.id] = (item.created_seq, seq, item.kind)
        folder.tombstone_immutable_ids[item.id] = item.immutable_id
        folder.last_seq = seq

    def _require(self, address: str, item_id: str) -> Item:
        item = self.item(address, item_id)
        if item is None:
            raise UnknownItem(item_id)
        return item

    def _require_folder(self, address: str, folder: str) -> Folder:
        found = self.folder(address, folder)
        if found is None:
            raise KeyError(f"no folder {folder!r} in {address}")
        return found

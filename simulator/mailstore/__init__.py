"""Protocol-neutral simulated mailboxes; EWS today and Microsoft Graph later render them."""

from .records import Folder, Item, Mailbox
from .store import MailStore, UnknownItem, UnknownMailbox
from .syncstate import Change, InvalidSyncState

__all__ = ["Change", "Folder", "InvalidSyncState", "Item", "MailStore", "Mailbox", "UnknownItem", "UnknownMailbox"]

"""What an EWS operation handler gets: the world, the store, the impersonated mailbox, the fault for this request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from simulator.mailstore import Folder, MailStore

from . import soap


@dataclass(slots=True)
class RequestContext:
    """One EWS request after authentication and impersonation checks."""

    world: Any
    store: MailStore
    address: str
    tenant_id: str
    fault: Any  # faults.Fault picked for this request (invalid_sync_state, send_limit), or None
    header: etree._Element | None

    def folder_from(self, node: etree._Element) -> Folder | None:
        """Resolve a t:FolderId or t:DistinguishedFolderId element (the only ones we accept) to a folder."""
        name = etree.QName(node).localname
        if name == "DistinguishedFolderId":
            mailbox = node.findtext(f"{soap.t('Mailbox')}/{soap.t('EmailAddress')}")
            if mailbox and mailbox.lower() != self.address.lower():
                # Our app only ever opens the impersonated mailbox; another one is another principal's.
                return None
            return self.store.folder(self.address, node.get("Id", ""))
        if name == "FolderId":
            return self.store.folder(self.address, node.get("Id", ""))
        return None

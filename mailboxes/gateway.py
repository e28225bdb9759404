"""The mailbox gateway interface: what the sync engine, the mailer and verification need from a mailbox.

Protocol-neutral: item ids, version tokens and watermarks are opaque strings; two implementations exist, EWS
(``mailboxes.ews``) and Microsoft Graph (``mailboxes.graph``), and each declares what differs between them as
``Capabilities``. Every method raises only ``mailboxes.errors.GatewayError`` subclasses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mailboxes.items import Collection, Contact, Event, MessageFolder, OutgoingMessage

if TYPE_CHECKING:
    from mailboxes.connection import ConnectionDetails
    from mailboxes.tokens import TokenProvider


@dataclass(frozen=True)
class ItemRef:
    """Where an item is and which version of it we saw; a stale ``version`` makes writes raise ConflictError."""

    item_id: str
    version: str


@dataclass(frozen=True)
class StoredItem:
    """An item as the mailbox holds it, with our tag when we created it."""

    ref: ItemRef
    item: Contact | Event
    tag: str | None = None
    last_modified: dt.datetime | None = None


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    """One change in a collection; ``stored`` is None for a deletion (only the id is known then)."""

    kind: ChangeKind
    item_id: str
    stored: StoredItem | None = None


@dataclass(frozen=True)
class ChangePage:
    """One page of changes. Store ``watermark`` only after applying the page; ``more`` says another page waits."""

    changes: tuple[Change, ...]
    watermark: str
    more: bool


@dataclass(frozen=True)
class TokenCheck:
    """What the token says: which application roles it carries and when it expires."""

    roles: frozenset[str]
    expires_at: dt.datetime
    has_mailbox_access: bool


@dataclass(frozen=True)
class SentMessage:
    """A message we wrote, found again in Drafts or Sent Items, with the names of the files it carries."""

    ref: ItemRef
    tag: str
    subject: str
    attachment_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a backend does differently, declared by it so callers need not know its protocol.

    - ``max_page_size``: the most items one ``read_changes`` page may ask for (larger ``page_size`` is capped).
    - ``feed_nets_out_own_writes``: the change feed drops an item created and deleted between two reads (EWS
      SyncFolderItems does; Graph's delta may report the deletion of an item the reader never saw).
    - ``feed_tells_created_from_updated``: a change's kind says CREATED or UPDATED truly (Graph's delta does
      not: a round read from the start reports CREATED, any later one UPDATED; DELETED is always exact).
    - ``send_returns_id``: a send answers with the sent message's id (neither does: EWS SendItem and Graph's
      ``/send`` answer without one, so the sent copy is found by tag).
    - ``concurrency_cap``: requests in flight per app (Graph: 4 per app for Outlook; EWS: 27 per mailbox).
    - ``cancel_notifies_attendees``: ``cancel_event`` can tell an organizer's attendees.
    - ``attendees_always_invited``: writing an event with attendees always sends them invitations (Graph has no
      "save without sending"; EWS writes silently unless ``Event.send_invitations``).
    """

    max_page_size: int
    feed_nets_out_own_writes: bool
    feed_tells_created_from_updated: bool
    send_returns_id: bool
    concurrency_cap: int
    cancel_notifies_attendees: bool
    attendees_always_invited: bool


@dataclass(frozen=True)
class AccessNeeds:
    """What a backend needs from the brokerage's tenant, declared so verification can say what it tried.

    - ``protocol``: the backend's name as staff and administrators know it.
    - ``required_roles``: the application permissions (admin-consented) the token must carry.
    - ``mailbox_reach``: how the app reaches a mailbox, completing "Test mailbox reachable …".
    """

    protocol: str
    required_roles: tuple[str, ...]
    mailbox_reach: str


@runtime_checkable
class MailboxGateway(Protocol):
    """One brokerage's mailboxes. ``mailbox`` is an SMTP address inside the brokerage's domains."""

    capabilities: Capabilities
    access: AccessNeeds

    def read_changes(
        self, mailbox: str, collection: Collection, watermark: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        """Pages of changes since ``watermark`` (None = everything), streamed; never the whole mailbox at once."""
        ...

    def fetch(self, mailbox: str, collection: Collection, item_ids: Sequence[str]) -> list[StoredItem | None]:
        """The items with these ids, in order, fetched in batches; None where one is gone from the collection's folder
        (or is no contact/event). The sync reads its own unconfirmed writes this way, taking None for a deletion: a
        deletion in Outlook moves the item to Deleted Items, so a backend whose ids survive a move (Graph's immutable
        ids) must answer None for an item now in another folder. (EWS gives a moved item a new id.)"""
        ...

    def create_contact(self, mailbox: str, contact: Contact, *, tag: str) -> ItemRef: ...

    def update_contact(self, mailbox: str, ref: ItemRef, contact: Contact) -> ItemRef:
        """Replace the contact's fields if ``ref.version`` is current; ConflictError otherwise."""
        ...

    def create_event(self, mailbox: str, event: Event, *, tag: str) -> ItemRef: ...

    def update_event(self, mailbox: str, ref: ItemRef, event: Event) -> ItemRef: ...

    def delete_item(self, mailbox: str, ref: ItemRef) -> None:
        """Delete if ``ref.version`` is current (ConflictError if not); ItemNotFound if it is already gone.
        An event goes silently: nobody is told."""
        ...

    def cancel_event(self, mailbox: str, ref: ItemRef) -> bool:
        """Cancel the meeting: remove it as ``delete_item`` does, and if the mailbox organized it and its
        invitations went out, send the attendees the cancellation. True when they were told.

        (Neither Exchange nor Graph keeps an organizer's meeting in a "cancelled" state: cancelling removes it.)
        """
        ...

    def find_by_tag(self, mailbox: str, collection: Collection, tag: str) -> list[StoredItem]:
        """Items we created with this tag (normally zero or one): how idempotent creation finds its earlier try."""
        ...

    def create_draft(self, mailbox: str, message: OutgoingMessage, *, tag: str) -> ItemRef: ...

    def send_draft(self, mailbox: str, ref: ItemRef) -> None:
        """Send a draft; the sent copy lands in Sent Items, still carrying its tag."""
        ...

    def find_messages_by_tag(self, mailbox: str, folder: MessageFolder, tag: str) -> list[SentMessage]: ...

    def check_token(self, *, fresh: bool = False) -> TokenCheck:
        """Acquire a token (``fresh`` bypasses the shared cache, to prove the credential itself); ConsentMissing
        naming the missing ones when it lacks any of ``access.required_roles``."""
        ...

    def check_mailbox(self, mailbox: str) -> None:
        """Reach the mailbox as the app (impersonation); raises the classified failure."""
        ...

    def check_collection(self, mailbox: str, collection: Collection) -> None:
        """Read one item's worth of the collection; raises the classified failure."""
        ...


def gateway_class(backend: str) -> type[MailboxGateway]:
    """The gateway implementation of a backend (``ews`` or ``graph``), for what it declares before it is opened."""
    if backend == "ews":
        from mailboxes.ews import EwsGateway

        return EwsGateway
    if backend == "graph":
        from mailboxes.graph.gateway import GraphGateway

        return GraphGateway
    raise ValueError(f"Unknown mailbox backend {backend!r}")


BACKENDS = ("ews", "graph")  # every value ``ConnectionDetails.backend`` (and ``Brokerage.mailbox_backend``) may take


def capabilities_of(backend: str) -> Capabilities:
    """What the named backend declares, without opening it (the dispatcher caps a brokerage by its ``concurrency_cap``)."""
    return gateway_class(backend).capabilities


def open_gateway(details: ConnectionDetails, tokens: TokenProvider) -> MailboxGateway:
    """The gateway implementation the brokerage's ``backend`` names (``ews`` or ``graph``)."""
    try:
        cls = gateway_class(details.backend)
    except ValueError:
        raise ValueError(f"Unknown mailbox backend {details.backend!r} for brokerage {details.key}") from None
    return cls(details, tokens)

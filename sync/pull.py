"""Reading a mailbox folder's changes since the watermark into the planner's RemoteChanges, page by page.

Each page (one SyncFolderItems plus batched GetItems, inside the gateway) is turned into compact content at
once and the gateway's objects dropped, so what is held is one small record per changed item. The new
watermark is only handed back; the engine stores it once everything it covers is applied.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from mailboxes.errors import WatermarkExpired
from mailboxes.gateway import ChangeKind, MailboxGateway
from mailboxes.items import Collection
from sync import records
from sync.content import ContentError
from sync.state import RemoteChanges, RemoteItem

log = logging.getLogger(__name__)
MAX_PAGES = 100_000  # a bound, far above any mailbox (100 items a page: ten million changes)


@dataclass(frozen=True)
class Pulled:
    """The changes read, the watermark that covers them, and whether the old watermark had to be dropped."""

    changes: RemoteChanges
    watermark: str
    restarted: bool
    unreadable: frozenset[str]  # ids of items whose content cannot be compared (left out, logged)


def read_remote(
    gateway: MailboxGateway, address: str, collection: Collection, watermark: str | None, *,
    page_size: int, keep_lease: Callable[[], None],
) -> Pulled:  # fmt: skip
    """All changes since ``watermark`` (None: a complete listing); an expired watermark restarts from None."""
    try:
        return _read(gateway, address, collection, watermark, page_size, keep_lease, restarted=False)
    except WatermarkExpired:
        if watermark is None:
            raise
        log.warning("sync: %s %s: the watermark expired; reading the folder afresh", address, collection)
        return _read(gateway, address, collection, None, page_size, keep_lease, restarted=True)


def _read(
    gateway: MailboxGateway, address: str, collection: Collection, watermark: str | None, page_size: int,
    keep_lease: Callable[[], None], *, restarted: bool,
) -> Pulled:  # fmt: skip
    observed_at = dt.datetime.now(dt.UTC)  # taken before the first page: a deletion is dated no later
    items: dict[str, RemoteItem] = {}
    deleted: set[str] = set()
    unreadable: set[str] = set()
    new_watermark = watermark or ""
    for number, page in enumerate(gateway.read_changes(address, collection, watermark, page_size=page_size)):
        if number >= MAX_PAGES:
            raise RuntimeError(f"{address} {collection}: more than {MAX_PAGES} pages of changes")
        if number:
            keep_lease()  # between pages: a lost lease stops us before we apply anything
        for change in page.changes:
            if change.kind is ChangeKind.DELETED or change.stored is None:
                items.pop(change.item_id, None)
                deleted.add(change.item_id)
                continue
            stored = change.stored
            try:
                content = records.item_content(stored.item)
            except ContentError as error:
                unreadable.add(change.item_id)
                log.error("sync: %s %s item %s cannot be compared: %s", address, collection, change.item_id, error)
                continue
            deleted.discard(change.item_id)
            items[change.item_id] = RemoteItem(
                stored.ref.item_id, stored.ref.version, content, stored.last_modified or observed_at, stored.tag
            )
        new_watermark = page.watermark
    complete = watermark is None
    changes = RemoteChanges(
        tuple(items.values()), () if complete else tuple(sorted(deleted)), complete=complete, observed_at=observed_at
    )
    return Pulled(changes, new_watermark, restarted, frozenset(unreadable))


def check_unseen_writes(
    gateway: MailboxGateway, address: str, collection: Collection, changes: RemoteChanges, unreadable: frozenset[str],
    unconfirmed: frozenset[str],
) -> RemoteChanges:  # fmt: skip
    """The changes plus, as deletions, the items we wrote (``unconfirmed``) that the feed did not report and that a
    read by id (one batched read) no longer finds in the folder.

    A change feed reports what changed since its watermark, but an item created *and* deleted since then never
    existed for it (Exchange's SyncFolderItems; Graph's delta the same): a user's deletion of an item we created
    after the stored watermark was taken is not in the feed, only its absence tells.
    """
    seen = {item.remote_id for item in changes.items} | set(changes.deleted_ids) | unreadable
    unseen = sorted(unconfirmed - seen)
    if not unseen:
        return changes
    found = gateway.fetch(address, collection, unseen)
    missing = [remote_id for remote_id, stored in zip(unseen, found, strict=True) if stored is None]
    if not missing:
        return changes
    log.info("sync: %s %s: %d item(s) we wrote are gone, though the feed did not say so", address, collection,
             len(missing))  # fmt: skip
    return replace(changes, deleted_ids=tuple(sorted({*changes.deleted_ids, *missing})))

"""What the planner is given: the link (status) records, each side's items and deletions, plain frozen data.

The Django models mirror these one to one; the executor builds them from rows and gateway pages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sync.content import Content, FieldDigests


@dataclass(frozen=True)
class Link:
    """One synced pair, after vdirsyncer's status row: both ids, both versions, and the content both agreed on.

    Written only when both sides are known to hold content equal to the agreed one, so a link never
    claims a state that half a sync produced. ``agreed_fields`` are per-field digests of that content:
    enough for a three-way field merge ("which fields did each side change since?") without keeping a third
    copy of a client's personal data in the link table. A version of None means "unknown, compare content".
    """

    local_id: str
    remote_id: str
    local_version: int | None
    remote_version: str | None
    agreed_hash: str
    agreed_fields: FieldDigests = field(repr=False)

    @classmethod
    def agreeing(
        cls, local_id: str, remote_id: str, content: Content, *, local_version: int | None, remote_version: str | None
    ) -> Link:
        """The link recording that both sides now hold ``content`` at these versions."""
        return cls(
            local_id, remote_id, local_version, remote_version, content.hash, MappingProxyType(dict(content.field_digests))
        )


@dataclass(frozen=True)
class LocalItem:
    """A CRM-side item; ``version`` is the row's counter, bumped on every save, ``modified_at`` its last edit.

    ``pushed_hash`` is the write-ahead mark of a mailbox write made for this row whose link was not saved yet
    (set before the request, cleared with the link): a mailbox item holding exactly that content was written
    by us, not edited by the agent, so it must not override what the row says now.
    """

    local_id: str
    version: int
    content: Content
    modified_at: dt.datetime
    pushed_hash: str | None = None
    # The write-ahead flag of a cancellation: CancelRemote is removing this meeting's mailbox item (set before
    # the request, cleared with the unlink). Kept apart from ``pushed_hash``, which a push still in flight needs.
    cancel_pending: bool = False


@dataclass(frozen=True)
class LocalTombstone:
    """A CRM-side deletion not yet mirrored: the row is kept (deleted_at set) until the plan forgets it."""

    local_id: str
    deleted_at: dt.datetime | None  # None when only a full listing's absence told us
    pushed_hash: str | None = None  # carried over from the row (see LocalItem)


@dataclass(frozen=True)
class RemoteItem:
    """A mailbox item; ``version`` is the change key, ``tag`` our local id when we created it."""

    remote_id: str
    version: str
    content: Content
    modified_at: dt.datetime
    tag: str | None = None


@dataclass(frozen=True)
class LocalChanges:
    """The CRM side: items changed since their link (or unlinked, or whose link is not current), and tombstones.

    ``complete`` means ``items`` is every live item: a linked id missing from it was deleted.
    """

    items: tuple[LocalItem, ...] = ()
    tombstones: tuple[LocalTombstone, ...] = ()
    complete: bool = False
    # The executor keeps the write-ahead ``pushed_hash`` mark (sync/README.md). Without it, a tagged mailbox
    # item replacing a deleted linked one is taken for our re-create (as an Outlook copy cannot be told apart).
    pushes_marked: bool = False


@dataclass(frozen=True)
class RemoteChanges:
    """The mailbox side: items created or updated since the watermark, and ids deleted since.

    ``complete`` means a full listing (first sync, or the watermark was lost): a linked id missing from it
    was deleted, and ``deleted_ids`` is empty.
    """

    items: tuple[RemoteItem, ...] = ()
    deleted_ids: tuple[str, ...] = ()
    complete: bool = False
    observed_at: dt.datetime | None = None  # when the feed was read: the time a remote deletion is dated


def index_links(links: Mapping[str, Link] | tuple[Link, ...] | list[Link]) -> dict[str, Link]:
    """Links keyed by local id, from either a mapping or a sequence."""
    if isinstance(links, Mapping):
        return dict(links)
    return {link.local_id: link for link in links}

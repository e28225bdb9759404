"""What a plan asks the executor to do, one action per item, each carrying the versions it expects.

Every action ends by saving (or dropping) the item's link in the same database transaction as its local
write, so a crash between two actions, or inside one after its remote write, leaves a state the next plan
reads correctly: the remote write shows up in the next change feed, the link still names the old agreement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from sync.content import Content
from sync.state import Link


class Decision(StrEnum):
    """How a conflict (both sides touched the item since the last agreement) was settled."""

    MERGED = "merged"  # both changed different fields: each side's fields kept
    LOCAL_WON = "local_won"
    REMOTE_WON = "remote_won"
    EDIT_BEAT_DELETE = "edit_beat_delete"  # one side deleted, the other edited: the item lives on
    DELETE_WON = "delete_won"  # same, with edit_beats_delete off
    PAIRED = "paired"  # an unlinked pair (matched or found by our tag) with differing content, merged without a base
    # the CRM re-opened a meeting its organizer cancelled: the rest written, the meeting kept cancelled
    ORGANIZER_CANCELLED = "organizer_cancelled"


@dataclass(frozen=True)
class ConflictRecord:
    """One conflict decision, saved by the executor with the action that carries it (admin-visible)."""

    local_id: str | None
    remote_id: str | None
    decision: Decision
    fields: tuple[str, ...]  # the fields both sides changed differently (the contested ones), sorted
    local_modified_at: dt.datetime | None
    remote_modified_at: dt.datetime | None
    policy: str


@dataclass(frozen=True)
class Action:
    # Pull before push: local writes are one transaction each and cheap; remote writes are requests that
    # throttling may cut off, and what was pulled by then is already safe.
    order: ClassVar[int]

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.order, getattr(self, "local_id", None) or getattr(self, "remote_id", ""))


@dataclass(frozen=True)
class LinkPair(Action):
    """Both sides already hold equal content: save the link (new pair, or new versions of an agreed pair)."""

    order: ClassVar[int] = 0
    local_id: str
    local_version: int | None
    remote_id: str
    remote_version: str | None
    content: Content

    def link(self) -> Link:
        return Link.agreeing(
            self.local_id, self.remote_id, self.content, local_version=self.local_version, remote_version=self.remote_version
        )


@dataclass(frozen=True)
class Forget(Action):
    """Drop the item's link and purge its tombstone: it is gone from both sides (or never left the CRM)."""

    order: ClassVar[int] = 1
    local_id: str


@dataclass(frozen=True)
class KeepCancelled(Action):
    """A meeting cancelled in the CRM that the mailbox no longer holds (or never did): drop its link and its
    write-ahead mark; the row stays in the CRM alone, cancelled, until someone re-opens it (then it is created)."""

    order: ClassVar[int] = 1
    local_id: str
    conflict: ConflictRecord | None = None


@dataclass(frozen=True)
class CreateLocal(Action):
    """Create a CRM item from a mailbox item and link it, in one transaction; skip if ``remote_id`` is linked."""

    order: ClassVar[int] = 2
    remote_id: str
    remote_version: str
    content: Content
    replaces_local_id: str | None = None  # a tombstone this resurrects (an edit beat the CRM deletion)
    conflict: ConflictRecord | None = None

    def link(self, local_id: str, local_version: int) -> Link:
        return Link.agreeing(local_id, self.remote_id, self.content, local_version=local_version, remote_version=self.remote_version)


@dataclass(frozen=True)
class UpdateLocal(Action):
    """Write ``content`` to the CRM item if it is still at ``expected_local_version``, and save the link."""

    order: ClassVar[int] = 3
    local_id: str
    expected_local_version: int
    remote_id: str
    remote_version: str
    content: Content
    conflict: ConflictRecord | None = None

    def link(self, new_local_version: int) -> Link:
        return Link.agreeing(
            self.local_id, self.remote_id, self.content, local_version=new_local_version, remote_version=self.remote_version
        )


@dataclass(frozen=True)
class DeleteLocal(Action):
    """Delete the CRM item (no tombstone: the mailbox already lost it) if still at the version, and its link."""

    order: ClassVar[int] = 4
    local_id: str
    expected_local_version: int | None
    remote_id: str
    conflict: ConflictRecord | None = None


@dataclass(frozen=True)
class CreateRemote(Action):
    """Create the item in the mailbox tagged with our id, after looking the tag up (idempotent creation)."""

    order: ClassVar[int] = 5
    local_id: str
    local_version: int
    content: Content
    conflict: ConflictRecord | None = None

    @property
    def tag(self) -> str:
        return self.local_id

    def link_created(self, remote_id: str, remote_version: str) -> Link:
        return Link.agreeing(self.local_id, remote_id, self.content, local_version=self.local_version, remote_version=remote_version)

    def link_found(self, remote_id: str, remote_version: str, found: Content) -> Link:
        """The link when the tag lookup found an earlier try: what the mailbox holds is the agreed state.

        If the CRM item changed since that try, its version is left unknown so the next sync compares
        content and pushes the difference as an ordinary local edit.
        """
        same = found == self.content
        return Link.agreeing(
            self.local_id, remote_id, found, local_version=self.local_version if same else None, remote_version=remote_version
        )


@dataclass(frozen=True)
class UpdateRemote(Action):
    """Write ``content`` to the mailbox item if its change key is still ``expected_remote_version``; save the link."""

    order: ClassVar[int] = 6
    local_id: str
    local_version: int
    remote_id: str
    expected_remote_version: str | None
    content: Content
    conflict: ConflictRecord | None = None

    def link(self, new_remote_version: str) -> Link:
        return Link.agreeing(
            self.local_id, self.remote_id, self.content, local_version=self.local_version, remote_version=new_remote_version
        )


@dataclass(frozen=True)
class UpdateBoth(Action):
    """A merge that differs from both sides: write the mailbox first, then the CRM item and the link together."""

    order: ClassVar[int] = 7
    local_id: str
    expected_local_version: int
    remote_id: str
    expected_remote_version: str | None
    content: Content
    conflict: ConflictRecord | None = None

    def link(self, new_local_version: int, new_remote_version: str) -> Link:
        return Link.agreeing(
            self.local_id, self.remote_id, self.content, local_version=new_local_version, remote_version=new_remote_version
        )


@dataclass(frozen=True)
class DeleteRemote(Action):
    """Delete the mailbox item if its change key is still the expected one; then forget link and tombstone."""

    order: ClassVar[int] = 8
    local_id: str
    remote_id: str
    expected_remote_version: str | None
    conflict: ConflictRecord | None = None


@dataclass(frozen=True)
class CancelRemote(Action):
    """A meeting cancelled in the CRM: remove it from the mailbox, where a cancelled organizer's item cannot exist.

    Exchange (and Graph) cancel a meeting by removing the organizer's item, telling the attendees or not; so
    the CRM row stays, cancelled and unlinked (``KeepCancelled``'s state). If the row is no longer at
    ``local_version`` (re-opened meanwhile), **skip**. With ``write_local`` (a merge that cancels), the
    row gets ``content`` first, as in ``UpdateBoth``: a crash then leaves a cancelled row the next plan cancels
    again. Counted by the mass-deletion guard as a CRM-side loss.
    """

    order: ClassVar[int] = 9
    local_id: str
    local_version: int
    remote_id: str
    expected_remote_version: str | None
    content: Content
    write_local: bool = False
    conflict: ConflictRecord | None = None


SyncAction = (
    LinkPair | Forget | KeepCancelled | CreateLocal | UpdateLocal | DeleteLocal | CreateRemote | UpdateRemote
    | UpdateBoth | DeleteRemote | CancelRemote
)

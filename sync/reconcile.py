"""The planner: links + both sides' changes in, an ordered list of actions (or a pause) out. Pure.

Per linked item each side is unchanged, changed (new version *and* new content), or deleted; the table in
sync/README.md gives the action for every combination. Unlinked items are paired by our tag (a create whose
link was never saved), by matching on the first sync, or created on the other side.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sync.actions import (
    CancelRemote,
    ConflictRecord,
    CreateLocal,
    CreateRemote,
    Decision,
    DeleteLocal,
    DeleteRemote,
    Forget,
    KeepCancelled,
    LinkPair,
    SyncAction,
    UpdateBoth,
    UpdateLocal,
    UpdateRemote,
)
from sync.content import Content, empty
from sync.guard import MassDeletion, Side, check_mass_deletion
from sync.matching import MatchReport, match_existing
from sync.normalize import ItemKind
from sync.policy import SyncPolicy, resolve_both_changed
from sync.state import (
    Link,
    LocalChanges,
    LocalItem,
    LocalTombstone,
    RemoteChanges,
    RemoteItem,
    index_links,
)


@dataclass(frozen=True)
class Plan:
    """What one sync should do. ``paused`` set means: apply nothing, keep the watermark, alert staff."""

    actions: tuple[SyncAction, ...] = ()
    conflicts: tuple[ConflictRecord, ...] = ()
    paused: MassDeletion | None = None
    matches: MatchReport = field(default_factory=MatchReport)

    @property
    def quiet(self) -> bool:
        """Nothing to do: both sides agree with the link table."""
        return not self.actions and self.paused is None


class _Deleted:
    """The remote side reports the item gone."""


DELETED = _Deleted()


def plan_sync(
    links: Mapping[str, Link] | Iterable[Link],
    local: LocalChanges,
    remote: RemoteChanges,
    policy: SyncPolicy | None = None,
    *,
    allow_mass_deletion: bool = False,
    first_sync: bool = False,
) -> Plan:
    """The actions that bring both sides to agreement.

    ``allow_mass_deletion`` is staff confirming a paused loss. ``first_sync`` says no sync of this folder has
    completed yet (no watermark was ever committed): unlinked items on both sides are then paired by matching,
    and stay so across crashes of that first sync, since the flag holds until one completes.
    """
    policy = policy or SyncPolicy()
    planner = _Planner(index_links(links if isinstance(links, Mapping) else list(links)), local, remote, policy, first_sync)
    actions = planner.plan()
    lost = {Side.LOCAL: planner.local_losses, Side.REMOTE: planner.remote_losses}
    paused = None if allow_mass_deletion else check_mass_deletion(len(planner.links), lost, policy)
    if paused is not None:
        return Plan(paused=paused, matches=planner.matches)
    actions.sort(key=lambda action: action.sort_key)
    conflicts = tuple(a.conflict for a in actions if getattr(a, "conflict", None) is not None)
    return Plan(tuple(actions), conflicts, None, planner.matches)  # type: ignore[arg-type]


class _Planner:
    def __init__(
        self, links: dict[str, Link], local: LocalChanges, remote: RemoteChanges, policy: SyncPolicy, initial: bool
    ):
        self.links = links
        self.policy = policy
        self.observed_at = remote.observed_at
        self.links_by_remote = {link.remote_id: link for link in links.values()}
        self.pushes_marked = local.pushes_marked
        self.local_items = {item.local_id: item for item in local.items}
        self.tombstones = {t.local_id: t for t in local.tombstones if t.local_id not in self.local_items}
        if local.complete:
            # A linked row missing from a full listing is gone without a tombstone (deleted outside the app).
            for local_id in links.keys() - self.local_items.keys() - self.tombstones.keys():
                self.tombstones[local_id] = LocalTombstone(local_id, None)
        deleted = set(remote.deleted_ids)
        self.remote_items = {item.remote_id: item for item in remote.items if item.remote_id not in deleted}
        if remote.complete:
            deleted |= self.links_by_remote.keys() - self.remote_items.keys()
        self.remote_deleted = deleted
        self.by_tag: dict[str, list[RemoteItem]] = {}
        for item in self.remote_items.values():
            if item.tag is not None:
                self.by_tag.setdefault(item.tag, []).append(item)
        self.claimed: set[str] = set()  # unlinked mailbox items already paired with a row by our tag
        self.initial = initial  # the first sync: pair existing items by matching
        self.local_losses = 0
        self.remote_losses = 0
        self.matches = MatchReport()

    def plan(self) -> list[SyncAction]:
        actions: list[SyncAction] = []
        for link in self.links.values():
            link = self._follow_tag(link)
            remote = self.remote_items.get(link.remote_id)
            cancelled = _cancelled(remote.content) if remote else link.agreed_fields.get("cancelled") == _CANCELLED
            actions.extend(self._cancel_instead(action, remote_cancelled=cancelled, linked=True)
                           for action in self._linked(link))
        actions.extend(self._unlinked())
        return actions

    def _cancel_instead(self, action: SyncAction, *, remote_cancelled: bool, linked: bool) -> SyncAction:
        """A meeting the CRM cancelled leaves the mailbox instead of being written to it.

        Exchange has no "cancelled" state for the organizer's own item (IsCancelled is what attendees' copies
        show): cancelling removes it, with or without cancellation mails. So a write that would put a cancelled
        event into a mailbox whose item is not cancelled removes the item, and the CRM keeps the row cancelled
        and unlinked. A mailbox item already cancelled (an attendee's copy) is written as usual.
        """
        if isinstance(action, UpdateRemote | UpdateBoth) and remote_cancelled and not _cancelled(action.content):
            return self._keep_organizer_cancellation(action)
        if not isinstance(action, UpdateRemote | UpdateBoth | CreateRemote) or not _cancelled(action.content):
            return action
        if isinstance(action, CreateRemote):  # never create a cancelled meeting; the mailbox has none to remove
            return KeepCancelled(action.local_id, action.conflict)
        if remote_cancelled:
            return action
        if linked:  # the guard weighs losses against the links: a CRM bug cancelling every meeting must pause
            self.local_losses += 1
        if isinstance(action, UpdateBoth):
            return CancelRemote(action.local_id, action.expected_local_version, action.remote_id,
                                action.expected_remote_version, action.content, True, action.conflict)  # fmt: skip
        return CancelRemote(action.local_id, action.local_version, action.remote_id, action.expected_remote_version,
                            action.content, False, action.conflict)  # fmt: skip

    # -- linked items --------------------------------------------------------------------------------

    def _linked(self, link: Link) -> list[SyncAction]:
        local_state: LocalItem | LocalTombstone | None = self.local_items.get(link.local_id) or self.tombstones.get(
            link.local_id
        )
        remote_state: RemoteItem | _Deleted | None = (
            DELETED if link.remote_id in self.remote_deleted else self.remote_items.get(link.remote_id)
        )
        local_changed = isinstance(local_state, LocalItem) and _changed(
            local_state.version, link.local_version, local_state.content.hash, link
        )
        remote_changed = isinstance(remote_state, RemoteItem) and _changed(
            remote_state.version, link.remote_version, remote_state.content.hash, link
        )
        local = local_state if isinstance(local_state, LocalItem) else None
        remote = remote_state if isinstance(remote_state, RemoteItem) else None
        local_version = local.version if local else link.local_version
        remote_version = remote.version if remote else link.remote_version
        if remote is not None and local is not None and _partly_written_by_us(local, remote):
            # Our push of a series, cut off before its exceptions: finish it, never let a policy undo it.
            return [UpdateRemote(local.local_id, local.version, remote.remote_id, remote.version, local.content)]
        if remote is not None and _written_by_us(local_state, remote):
            # The mailbox holds our own push whose link was never saved: the CRM row is the truth.
            if local is None:
                self.local_losses += 1
                return [DeleteRemote(link.local_id, link.remote_id, remote.version)]
            return [self._push_over_our_write(local, remote)]

        if isinstance(local_state, LocalTombstone):
            self.local_losses += 1
            if remote_state is DELETED:
                self.remote_losses += 1
                return [Forget(link.local_id)]
            if remote_changed and remote is not None:
                record = self._edit_delete_record(link, local_state.deleted_at, remote.modified_at)
                if self.policy.edit_beats_delete:
                    return [CreateLocal(remote.remote_id, remote.version, remote.content, link.local_id, record)]
                return [DeleteRemote(link.local_id, link.remote_id, remote.version, record)]
            return [DeleteRemote(link.local_id, link.remote_id, remote_version)]

        if remote_state is DELETED:
            # Counted even when it was most likely our own removal: the flag says one was about to be sent, not
            # that it was (a wiped folder must still pause).
            self.remote_losses += 1
            if local is not None and local.cancel_pending:
                # Our removal of a cancelled meeting, whose unlink was cut off: no deletion to mirror. If the CRM
                # re-opened the meeting since, it goes back to the mailbox.
                if _cancelled(local.content):
                    return [KeepCancelled(link.local_id)]
                return [CreateRemote(local.local_id, local.version, local.content)]
            if local is not None and _cancelled(local.content) and link.agreed_fields.get("cancelled") != _CANCELLED:
                return [KeepCancelled(link.local_id)]  # cancelled in the CRM, gone from the mailbox: both agree
            if local_changed and local is not None:
                record = self._edit_delete_record(link, local.modified_at, self.observed_at)
                if self.policy.edit_beats_delete:
                    return [CreateRemote(local.local_id, local.version, local.content, record)]
                return [DeleteLocal(link.local_id, local.version, link.remote_id, record)]
            return [DeleteLocal(link.local_id, local_version, link.remote_id)]

        if local_changed and remote_changed and local is not None and remote is not None:
            return self._both_changed(local, remote, link.agreed_fields)
        if local_changed and local is not None:
            return [UpdateRemote(local.local_id, local.version, link.remote_id, remote_version, local.content)]
        if remote_changed and remote is not None:
            return [UpdateLocal(link.local_id, local_version, remote.remote_id, remote.version, remote.content)]
        if local_version != link.local_version or remote_version != link.remote_version:
            # Same content under a new version (a change key bumped by the server, a no-op save): keep the
            # link's versions current, or the next push would carry a stale change key.
            content = (local or remote).content  # type: ignore[union-attr]
            return [LinkPair(link.local_id, local_version, link.remote_id, remote_version, content)]
        return []

    def _follow_tag(self, link: Link) -> Link:
        """The link moved to a new mailbox item carrying our tag, when its old item is gone and we owe a push.

        That is our own re-create (an edit beat a mailbox deletion) whose link was never saved: the same
        item, compared as such. Without a pending push an item with our tag is an Outlook copy: a new item
        (an executor that keeps no marks cannot tell, and gets the re-create reading).
        """
        local = self.local_items.get(link.local_id)
        if link.remote_id not in self.remote_deleted or local is None:
            return link
        if self.pushes_marked and local.pushed_hash is None:
            return link
        remote = self._claim_tagged(local)
        if remote is None:
            return link
        return replace(link, remote_id=remote.remote_id, remote_version=None)

    def _claim_tagged(self, local: LocalItem) -> RemoteItem | None:
        """The unlinked mailbox item with this row's tag: the one holding our pushed content, else the first.

        Our create edited by the agent before its link was saved no longer holds our content but is ours all
        the same (pairing it avoids a duplicate); an Outlook copy of it made in that window would be read as
        the original (sync/README.md).
        """
        candidates = [
            remote for remote in self.by_tag.get(local.local_id, ())
            if remote.remote_id not in self.links_by_remote and remote.remote_id not in self.claimed
        ]
        if not candidates:
            return None
        remote = min(candidates, key=lambda item: (not _written_by_us(local, item), item.remote_id))
        self.claimed.add(remote.remote_id)
        return remote

    def _push_over_our_write(self, local: LocalItem, remote: RemoteItem) -> SyncAction:
        if local.content == remote.content:
            return LinkPair(local.local_id, local.version, remote.remote_id, remote.version, local.content)
        return UpdateRemote(local.local_id, local.version, remote.remote_id, remote.version, local.content)

    def _both_changed(
        self, local: LocalItem, remote: RemoteItem, base: Mapping[str, str] | None, *, fill_empty: bool = False
    ) -> list[SyncAction]:
        if local.content == remote.content:
            return [LinkPair(local.local_id, local.version, remote.remote_id, remote.version, local.content)]
        resolution = resolve_both_changed(local, remote, base, self.policy, fill_empty=fill_empty)
        record = ConflictRecord(
            local.local_id,
            remote.remote_id,
            resolution.decision,
            resolution.overridden,
            local.modified_at,
            remote.modified_at,
            self.policy.conflicts.value,
        )
        merged = resolution.content
        if merged == remote.content:
            return [UpdateLocal(local.local_id, local.version, remote.remote_id, remote.version, merged, record)]
        if merged == local.content:
            return [UpdateRemote(local.local_id, local.version, remote.remote_id, remote.version, merged, record)]
        return [UpdateBoth(local.local_id, local.version, remote.remote_id, remote.version, merged, record)]

    def _keep_organizer_cancellation(self, action: UpdateRemote | UpdateBoth) -> UpdateBoth:
        """A CRM re-opening a meeting whose organizer cancelled it (the mailbox holds an attendee's cancelled copy):
        only the organizer can re-open it, and an attendee's copy cannot be un-cancelled (EWS's IsCancelled, Graph's
        isCancelled are read-only), so the other fields are written and
        both sides keep it cancelled, recorded for staff (else the next read would flip the CRM back a round later).
        The other fields stay as the policy settled them; the record says so by its own decision."""
        content = action.content.replace(cancelled=True)
        expected_local = action.local_version if isinstance(action, UpdateRemote) else action.expected_local_version
        settled = action.conflict  # how the policy settled the other fields, if both sides changed some
        record = ConflictRecord(
            action.local_id, action.remote_id, Decision.ORGANIZER_CANCELLED,
            tuple(sorted({*(settled.fields if settled else ()), "cancelled"})),
            settled.local_modified_at if settled else None, settled.remote_modified_at if settled else None,
            self.policy.conflicts.value,
        )  # fmt: skip
        return UpdateBoth(action.local_id, expected_local, action.remote_id, action.expected_remote_version, content,
                          record)  # fmt: skip

    def _onboard_cancelled(self, local: LocalItem, remote: RemoteItem) -> list[SyncAction]:
        """A first-sync pair of a meeting the CRM marked cancelled with a live one in the calendar: the calendar's
        state wins. Before the sync existed the CRM's cancellation reached neither the calendar nor the attendees;
        removing the meeting (and mailing them) at onboarding would surprise everyone. Recorded for staff."""
        live = replace(local, content=local.content.replace(cancelled=False))
        settled: list[SyncAction] = []
        for action in self._both_changed(live, remote, None, fill_empty=True):
            conflict = action.conflict if isinstance(action, UpdateLocal | UpdateRemote | UpdateBoth) else None
            record = ConflictRecord(
                local.local_id, remote.remote_id, Decision.PAIRED,
                tuple(sorted({*(conflict.fields if conflict else ()), "cancelled"})),
                local.modified_at, remote.modified_at, self.policy.conflicts.value,
            )  # fmt: skip
            # The CRM row is written in every case: it still says cancelled.
            match action:
                case LinkPair():
                    settled.append(UpdateLocal(local.local_id, local.version, remote.remote_id, remote.version,
                                               action.content, record))  # fmt: skip
                case UpdateRemote():
                    settled.append(UpdateBoth(local.local_id, local.version, remote.remote_id,
                                              action.expected_remote_version, action.content, record))  # fmt: skip
                case UpdateLocal() | UpdateBoth():
                    settled.append(replace(action, conflict=record))
                case _:
                    raise AssertionError(f"a pair settles as an update or a link, not {action!r}")
        return settled

    def _edit_delete_record(
        self, link: Link, local_at: dt.datetime | None, remote_at: dt.datetime | None
    ) -> ConflictRecord:
        """The record of an edit meeting a deletion, decided by ``edit_beats_delete``."""
        decision = Decision.EDIT_BEAT_DELETE if self.policy.edit_beats_delete else Decision.DELETE_WON
        return ConflictRecord(
            link.local_id, link.remote_id, decision, (), local_at, remote_at, self.policy.conflicts.value
        )

    # -- unlinked items ------------------------------------------------------------------------------

    def _unlinked(self) -> list[SyncAction]:
        actions: list[SyncAction] = []
        unlinked_local = {lid: item for lid, item in self.local_items.items() if lid not in self.links}
        unlinked_tombstones = {lid for lid in self.tombstones if lid not in self.links}
        for local in sorted(unlinked_local.values(), key=lambda item: item.local_id):
            if self.pushes_marked and local.pushed_hash is None:
                # No create in flight: a mailbox item with this row's tag is an Outlook copy of an item the row
                # was once linked to (a meeting cancelled and kept in the CRM), not this row's.
                continue
            remote = self._claim_tagged(local)
            if remote is None:
                continue
            # Our own create whose link was never saved (a crash in between): pair, never copy back.
            del unlinked_local[local.local_id]
            if _written_by_us(local, remote) or _partly_written_by_us(local, remote):
                paired = [self._push_over_our_write(local, remote)]
            else:  # the agent edited it since (or copied it): compare without a base
                paired = self._both_changed(local, remote, None)
            actions.extend(self._cancel_instead(a, remote_cancelled=_cancelled(remote.content), linked=False)
                           for a in paired)  # fmt: skip
        new_remote: list[RemoteItem] = []
        for remote in sorted(self.remote_items.values(), key=lambda item: item.remote_id):
            if remote.remote_id in self.links_by_remote or remote.remote_id in self.claimed:
                continue
            tag = remote.tag
            ours = _written_by_us(self.tombstones.get(tag), remote) if self.pushes_marked else tag in self.tombstones
            if (
                tag is not None
                and ours
                and (tag not in self.links or self.links[tag].remote_id in self.remote_deleted)
            ):
                # Our create of an item the CRM deleted before the link was saved: finish the deletion.
                # (An Outlook copy carries the tag too, but not our content: it is created like any new item.)
                unlinked_tombstones.discard(tag)
                actions.append(DeleteRemote(tag, remote.remote_id, remote.version))
            else:
                new_remote.append(remote)

        if self.initial and unlinked_local and new_remote:
            self.matches = match_existing(list(unlinked_local.values()), [r for r in new_remote if r.tag is None])
            by_remote = {r.remote_id: r for r in new_remote}
            for match in self.matches.matches:
                local, remote = unlinked_local.pop(match.local_id), by_remote.pop(match.remote_id)
                if _cancelled(local.content) and not _cancelled(remote.content):
                    actions.extend(self._onboard_cancelled(local, remote))
                else:
                    actions.extend(self._both_changed(local, remote, None, fill_empty=True))
            new_remote = list(by_remote.values())

        actions.extend(CreateLocal(r.remote_id, r.version, r.content) for r in new_remote)
        for item in unlinked_local.values():
            if not _cancelled(item.content):
                actions.append(CreateRemote(item.local_id, item.version, item.content))
            elif item.pushed_hash is not None:
                # A cancelled meeting stays out of the mailbox; only the write-ahead mark of a create that
                # never reached it (or was removed since) needs clearing.
                actions.append(KeepCancelled(item.local_id))
        actions.extend(Forget(lid) for lid in sorted(unlinked_tombstones))
        return actions


def _cancelled(content: Content) -> bool:
    return content.kind is ItemKind.EVENT and bool(content.canonical["cancelled"])


# The digest of ``cancelled: true``: how a link tells an agreed event was cancelled without a copy of it.
_CANCELLED = empty(ItemKind.EVENT).replace(cancelled=True).field_digests["cancelled"]


def _written_by_us(local: LocalItem | LocalTombstone | None, remote: RemoteItem) -> bool:
    return local is not None and local.pushed_hash is not None and local.pushed_hash == remote.content.hash


def _partly_written_by_us(local: LocalItem, remote: RemoteItem) -> bool:
    """The mailbox holds our pending push of a series but for its exceptions: a write cut off in between.

    Both backends write a series' exceptions in requests of their own after the series (mailboxes/ews.py,
    mailboxes/graph/series.py), so a failure
    there leaves the mailbox with the row's content except the exceptions, and the row with the mark of that
    push (the mark equals the row's content: no CRM edit since). Read as an agent's edit, a "later wins" would
    drop the CRM's exceptions; it is ours, so it is pushed again (the gateway writes only what is missing).
    The cost: an exception the agent changed in Outlook inside that window is overwritten by the CRM's.
    """
    ours, theirs = local.content, remote.content
    if local.pushed_hash != ours.hash or ours.kind is not ItemKind.EVENT or ours == theirs:
        return False
    if not ours.canonical["recurrence"] or not theirs.canonical["recurrence"]:
        return False
    if _without_exceptions(ours.canonical) != _without_exceptions(theirs.canonical):
        return False
    # Cut off, the mailbox can only lack some of our exceptions; one it has that we do not is someone's edit.
    mine, its = ours.canonical["recurrence"], theirs.canonical["recurrence"]
    return all({_frozen(x) for x in its[key]} <= {_frozen(x) for x in mine[key]}  # type: ignore[index]
               for key in ("cancelled_occurrences", "changed_occurrences"))  # fmt: skip


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _without_exceptions(canonical: Mapping[str, object]) -> dict[str, object]:
    recurrence = {key: value for key, value in canonical["recurrence"].items()  # type: ignore[attr-defined]
                  if key not in ("cancelled_occurrences", "changed_occurrences")}  # fmt: skip
    return {**canonical, "recurrence": recurrence}


def _changed(version: object, linked_version: object, content_hash: str, link: Link) -> bool:
    """Changed means a new version *and* new content; an unknown linked version falls back to content."""
    if linked_version is not None and version == linked_version:
        return False
    return content_hash != link.agreed_hash

"""Two in-memory sides for the reconciliation core, and a small executor that applies plans as the real one must.

The mailbox keeps ids, change keys, tags and a change feed with watermarks (SyncFolderItems' semantics: a
watermark read before our writes, so our writes show up in the next feed). The CRM keeps rows with version
counters, tombstones, the link table, conflict records and the watermark, all "in one database". The executor
can be cut off after any number of effects (a remote write, or one database transaction) to model a crash.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from sync.actions import (
    CancelRemote,
    ConflictRecord,
    CreateLocal,
    CreateRemote,
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
from sync.content import Content
from sync.guard import MassDeletion
from sync.policy import SyncPolicy
from sync.reconcile import Plan, plan_sync
from sync.state import Link, LocalChanges, LocalItem, LocalTombstone, RemoteChanges, RemoteItem

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Crash(Exception):
    """The worker died here."""


class StaleVersion(Exception):
    """The mailbox item's change key moved on (the gateway's ConflictError)."""


class NotFound(Exception):
    """The mailbox item is gone (the gateway's ItemNotFound)."""


@dataclass
class StoredRemote:
    version: str
    content: Content
    modified_at: dt.datetime
    tag: str | None


@dataclass
class Mailbox:
    """The remote side: what a mailbox folder looks like through the gateway."""

    items: dict[str, StoredRemote] = field(default_factory=dict)
    feed: list[str] = field(default_factory=list)  # item ids in order of change; a watermark is a position
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    requests: int = 0

    def _changed(self, remote_id: str) -> None:
        self.feed.append(remote_id)

    def _new_version(self) -> str:
        return f"ck{next(self._ids)}"

    # the user, in Outlook
    def user_create(self, content: Content, at: dt.datetime, tag: str | None = None) -> str:
        remote_id = f"R{next(self._ids)}"
        self.items[remote_id] = StoredRemote(self._new_version(), content, at, tag)
        self._changed(remote_id)
        return remote_id

    def user_update(self, remote_id: str, content: Content, at: dt.datetime) -> None:
        item = self.items[remote_id]
        item.version, item.content, item.modified_at = self._new_version(), content, at
        self._changed(remote_id)

    def server_touch(self, remote_id: str) -> None:
        """A new change key with the same content (the server re-saved it): not an edit."""
        self.items[remote_id].version = self._new_version()
        self._changed(remote_id)

    def user_delete(self, remote_id: str) -> None:
        del self.items[remote_id]
        self._changed(remote_id)

    # the gateway
    def read_changes(self, watermark: int | None, observed_at: dt.datetime) -> tuple[RemoteChanges, int]:
        self.requests += 1
        if watermark is None:
            listing = tuple(self._as_remote(rid) for rid in sorted(self.items))
            return RemoteChanges(listing, (), complete=True, observed_at=observed_at), len(self.feed)
        touched = dict.fromkeys(self.feed[watermark:])
        items = tuple(self._as_remote(rid) for rid in touched if rid in self.items)
        deleted = tuple(rid for rid in touched if rid not in self.items)
        return RemoteChanges(items, deleted, observed_at=observed_at), len(self.feed)

    def _as_remote(self, remote_id: str) -> RemoteItem:
        item = self.items[remote_id]
        return RemoteItem(remote_id, item.version, item.content, item.modified_at, item.tag)

    def find_by_tag(self, tag: str) -> list[RemoteItem]:
        self.requests += 1
        return [self._as_remote(rid) for rid in sorted(self.items) if self.items[rid].tag == tag]

    def create(self, content: Content, tag: str, at: dt.datetime) -> str:
        self.requests += 1
        return self.user_create(content, at, tag)

    def update(self, remote_id: str, expected_version: str | None, content: Content, at: dt.datetime) -> str:
        self.requests += 1
        item = self.items.get(remote_id)
        if item is None:
            raise NotFound(remote_id)
        if expected_version is not None and item.version != expected_version:
            raise StaleVersion(remote_id)
        if "cancelled" in content.values:  # IsCancelled is the server's: a client's write leaves it as it was
            content = content.replace(cancelled=bool(item.content.canonical["cancelled"]))
        self.user_update(remote_id, content, at)
        return self.items[remote_id].version

    def delete(self, remote_id: str, expected_version: str | None) -> None:
        self.requests += 1
        item = self.items.get(remote_id)
        if item is None:
            raise NotFound(remote_id)
        if expected_version is not None and item.version != expected_version:
            raise StaleVersion(remote_id)
        self.user_delete(remote_id)


@dataclass
class LocalRow:
    version: int
    content: Content
    modified_at: dt.datetime
    pushed_hash: str | None = None  # write-ahead mark of a mailbox write not yet covered by a link
    cancel_pending: bool = False  # write-ahead flag of a cancellation's removal not yet covered by the unlink


@dataclass
class Crm:
    """The local side and the sync state, as the database holds them."""

    rows: dict[str, LocalRow] = field(default_factory=dict)
    tombstones: dict[str, tuple[dt.datetime, str | None]] = field(default_factory=dict)  # deleted_at, pushed
    links: dict[str, Link] = field(default_factory=dict)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    alerts: list[MassDeletion] = field(default_factory=list)
    watermark: int | None = None
    first_sync_done: bool = False  # a watermark was committed once: initial matching is over
    completed_syncs: int = 0  # syncs that applied every action of their plan
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def user_create(self, content: Content, at: dt.datetime) -> str:
        local_id = f"L{next(self._ids)}"
        self.rows[local_id] = LocalRow(1, content, at)
        return local_id

    def user_update(self, local_id: str, content: Content, at: dt.datetime) -> None:
        row = self.rows[local_id]
        row.version, row.content, row.modified_at = row.version + 1, content, at

    def user_delete(self, local_id: str, at: dt.datetime) -> None:
        row = self.rows.pop(local_id)
        self.tombstones[local_id] = (at, row.pushed_hash)

    def changes(self, *, complete: bool = False) -> LocalChanges:
        """Rows whose version is not the linked one (or unlinked, unless a cancelled meeting the CRM keeps alone),
        and tombstones: one query in SQL."""
        items = tuple(
            LocalItem(lid, row.version, row.content, row.modified_at, row.pushed_hash, row.cancel_pending)
            for lid, row in sorted(self.rows.items())
            if complete or row.pushed_hash or row.cancel_pending or (
                self.links[lid].local_version != row.version if lid in self.links
                else not (self.first_sync_done and _cancelled(row.content))  # matched on the first sync only
            )
        )
        tombstones = tuple(LocalTombstone(lid, at, pushed) for lid, (at, pushed) in sorted(self.tombstones.items()))
        return LocalChanges(items, tombstones, complete, pushes_marked=True)

    def save_link(self, link: Link) -> None:
        clash = [lid for lid, old in self.links.items() if old.remote_id == link.remote_id and lid != link.local_id]
        assert not clash, f"unique index on remote_id: {link.remote_id} is linked to {clash}"
        self.links[link.local_id] = link
        if link.local_id in self.rows:  # the push (or removal) is covered by the link now
            self.rows[link.local_id].pushed_hash, self.rows[link.local_id].cancel_pending = None, False

    def mark_push(self, local_id: str, content: Content) -> None:
        """Write-ahead, in its own transaction before the mailbox request."""
        if local_id in self.rows:
            self.rows[local_id].pushed_hash = content.hash
        elif local_id in self.tombstones:
            self.tombstones[local_id] = (self.tombstones[local_id][0], content.hash)

    def unlink(self, local_id: str) -> None:
        """Drop the link and the mark of a row that stays (a cancelled meeting the mailbox no longer holds)."""
        self.links.pop(local_id, None)
        if local_id in self.rows:
            self.rows[local_id].pushed_hash, self.rows[local_id].cancel_pending = None, False

    def forget(self, local_id: str, remote_id: str | None = None) -> None:
        link = self.links.get(local_id)
        if link is not None and (remote_id is None or link.remote_id == remote_id):
            del self.links[local_id]
        if local_id not in self.links:
            self.tombstones.pop(local_id, None)


@dataclass
class Executor:
    """Applies a plan against both sides the way the production executor must (sync/README.md)."""

    crm: Crm
    mailbox: Mailbox
    clock: dt.datetime
    crash_after: int | None = None  # effects (remote writes, database transactions) before the crash
    effects: int = 0
    skipped: int = 0

    def _effect(self) -> None:
        self.effects += 1
        if self.crash_after is not None and self.effects >= self.crash_after:
            raise Crash(f"after effect {self.effects}")

    def apply(self, plan: Plan) -> bool:
        """Apply every action in order; True when none was skipped (only then may the watermark move)."""
        for action in plan.actions:
            self._apply(action)
        return self.skipped == 0

    def _record(self, action: SyncAction) -> None:
        conflict = getattr(action, "conflict", None)
        if conflict is not None:
            self.crm.conflicts.append(conflict)

    def _update(self, action: UpdateRemote | UpdateBoth) -> str | None:
        """Mark, then write the mailbox item at the expected version; its new version, or None when skipped."""
        self.crm.mark_push(action.local_id, action.content)
        self._effect()
        try:
            version = self.mailbox.update(action.remote_id, action.expected_remote_version, action.content, self.clock)
        except (StaleVersion, NotFound):
            self.skipped += 1
            return None
        self._effect()
        return version

    def _remove(self, action: DeleteRemote | CancelRemote) -> bool:
        """Delete the mailbox item at the expected version; True when it is gone, False when skipped."""
        try:
            self.mailbox.delete(action.remote_id, action.expected_remote_version)
        except StaleVersion:
            self.skipped += 1
            return False
        except NotFound:
            pass  # gone already: the goal of this action
        else:
            self._effect()
        return True

    def _apply(self, action: SyncAction) -> None:
        crm, mailbox = self.crm, self.mailbox
        match action:
            case LinkPair():
                crm.save_link(action.link())
                self._effect()
            case Forget():
                crm.forget(action.local_id)
                self._effect()
            case KeepCancelled():
                crm.unlink(action.local_id)
                self._record(action)
                self._effect()
            case CreateLocal():
                if any(
                    link.remote_id == action.remote_id and link.local_id != action.replaces_local_id
                    for link in crm.links.values()
                ):
                    return  # already applied by an earlier try
                if action.replaces_local_id is not None:
                    crm.links.pop(action.replaces_local_id, None)
                    crm.tombstones.pop(action.replaces_local_id, None)
                local_id = crm.user_create(action.content, self.clock)
                crm.save_link(action.link(local_id, 1))
                self._record(action)
                self._effect()
            case UpdateLocal():
                row = crm.rows.get(action.local_id)
                if row is None or (action.expected_local_version not in (None, row.version)):
                    self.skipped += 1
                    return
                crm.user_update(action.local_id, action.content, self.clock)
                crm.save_link(action.link(row.version))
                self._record(action)
                self._effect()
            case DeleteLocal():
                row = crm.rows.get(action.local_id)
                if row is not None and action.expected_local_version not in (None, row.version):
                    self.skipped += 1
                    return
                if row is None and action.local_id in crm.tombstones:
                    self.skipped += 1  # deleted here too meanwhile: the next plan forgets it
                    return
                crm.rows.pop(action.local_id, None)
                crm.forget(action.local_id, action.remote_id)
                self._record(action)
                self._effect()
            case CreateRemote():
                taken = {link.remote_id for lid, link in crm.links.items() if lid != action.local_id}
                # An Outlook copy of one of our items carries our tag too, but is linked to its own row.
                found = [item for item in mailbox.find_by_tag(action.tag) if item.remote_id not in taken]
                if found:
                    link = action.link_found(found[0].remote_id, found[0].version, found[0].content)
                else:
                    crm.mark_push(action.local_id, action.content)
                    self._effect()
                    remote_id = mailbox.create(action.content, action.tag, self.clock)
                    self._effect()
                    link = action.link_created(remote_id, mailbox.items[remote_id].version)
                crm.save_link(link)
                self._record(action)
                self._effect()
            case UpdateRemote():
                version = self._update(action)
                if version is None:
                    return
                crm.save_link(action.link(version))
                self._record(action)
                self._effect()
            case UpdateBoth():
                # The CRM first (with the write-ahead mark), so a crash or a refused mailbox write leaves a
                # CRM row holding the merge, which the next plan merges again; never a mailbox-only merge.
                row = crm.rows.get(action.local_id)
                if row is None or row.version != action.expected_local_version:
                    self.skipped += 1
                    return
                crm.user_update(action.local_id, action.content, self.clock)
                version = self._update(action)
                if version is None:
                    return
                crm.save_link(action.link(row.version, version))
                self._record(action)
                self._effect()
            case DeleteRemote():
                if not self._remove(action):
                    return
                crm.forget(action.local_id, action.remote_id)
                self._record(action)
                self._effect()
            case CancelRemote():
                row = crm.rows.get(action.local_id)
                if row is None or row.version != action.local_version:
                    self.skipped += 1  # re-opened or deleted meanwhile: re-plan
                    return
                if action.write_local:  # a merge that cancels: the CRM first, as UpdateBoth does
                    crm.user_update(action.local_id, action.content, self.clock)
                row.cancel_pending = True  # the removal about to happen is ours (same transaction)
                self._effect()
                if not self._remove(action):
                    row.cancel_pending = False  # refused: the removal surely did not happen
                    return
                crm.unlink(action.local_id)
                self._record(action)
                self._effect()
            case _:
                raise AssertionError(f"unknown action {action!r}")


def _cancelled(content: Content) -> bool:
    return bool(content.canonical.get("cancelled"))


def run_sync(
    crm: Crm,
    mailbox: Mailbox,
    clock: dt.datetime,
    policy: SyncPolicy | None = None,
    *,
    crash_after: int | None = None,
    confirm_mass_deletion: bool = False,
    full_local_listing: bool = False,
) -> Plan:
    """One sync as the worker runs it: read the feed, plan, apply, and move the watermark only if all applied."""
    remote_changes, new_watermark = mailbox.read_changes(crm.watermark, clock)
    plan = plan_sync(
        crm.links, crm.changes(complete=full_local_listing), remote_changes, policy,
        allow_mass_deletion=confirm_mass_deletion, first_sync=not crm.first_sync_done,
    )
    if plan.paused is not None:
        crm.alerts.append(plan.paused)
        return plan
    if Executor(crm, mailbox, clock, crash_after).apply(plan):
        crm.watermark = new_watermark
        crm.first_sync_done = True
        crm.completed_syncs += 1
    return plan

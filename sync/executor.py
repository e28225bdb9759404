"""Applies a plan's actions to the CRM rows and the mailbox, as sync/README.md's executor contract says.

Each local write is one short transaction together with its link row and conflict record. Each mailbox write
carries the version the plan saw; a stale one (ConflictError), or a row that moved under us, is a *skip*:
nothing is overwritten, the watermark stays, and the next round re-reads and re-plans.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from engage_sync.failpoints import failpoint
from mailboxes.errors import ConflictError, ItemNotFound
from mailboxes.gateway import ItemRef, MailboxGateway
from mailboxes.items import Collection, Contact, Event
from sync import ledger, records
from sync.actions import (
    CancelRemote,
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
from sync.attendees import without_uninvited_attendees
from sync.content import Content
from sync.models import Event as EventRow
from sync.models import SyncedRecord, SyncLink

log = logging.getLogger(__name__)
LEASE_CHECK_EVERY = 50  # actions between lease renewals
CREATE_BATCH = 1000  # new CRM rows per transaction


@dataclass
class Executor:
    """One folder's plan against one mailbox; counts what it did and what it had to skip."""

    mailbox_id: int
    address: str
    collection: Collection
    gateway: MailboxGateway
    keep_lease: Callable[[], None]
    # The folder's round these actions belong to (ledger.start_write_round) and the one the plan's read covers
    # (FolderState.write_round before that read). Each link saved is stamped, so its mailbox item is read by id until
    # a stored watermark covers its creation: an item we create or update with ``write_round`` (a read after the
    # write must confirm it), an item pulled or paired with ``read_round`` (storing this read's watermark confirms it).
    write_round: int | None = None
    read_round: int | None = None
    pulled: int = 0
    pushed: int = 0
    conflicts: int = 0
    skipped: int = 0
    gone: set[str] = field(default_factory=set)  # mailbox items found missing on write: deleted, for the re-plan

    def apply(self, actions: tuple[SyncAction, ...]) -> bool:
        """Apply every action in order; True when none was skipped (only then may the watermark move)."""
        batch: list[CreateLocal] = []
        for number, action in enumerate(actions):
            if number and number % LEASE_CHECK_EVERY == 0:
                self.keep_lease()
            if isinstance(action, CreateLocal) and action.replaces_local_id is None:
                batch.append(action)
                if len(batch) >= CREATE_BATCH:
                    self._create_locals(batch)
                    batch = []
                continue
            if batch:
                self._create_locals(batch)
                batch = []
            self._apply(action)
        if batch:
            self._create_locals(batch)
        return self.skipped == 0

    def _create_locals(self, batch: list[CreateLocal]) -> None:
        """New CRM rows from mailbox items with their links, many per transaction: an initial sync of thousands
        of items costs a few statements per batch instead of four per item. Each row still lands with its link."""
        m, c = self.mailbox_id, self.collection
        now = timezone.now()
        with transaction.atomic():
            taken = set(
                SyncLink.objects.filter(mailbox_id=m, collection=c.value, remote_id__in=[a.remote_id for a in batch])
                .values_list("remote_id", flat=True)
            )
            created = []
            for action in batch:
                if action.remote_id in taken:
                    continue  # an earlier try created and linked it
                taken.add(action.remote_id)
                row = self.model(mailbox_id=m, version=1, modified_at=now)
                records.write_values(row, action.content.values)
                created.append((action, row))
            self.model.objects.bulk_create([row for _action, row in created])
            links = [action.link(str(row.pk), row.version) for action, row in created]
            ledger.create_links(m, c, links, write_round=self.read_round)
            for action, _row in created:
                self._record(action)
        self.pulled += len(created)

    # --- plumbing -------------------------------------------------------------------------------------

    @property
    def model(self) -> type[SyncedRecord]:
        return records.MODEL_OF[self.collection]

    def _skip(self, action: SyncAction, why: str) -> None:
        self.skipped += 1
        log.info("sync: mailbox %s %s: skipped %s (%s); re-read next round", self.mailbox_id, self.collection,
                 type(action).__name__, why)  # fmt: skip

    def _link(self, link, *, written: bool = False) -> None:
        ledger.save_link(self.mailbox_id, self.collection, link, write_round=self.write_round if written else self.read_round)

    def _record(self, action: SyncAction) -> None:
        conflict = getattr(action, "conflict", None)
        if conflict is not None:
            self.conflicts += 1
            ledger.record_conflict(self.mailbox_id, self.collection, conflict)

    def _live_row(self, local_id: str) -> SyncedRecord | None:
        return self.model.objects.select_for_update().filter(pk=UUID(local_id), deleted_at__isnull=True).first()

    def _write_row(self, row: SyncedRecord, content: Content) -> None:
        records.write_values(row, content.values)
        row.save()  # bumps the version

    # --- mailbox writes -----------------------------------------------------------------------------

    def _current_version(self, remote_id: str, agreed_hash: str | None) -> str | None:
        """The change key to write against when the plan knew none: only if the item still holds the agreed content."""
        (stored,) = self.gateway.fetch(self.address, self.collection, [remote_id])
        if stored is None or agreed_hash is None or records.item_content(stored.item).hash != agreed_hash:
            return None
        return stored.ref.version

    def _agreed_hash(self, local_id: str) -> str | None:
        return (
            SyncLink.objects.filter(mailbox_id=self.mailbox_id, collection=self.collection.value, local_id=UUID(local_id))
            .values_list("agreed_hash", flat=True)
            .first()
        )

    def _as_written(self, item: Contact | Event, local_id: str) -> Contact | Event:
        """The item as the mailbox should write it: an event invites its attendees only if the CRM asked (on a
        backend that invites whoever an event names, the attendees stay in the CRM: sync/attendees.py)."""
        if not isinstance(item, Event):
            return item
        asked = bool(EventRow.objects.filter(pk=UUID(local_id)).values_list("send_invitations", flat=True).first())
        if self.gateway.capabilities.attendees_always_invited:
            item = without_uninvited_attendees(item, asked)
        return dataclasses.replace(item, send_invitations=asked)

    def _update_remote(self, action: UpdateRemote | UpdateBoth) -> ItemRef | None:
        version = action.expected_remote_version or self._current_version(action.remote_id, self._agreed_hash(action.local_id))
        if version is None:
            self._skip(action, "the mailbox item's version is unknown and its content moved")
            return None
        item = self._as_written(records.gateway_item(action.content.kind, action.content.values), action.local_id)
        update = self.gateway.update_contact if self.collection is Collection.CONTACTS else self.gateway.update_event
        try:
            ref = update(self.address, ItemRef(action.remote_id, version), item)  # type: ignore[arg-type]
        except ConflictError:
            self._skip(action, "ConflictError")
            return None
        except ItemNotFound:
            # Gone, though no feed said so (Exchange nets out a create and a delete between two reads):
            # the re-plan treats it as deleted, so an edit here re-creates it instead of retrying forever.
            self.gone.add(action.remote_id)
            self._skip(action, "ItemNotFound")
            return None
        self.pushed += 1
        return ref

    # --- the actions --------------------------------------------------------------------------------

    def _apply(self, action: SyncAction) -> None:
        m, c = self.mailbox_id, self.collection
        match action:
            case LinkPair():
                with transaction.atomic():
                    self._link(action.link())
            case Forget():
                with transaction.atomic():
                    ledger.forget(m, c, action.local_id)
            case CreateLocal():
                with transaction.atomic():
                    taken = SyncLink.objects.filter(mailbox_id=m, collection=c.value, remote_id=action.remote_id)
                    if action.replaces_local_id is not None:
                        taken = taken.exclude(local_id=UUID(action.replaces_local_id))
                    if taken.exists():
                        return  # an earlier try created and linked it
                    if action.replaces_local_id is not None:
                        SyncLink.objects.filter(mailbox_id=m, collection=c.value,
                                                local_id=UUID(action.replaces_local_id)).delete()  # fmt: skip
                        self.model.objects.filter(pk=UUID(action.replaces_local_id), deleted_at__isnull=False).delete()
                    row = self.model(mailbox_id=m)
                    self._write_row(row, action.content)
                    self._link(action.link(str(row.pk), row.version))
                    self._record(action)
                self.pulled += 1
            case UpdateLocal():
                with transaction.atomic():
                    row = self._live_row(action.local_id)
                    if row is None or row.version != action.expected_local_version:
                        self._skip(action, "the CRM row moved")
                        return
                    self._write_row(row, action.content)
                    self._link(action.link(row.version))
                    self._record(action)
                self.pulled += 1
            case DeleteLocal():
                with transaction.atomic():
                    row = self.model.objects.select_for_update().filter(pk=UUID(action.local_id)).first()
                    if row is not None and row.deleted_at is not None:
                        self._skip(action, "deleted in the CRM too; the next plan forgets it")
                        return
                    if row is not None and action.expected_local_version not in (None, row.version):
                        self._skip(action, "the CRM row moved")
                        return
                    if row is not None:
                        row.delete()
                    ledger.forget(m, c, action.local_id, action.remote_id)
                    self._record(action)
                self.pulled += 1
            case CreateRemote():
                self._create_remote(action)
            case UpdateRemote():
                ledger.mark_push(c, action.local_id, action.content.hash, mailbox_id=m, write_round=self.write_round)
                ref = self._update_remote(action)
                if ref is not None:
                    with transaction.atomic():
                        self._link(action.link(ref.version), written=True)
                        self._record(action)
            case UpdateBoth():
                # The CRM first, with the mark: a crash or a refused mailbox write then leaves a CRM row holding
                # the merge, which the next plan merges again; never a merge only the mailbox holds.
                with transaction.atomic():
                    row = self._live_row(action.local_id)
                    if row is None or row.version != action.expected_local_version:
                        self._skip(action, "the CRM row moved")
                        return
                    records.write_values(row, action.content.values)
                    row.pushed_hash = action.content.hash
                    row.save()
                    if self.write_round is not None:  # the mailbox write about to happen awaits confirmation
                        SyncLink.objects.filter(mailbox_id=m, collection=c.value, local_id=row.pk).update(
                            write_round=self.write_round
                        )
                self.pulled += 1
                ref = self._update_remote(action)
                if ref is None:
                    return
                with transaction.atomic():
                    self._link(action.link(row.version, ref.version), written=True)
                    self._record(action)
            case DeleteRemote():
                self._delete_remote(action)
            case KeepCancelled():
                with transaction.atomic():
                    ledger.keep_alone(m, c, action.local_id)
                    self._record(action)
            case CancelRemote():
                self._cancel_remote(action)
            case _:
                raise AssertionError(f"unknown action {action!r}")

    def _create_remote(self, action: CreateRemote) -> None:
        m, c = self.mailbox_id, self.collection
        marked = self.model.objects.filter(pk=UUID(action.local_id)).exclude(pushed_hash="").exists()
        found = None
        if marked:
            # A marked row may have been created in the mailbox by a try that died before the link: find it by
            # our tag. An Outlook copy of one of our items carries the tag too, but is linked to its own row.
            # (An unmarked row never left an unlinked tagged copy: every push marks first.)
            taken = set(
                SyncLink.objects.filter(mailbox_id=m, collection=c.value)
                .exclude(local_id=UUID(action.local_id))
                .values_list("remote_id", flat=True)
            )
            found = next((s for s in self.gateway.find_by_tag(self.address, c, action.tag)
                          if s.ref.item_id not in taken), None)  # fmt: skip
        if found is not None:
            link = action.link_found(found.ref.item_id, found.ref.version, records.item_content(found.item))
        else:
            ledger.mark_push(c, action.local_id, action.content.hash)
            item = self._as_written(records.gateway_item(action.content.kind, action.content.values), action.local_id)
            create = self.gateway.create_contact if c is Collection.CONTACTS else self.gateway.create_event
            ref = create(self.address, item, tag=action.tag)  # type: ignore[arg-type]
            self.pushed += 1
            failpoint("sync.after_remote_create")
            link = action.link_created(ref.item_id, ref.version)
        with transaction.atomic():
            self._link(link, written=True)  # found or created: our create, which no committed watermark covers yet
            self._record(action)

    def _removal_version(self, action: DeleteRemote | CancelRemote) -> tuple[bool, str | None]:
        """(go on, the change key to delete at): a plan that knew no change key deletes only the agreed content;
        None with go on = the item is gone already."""
        version = action.expected_remote_version
        if version is not None:
            return True, version
        try:
            version = self._current_version(action.remote_id, self._agreed_hash(action.local_id))
        except ItemNotFound:
            version = None
        if version is None and self.gateway.fetch(self.address, self.collection, [action.remote_id])[0] is not None:
            self._skip(action, "the mailbox item's version is unknown and its content moved")
            return False, None
        return True, version

    def _remove_remote(self, action: DeleteRemote | CancelRemote, remove: Callable[[ItemRef], object]) -> bool:
        """Remove the mailbox item at the version the plan expects (or, knowing none, only if it still holds the
        agreed content); True when it is gone, False when skipped."""
        go_on, version = self._removal_version(action)
        if not go_on:
            return False
        try:
            if version is not None:
                remove(ItemRef(action.remote_id, version))
                self.pushed += 1
        except ConflictError:
            self._skip(action, "ConflictError")
            return False
        except ItemNotFound:
            pass  # gone already: the goal of this action
        return True

    def _delete_remote(self, action: DeleteRemote) -> None:
        if not self._remove_remote(action, lambda ref: self.gateway.delete_item(self.address, ref)):
            return
        with transaction.atomic():
            ledger.forget(self.mailbox_id, self.collection, action.local_id, action.remote_id)
            self._record(action)

    def _cancel_remote(self, action: CancelRemote) -> None:
        """The CRM row first (still the cancelled version the plan saw; a merge written), then the mailbox item's
        removal with Exchange's cancellation to invited attendees, then the row unlinked: kept in the CRM alone."""
        with transaction.atomic():
            row = self._live_row(action.local_id)
            if row is None or row.version != action.local_version:
                self._skip(action, "the CRM row moved")
                return
            if action.write_local:
                self._write_row(row, action.content)
                self.pulled += 1
            ledger.mark_cancel(self.collection, action.local_id)  # the removal about to happen is ours

        def cancel(ref: ItemRef) -> None:
            told = self.gateway.cancel_event(self.address, ref)
            log.info("sync: mailbox %s: meeting %s cancelled in the CRM, removed from the calendar%s",
                     self.mailbox_id, action.local_id, "; attendees told" if told else "")  # fmt: skip

        if not self._remove_remote(action, cancel):
            # Skipped: the removal surely did not happen, so the flag must not later read a deletion as ours.
            ledger.clear_cancel(self.collection, action.local_id)
            return
        failpoint("sync.after_remote_cancel")
        with transaction.atomic():
            ledger.keep_alone(self.mailbox_id, self.collection, action.local_id)
            self._record(action)

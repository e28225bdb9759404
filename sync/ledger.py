"""The database side of one folder's sync: links, the CRM's changes since them, and the folder's watermark.

Each function is one or two queries; the executor wraps the writes in its own short transactions.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery

from mailboxes.items import Collection
from sync import records
from sync.actions import ConflictRecord
from sync.content import ContentError
from sync.models import FolderState, SyncConflict, SyncLink
from sync.state import Link, LocalChanges, LocalItem, LocalTombstone

log = logging.getLogger(__name__)


def folder_state(mailbox_id: int, collection: Collection) -> FolderState:
    state, _ = FolderState.objects.get_or_create(mailbox_id=mailbox_id, collection=collection.value)
    return state


def load_links(mailbox_id: int, collection: Collection) -> dict[str, Link]:
    """Every link of the folder, keyed by local id, as the planner's records."""
    rows = SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value).values_list(
        "local_id", "remote_id", "local_version", "remote_version", "agreed_hash", "agreed_fields"
    )
    return {
        str(local_id): Link(str(local_id), remote_id, local_version, remote_version, agreed_hash, agreed_fields)
        for local_id, remote_id, local_version, remote_version, agreed_hash, agreed_fields in rows.iterator(2000)
    }


# Per collection: the rows carrying a write-ahead flag besides ``pushed_hash`` (only events have one), and the
# update that clears every mark.
_MARKED = {Collection.CONTACTS: Q(pk__in=[]), Collection.CALENDAR: Q(cancel_pending=True)}
_UNMARKED = {Collection.CONTACTS: {"pushed_hash": ""}, Collection.CALENDAR: {"pushed_hash": "", "cancel_pending": False}}


def local_changes(mailbox_id: int, collection: Collection, *, first_sync: bool = False) -> LocalChanges:
    """One query: rows without a current link (no link, another version, or an unknown one) and tombstones.

    A meeting cancelled in the CRM and kept there alone (unlinked, unmarked: the mailbox cannot hold it) is
    no change, so a quiet sync stays quiet; only the first sync lists it, to match it with the mailbox's copy.
    """
    model = records.MODEL_OF[collection]
    linked_version = SyncLink.objects.filter(
        mailbox_id=mailbox_id, collection=collection.value, local_id=OuterRef("pk")
    ).values("local_version")[:1]
    rows = (
        model.objects.filter(mailbox_id=mailbox_id)
        .annotate(linked_version=Subquery(linked_version))
        .filter(
            Q(deleted_at__isnull=False) | Q(linked_version__isnull=True) | ~Q(version=F("linked_version"))
            | ~Q(pushed_hash="") | _MARKED[collection]
        )
        .order_by("pk")
    )
    if collection is Collection.CALENDAR and not first_sync:
        # Unlinked, not a NULL linked version (a link whose version is unknown still syncs).
        linked = Exists(SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value, local_id=OuterRef("pk")))
        rows = rows.exclude(Q(cancelled=True, deleted_at__isnull=True, pushed_hash="") & ~linked)
    items, tombstones = [], []
    for row in rows.iterator(500):
        if row.deleted_at is not None:
            tombstones.append(LocalTombstone(str(row.pk), row.deleted_at, row.pushed_hash or None))
            continue
        try:
            # Whole seconds, as Exchange keeps its LastModifiedTime: "later wins" then compares like with like.
            modified_at = row.modified_at.replace(microsecond=0)
            items.append(LocalItem(str(row.pk), row.version, records.row_content(row), modified_at, row.pushed_hash or None,
                                   getattr(row, "cancel_pending", False)))  # fmt: skip
        except ContentError as error:  # the API refuses such input; a row written otherwise is left out, loudly
            log.error("sync: %s row %s of mailbox %s cannot be synced: %s", collection, row.pk, mailbox_id, error)
    return LocalChanges(tuple(items), tuple(tombstones), pushes_marked=True)


def mark_push(collection: Collection, local_id: str, content_hash: str, *, mailbox_id: int | None = None,
              write_round: int | None = None) -> None:
    """The write-ahead mark, committed before the mailbox request (no version bump: it is no CRM edit); with a
    ``write_round``, the row's current link (an update's target) is stamped unconfirmed in the same transaction."""
    with transaction.atomic():
        records.MODEL_OF[collection].objects.filter(pk=UUID(local_id)).update(pushed_hash=content_hash)
        if write_round is not None:
            SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value, local_id=UUID(local_id)).update(
                write_round=write_round
            )


def start_write_round(state: FolderState) -> int:
    """Count a round that is about to apply actions (before the first) and return its number: its links await
    confirmation, which the next sync then knows without a query (``write_round > confirmed_round``)."""
    FolderState.objects.filter(pk=state.pk).update(write_round=F("write_round") + 1)
    state.write_round += 1
    return state.write_round


def unconfirmed_writes(mailbox_id: int, collection: Collection) -> frozenset[str]:
    """The linked mailbox items whose creation no stored watermark may cover yet: ours, or pulled in a sync whose
    watermark was not stored (sync/README.md, "Our writes are confirmed")."""
    return frozenset(
        SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value, write_round__isnull=False)
        .values_list("remote_id", flat=True)
        .iterator(2000)
    )


def confirm_writes(mailbox_id: int, collection: Collection, up_to_round: int) -> None:
    """Our writes of rounds up to ``up_to_round`` are covered by the watermark being committed with this."""
    SyncLink.objects.filter(
        mailbox_id=mailbox_id, collection=collection.value, write_round__isnull=False, write_round__lte=up_to_round
    ).update(write_round=None)


def _clear_marks(collection: Collection, local_id: str) -> None:
    """Clear the row's write-ahead marks (the push's hash; an event's cancellation flag), if it has any."""
    model = records.MODEL_OF[collection]
    model.objects.filter(Q(pk=UUID(local_id)) & (~Q(pushed_hash="") | _MARKED[collection])).update(**_UNMARKED[collection])


def save_link(mailbox_id: int, collection: Collection, link: Link, *, write_round: int | None = None) -> None:
    """Replace the local id's link and clear the row's marks, which the link now covers (inside the action's
    transaction). ``write_round``: the round whose stored watermark confirms this mailbox item (sync/README.md); a
    stamp the same item already carries is never lowered."""
    _clear_marks(collection, link.local_id)
    old = SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value, local_id=UUID(link.local_id))
    kept = old.filter(remote_id=link.remote_id).values_list("write_round", flat=True).first()
    old.delete()
    stamps = [value for value in (write_round, kept) if value is not None]
    SyncLink.objects.create(
        mailbox_id=mailbox_id, collection=collection.value, local_id=UUID(link.local_id), remote_id=link.remote_id,
        local_version=link.local_version, remote_version=link.remote_version, agreed_hash=link.agreed_hash,
        agreed_fields=dict(link.agreed_fields), write_round=max(stamps) if stamps else None,
    )  # fmt: skip


def create_links(mailbox_id: int, collection: Collection, links: list[Link], *, write_round: int | None = None) -> None:
    """Insert links of local ids that have none yet (fresh rows), in one statement, stamped as ``save_link`` says."""
    SyncLink.objects.bulk_create([
        SyncLink(mailbox_id=mailbox_id, collection=collection.value, local_id=UUID(link.local_id), remote_id=link.remote_id,
                 local_version=link.local_version, remote_version=link.remote_version, agreed_hash=link.agreed_hash,
                 agreed_fields=dict(link.agreed_fields), write_round=write_round)
        for link in links
    ])  # fmt: skip


def mark_cancel(collection: Collection, local_id: str) -> None:
    """The cancellation's write-ahead flag, inside the transaction that checked the row (no version bump)."""
    records.MODEL_OF[collection].objects.filter(pk=UUID(local_id)).update(cancel_pending=True)


def clear_cancel(collection: Collection, local_id: str) -> None:
    """Drop the cancellation's flag of a removal that was refused (the push mark, if any, stays)."""
    records.MODEL_OF[collection].objects.filter(pk=UUID(local_id), cancel_pending=True).update(cancel_pending=False)


def keep_alone(mailbox_id: int, collection: Collection, local_id: str) -> None:
    """Drop the link and the write-ahead marks of a row that stays in the CRM alone (a cancelled meeting)."""
    SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value, local_id=UUID(local_id)).delete()
    _clear_marks(collection, local_id)


def forget(mailbox_id: int, collection: Collection, local_id: str, remote_id: str | None = None) -> None:
    """Drop the link (only if it names ``remote_id``, when given); with no link left, purge the tombstone."""
    links = SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value, local_id=UUID(local_id))
    if remote_id is not None:
        links = links.filter(remote_id=remote_id)
    links.delete()
    if not SyncLink.objects.filter(mailbox_id=mailbox_id, collection=collection.value, local_id=UUID(local_id)).exists():
        records.MODEL_OF[collection].objects.filter(pk=UUID(local_id), deleted_at__isnull=False).delete()


def record_conflict(mailbox_id: int, collection: Collection, conflict: ConflictRecord | None) -> None:
    if conflict is None:
        return
    SyncConflict.objects.create(
        mailbox_id=mailbox_id, collection=collection.value,
        local_id=UUID(conflict.local_id) if conflict.local_id else None, remote_id=conflict.remote_id or "",
        decision=conflict.decision.value, fields=list(conflict.fields), local_modified_at=conflict.local_modified_at,
        remote_modified_at=conflict.remote_modified_at, policy=conflict.policy,
    )  # fmt: skip

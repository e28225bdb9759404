"""The CRM side of the sync (contacts and events per mailbox) and the sync state: links, watermarks, conflicts.

Rows mirror the pure core's records (sync.state): a row's ``version`` is bumped on every save, a deletion
keeps the row as a tombstone (``deleted_at`` + the content hash it had) until the mailbox has mirrored it.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from mailboxes.items import Collection
from sync.actions import Decision
from sync.policy import ConflictPolicy

COLLECTION_CHOICES = [(c.value, c.value) for c in Collection]


class SyncedRecord(models.Model):
    """What contacts and events share: an id that is also our tag in the mailbox, a version, a tombstone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField(default=0, editable=False)  # bumped on every save
    modified_at = models.DateTimeField(default=timezone.now, editable=False)  # last edit, either side
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)  # set: a tombstone
    # The write-ahead mark (sync/README.md): the content hash of a mailbox write made for this row whose link is
    # not saved yet; set (without a version bump) before the request, cleared with the link. A mailbox item
    # holding exactly it is our own write, not the agent's edit; and only a marked row can have left an
    # unlinked tagged copy behind, so only then is the tag looked up before a create.
    pushed_hash = models.CharField(max_length=64, blank=True, editable=False)
    # The API client's Idempotency-Key of the create (engage_sync/idempotency.py): a retried POST finds this row.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, editable=False)
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "idempotency_key"], name="%(class)s_one_create_per_key"),
        ]

    def save(self, *args, **kwargs) -> None:
        # Every save is a new version: the planner tells a CRM edit from "unchanged" by this counter.
        self.version = (self.version or 0) + 1
        self.modified_at = timezone.now()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "version", "modified_at"}
        super().save(*args, **kwargs)


class Contact(SyncedRecord):
    """A person in an agent's CRM address book, synced with the mailbox's Contacts folder."""

    given_name = models.CharField(max_length=100, blank=True)
    surname = models.CharField(max_length=100, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    emails = models.JSONField(default=list, blank=True)  # up to three, the first is the primary address
    phones = models.JSONField(default=dict, blank=True)  # {"mobile": "+1 ...", ...} (mailboxes.items.PhoneType)
    addresses = models.JSONField(default=dict, blank=True)  # {"home": {street, city, state, postal_code, country}}
    company = models.CharField(max_length=255, blank=True)
    job_title = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    birthday = models.DateField(null=True, blank=True)

    class Meta(SyncedRecord.Meta):
        indexes = [models.Index(fields=["mailbox", "deleted_at"], name="contact_mailbox_live")]

    def __str__(self) -> str:
        return self.display_name or f"{self.given_name} {self.surname}".strip() or str(self.pk)


class Event(SyncedRecord):
    """A calendar event of an agent, synced with the mailbox's Calendar; its own IANA zone is kept (DST-safe)."""

    subject = models.CharField(max_length=255, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    time_zone = models.CharField(max_length=64, default="UTC")  # IANA name
    all_day = models.BooleanField(default=False)
    location = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    attendees = models.JSONField(default=list, blank=True)  # [{email, name, required}]
    recurrence = models.JSONField(null=True, blank=True)  # mailboxes.items.Recurrence as JSON, exceptions included
    cancelled = models.BooleanField(default=False)
    # The write-ahead flag of a cancellation (sync/README.md): set (no version bump) before the mailbox item is
    # removed, cleared with the unlink; an item found gone while it is set was removed by us.
    cancel_pending = models.BooleanField(default=False, editable=False)
    # How the mailbox writes it, not what the event is (so not part of its content or hash): the CRM asks for
    # invitations per event; without asking, nobody is ever invited.
    send_invitations = models.BooleanField(default=False)

    class Meta(SyncedRecord.Meta):
        indexes = [models.Index(fields=["mailbox", "deleted_at"], name="event_mailbox_live")]

    def __str__(self) -> str:
        return self.subject or str(self.pk)


class SyncLink(models.Model):
    """One synced pair (sync.state.Link): both ids, both versions, the content both sides agreed on."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    collection = models.CharField(max_length=16, choices=COLLECTION_CHOICES)
    local_id = models.UUIDField()
    remote_id = models.CharField(max_length=512)
    local_version = models.PositiveIntegerField(null=True)
    remote_version = models.CharField(max_length=512, null=True)
    agreed_hash = models.CharField(max_length=64)
    agreed_fields = models.JSONField(default=dict)  # per-field digests, never values
    # The folder's write round (FolderState.write_round) in which we last created or updated this mailbox item,
    # until a read that started after that write is committed (sync/README.md, "Our writes are confirmed"):
    # a change feed nets out an item born and gone since its watermark, so such an item is read by id. NULL:
    # confirmed (the stored watermark covers our write).
    write_round = models.PositiveIntegerField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "collection", "local_id"], name="link_unique_local"),
            models.UniqueConstraint(fields=["mailbox", "collection", "remote_id"], name="link_unique_remote"),
        ]

    def __str__(self) -> str:
        return f"{self.collection} {self.local_id} ⇄ {self.remote_id[:16]}…"


class FolderState(models.Model):
    """Per mailbox per collection: the watermark (committed only after all it covers is applied) and first sync."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    collection = models.CharField(max_length=16, choices=COLLECTION_CHOICES)
    watermark = models.TextField(blank=True)  # opaque (EWS sync state); empty = read everything afresh
    first_sync_done = models.BooleanField(default=False)  # initial matching is over once a sync completed
    confirm_mass_deletion = models.BooleanField(
        default=False, help_text="Staff confirmed the paused deletion: the next sync applies it, once."
    )
    last_completed_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    full_syncs = models.PositiveIntegerField(default=0)  # how often the watermark was lost
    # Rounds of this folder's syncs that wrote to the mailbox, counted (bumped before the round's first write), and
    # the last of them a committed watermark covers: links stamped with a later round await confirmation.
    write_round = models.PositiveIntegerField(default=0, editable=False)
    confirmed_round = models.PositiveIntegerField(default=0, editable=False)
    match_report = models.JSONField(default=dict, blank=True)  # the initial sync's matches, for staff

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mailbox", "collection"], name="folder_state_unique")]

    def __str__(self) -> str:
        return f"{self.mailbox_id} {self.collection}"


class SyncConflict(models.Model):
    """One conflict decision (sync.actions.ConflictRecord), saved with the action that carried it."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    collection = models.CharField(max_length=16, choices=COLLECTION_CHOICES)
    local_id = models.UUIDField(null=True, blank=True)
    remote_id = models.CharField(max_length=512, blank=True)
    decision = models.CharField(max_length=32, choices=[(d.value, d.value) for d in Decision])
    fields = models.JSONField(default=list)  # the contested fields whose losing changes were overridden
    local_modified_at = models.DateTimeField(null=True, blank=True)
    remote_modified_at = models.DateTimeField(null=True, blank=True)
    policy = models.CharField(max_length=32)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at"]
        indexes = [
            models.Index(fields=["mailbox", "-decided_at"], name="conflict_mailbox_recent"),
            models.Index(fields=["-decided_at"], name="conflict_recent"),  # the admin list, newest first
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.collection} {self.local_id or self.remote_id}"


class BrokerageSyncSettings(models.Model):
    """Per-brokerage sync policy (sync.policy.SyncPolicy) and the calendar window; absent = the defaults.

    A sync-app table keyed by brokerage rather than columns on Brokerage, so the two apps' migrations never race.
    """

    brokerage = models.OneToOneField(Brokerage, on_delete=models.CASCADE, related_name="sync_settings")
    conflict_policy = models.CharField(
        max_length=16, choices=[(p.value, p.value) for p in ConflictPolicy], default=ConflictPolicy.MERGE.value
    )
    edit_beats_delete = models.BooleanField(default=True)
    mass_delete_fraction = models.FloatField(default=0.5, help_text="Pause when more than this share is lost.")
    mass_delete_min_count = models.PositiveIntegerField(default=5)
    calendar_past_days = models.PositiveIntegerField(default=90, help_text="Import events ending after today minus this.")
    calendar_future_days = models.PositiveIntegerField(default=730, help_text="Import events starting before today plus this.")

    class Meta:
        verbose_name_plural = "brokerage sync settings"

    def __str__(self) -> str:
        return f"sync settings of {self.brokerage_id}"

"""A move of one brokerage to another mailbox backend, and its per-mailbox done markers (durable progress).

An app of its own (not ``brokerages``) so its migrations never race the brokerage app's.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class BackendMove(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        REFUSED = "refused", "Refused (the target backend does not verify)"
        FAILED = "failed", "Stopped (resume it)"

    UNFINISHED = (State.QUEUED, State.RUNNING, State.FAILED)

    brokerage = models.ForeignKey("brokerages.Brokerage", on_delete=models.CASCADE, related_name="backend_moves")
    source = models.CharField(max_length=10)
    target = models.CharField(max_length=10)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # The fencing token of every mailbox lease this move holds (scheduling/leases.py): the mailboxes it translated
    # stay leased to it until the backend is switched, even across a crash of the worker running it.
    lease_token = models.UUIDField(default=uuid.uuid4, editable=False)
    mailboxes_total = models.PositiveIntegerField(default=0)
    mailboxes_done = models.PositiveIntegerField(default=0)
    ids_translated = models.PositiveIntegerField(default=0)
    ids_gone = models.PositiveIntegerField(default=0, help_text="Stored ids naming no item any more (left to the sync's deletion handling).")
    emails_translated = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One move at a time per brokerage: a second request resumes the unfinished one.
            models.UniqueConstraint(fields=["brokerage"], condition=Q(state__in=["queued", "running", "failed"]),
                                    name="one_unfinished_move_per_brokerage"),
        ]

    def __str__(self) -> str:
        return f"Move of brokerage {self.brokerage_id} {self.source} → {self.target} [{self.state}]"


class MailboxMove(models.Model):
    """One mailbox of a move; ``done_at`` is set in the transaction that stores its translated ids."""

    move = models.ForeignKey(BackendMove, on_delete=models.CASCADE, related_name="mailboxes")
    mailbox = models.ForeignKey("brokerages.Mailbox", on_delete=models.CASCADE, related_name="+")
    done_at = models.DateTimeField(null=True, blank=True)
    translated = models.PositiveIntegerField(default=0)
    gone = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0, help_text="translateExchangeIds requests made for it")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["move", "mailbox"], name="one_marker_per_mailbox_move")]

    def __str__(self) -> str:
        return f"mailbox {self.mailbox_id} of move {self.move_id}"

"""The outbox: emails the CRM asked us to send through an agent's own mailbox.

A row's id is also the tag written on the message in the mailbox (an extended property), which is how
a later attempt finds out what an interrupted one did: already sent, still a draft, or never created.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class OutgoingEmail(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        """How far the current attempt got in the mailbox; what the reconciler starts from."""

        NEW = "new", "Nothing created yet"
        DRAFT_CREATED = "draft_created", "Draft created"
        SEND_REQUESTED = "send_requested", "Send requested"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    mailbox = models.ForeignKey("brokerages.Mailbox", on_delete=models.PROTECT, related_name="outgoing_emails")
    idempotency_key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64, editable=False)

    to = ArrayField(models.EmailField(max_length=254), default=list, blank=True)
    cc = ArrayField(models.EmailField(max_length=254), default=list, blank=True)
    bcc = ArrayField(models.EmailField(max_length=254), default=list, blank=True)
    reply_to = ArrayField(models.EmailField(max_length=254), default=list, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.NEW)
    attempts = models.PositiveIntegerField(default=0)
    # Due time: pacing (30 a minute per mailbox) and transient-error back-off set it; the sweep publishes
    # rows that are due. Never an ETA message on the broker.
    not_before = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    draft_id = models.CharField(max_length=512, blank=True, help_text="The mailbox's id of our draft.")
    draft_version = models.CharField(max_length=512, blank=True, editable=False)
    remote_message_id = models.CharField(max_length=512, blank=True)
    send_requested_at = models.DateTimeField(null=True, blank=True)
    send_slot_at = models.DateTimeField(null=True, blank=True, editable=False)  # pacing: when its send slot was taken

    last_error_class = models.CharField(max_length=64, blank=True)
    last_error_message = models.TextField(blank=True)
    last_error_remedy = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "idempotency_key"], name="outbox_one_email_per_key"),
        ]
        indexes = [
            models.Index(fields=["status", "not_before"], name="outbox_due"),
            models.Index(fields=["mailbox", "send_slot_at"], name="outbox_pacing"),
            models.Index(fields=["created_at"], name="outbox_created"),  # the admin list, newest first
            # The admin's error filter: only emails that failed at least once, so it stays small.
            models.Index(
                fields=["last_error_class", "created_at"], name="outbox_error_class", condition=~models.Q(last_error_class="")
            ),
        ]
        # Clients' data: operators see an email's state, not what it says or to whom (outbox/admin.py).
        permissions = [("view_email_content", "Can see emails' subjects, bodies, recipients and attachment names")]

    def __str__(self) -> str:
        # No subject or recipient: the admin shows this to everyone who may see the row (titles, history, messages).
        return f"Email {self.pk} [{self.status}]"


class OutgoingAttachment(models.Model):
    email = models.ForeignKey(OutgoingEmail, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    content = models.BinaryField()
    size = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"Attachment {self.pk} ({self.size} bytes)"  # no file name: the admin shows this to operators

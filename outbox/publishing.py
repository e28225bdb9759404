"""Publishing send tasks: only after the row is committed, so a worker never looks for a row not yet there."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from engage_sync.celery import app

from .models import OutgoingEmail

SEND_TASK = "tasks.mail.send_email"


def publish_send_on_commit(email: OutgoingEmail) -> None:
    """Queue the send task once the current transaction commits (at once outside a transaction)."""
    email_id = str(email.pk)
    OutgoingEmail.objects.filter(pk=email.pk).update(enqueued_at=timezone.now())
    # By name: the domain does not import the tasks module; routing by name puts it on the "mail" queue.
    # ignore_result: by name Celery cannot know the task keeps no result, and would subscribe to one in Redis.
    transaction.on_commit(lambda: app.send_task(SEND_TASK, args=[email_id], ignore_result=True))


# A published row is not published again for this long, so a backlog does not multiply on the broker.
REPUBLISH_AFTER = timedelta(minutes=2)


def publish_due(batch: int = 1000) -> int:
    """Publish one send task per due email (in one producer connection); returns how many were published."""
    now = timezone.now()
    not_recently_published = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - REPUBLISH_AFTER)
    due = Q(status=OutgoingEmail.Status.QUEUED, not_before__lte=now) & not_recently_published
    # A lease that expired after the row's last publication means the worker holding it died: its message
    # is gone with it, so publish a new one now.
    abandoned = Q(status=OutgoingEmail.Status.SENDING, lease_expires_at__lt=now) & (
        not_recently_published | Q(enqueued_at__lt=F("lease_expires_at"))
    )
    with transaction.atomic():
        ids = list(
            OutgoingEmail.objects.filter(due | abandoned).order_by("not_before")
            .select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch]
        )  # fmt: skip
        OutgoingEmail.objects.filter(pk__in=ids).update(enqueued_at=now)
    if ids:
        with app.producer_or_acquire() as producer:
            for email_id in ids:
                app.send_task(SEND_TASK, args=[str(email_id)], producer=producer, ignore_result=True)
    return len(ids)

"""A sync task's lease on its mailbox: the fencing token that makes a late or duplicate delivery do nothing.

The dispatcher writes (token, expiry) when it publishes; the task confirms the token before touching the
mailbox, renews it while it works, and releases it with the next due time when it is done. Every write is
conditional on the token, so a task whose lease expired and was given to another can no longer write.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from brokerages.models import Mailbox


def confirm(mailbox_id: int, lease_token: str, owner: str) -> str | None:
    """Take up the lease the dispatcher gave this task; returns the task's own token (None for a stale,
    expired or foreign one).

    The token is replaced as it is taken up, so the task message is good for one delivery only: a copy
    redelivered while the first still runs (the broker connection dropped and the thread pool cannot cancel
    the running task) finds the token changed and does nothing.
    """
    now = timezone.now()
    own_token = uuid.uuid4()
    taken = (
        Mailbox.objects.filter(pk=mailbox_id, lease_token=lease_token, lease_expires_at__gt=now)
        .update(lease_token=own_token, lease_owner=owner[:200],
                lease_expires_at=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS), sync_started_at=now)
    )  # fmt: skip
    return str(own_token) if taken == 1 else None


def renew(mailbox_id: int, lease_token: str) -> bool:
    """Extend the lease while a long sync works; False means it was lost and the task must stop."""
    now = timezone.now()
    return (
        Mailbox.objects.filter(pk=mailbox_id, lease_token=lease_token, lease_expires_at__gt=now)
        .update(lease_expires_at=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS))
        == 1
    )


def release(mailbox_id: int, lease_token: str, *, succeeded: bool, retry_after: float | None = None) -> bool:
    """Give the lease back and set the next due time: the interval after success, Microsoft's back-off when
    throttled (``retry_after``; not the mailbox's failure), an exponential back-off after any other failure.

    A CRM-side change made while the sync ran (``dirty_at`` after its start) makes the mailbox due at once.
    """
    mailbox = Mailbox.objects.select_related("brokerage").only("brokerage__sync_interval_seconds", "consecutive_failures").get(pk=mailbox_id)
    now = timezone.now()
    if succeeded:
        interval = mailbox.brokerage.sync_interval_seconds
        delay = interval * random.uniform(0.9, 1.1)  # jitter spreads a brokerage's mailboxes over the interval
        fields = {"consecutive_failures": 0, "last_synced_at": now}
    elif retry_after is not None:
        delay = retry_after * random.uniform(1.0, 1.2)  # after the cool-down, not all at its first instant
        fields = {}
    else:
        failures = mailbox.consecutive_failures + 1
        backoff = min(60 * 2 ** (failures - 1), settings.SYNC_MAX_BACKOFF_SECONDS)
        delay = backoff * random.uniform(0.8, 1.2)
        fields = {"consecutive_failures": F("consecutive_failures") + 1}
    next_due = now + timedelta(seconds=delay)
    changed_meanwhile = Q(dirty_at__gt=F("sync_started_at"))
    return (
        Mailbox.objects.filter(pk=mailbox_id, lease_token=lease_token).update(
            lease_token=None, lease_owner="", lease_expires_at=None,
            next_sync_at=Case(When(changed_meanwhile, then=Value(now)), default=Value(next_due)),
            sync_priority=Case(When(changed_meanwhile, then=F("sync_priority")), default=Value(0)),
            **fields,
        )
        == 1
    )  # fmt: skip


def give_back(mailbox_id: int, lease_token: str) -> bool:
    """Drop a lease under which no sync ran: its task was never published (the broker was down), or it was
    skipped (kill switch, mailbox inactive or paused). The mailbox's health is untouched — not its last
    successful sync, not its failures — and it stays due, so it is sent as soon as it may sync again."""
    return Mailbox.objects.filter(pk=mailbox_id, lease_token=lease_token).update(
        lease_token=None, lease_owner="", lease_expires_at=None
    ) == 1

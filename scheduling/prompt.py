"""Prompt syncs: a CRM-side change gets its mailbox synced within seconds, not at the next interval."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from brokerages.models import Mailbox

from . import dispatch

PRIORITY_CRM_CHANGE = 9  # of the sync queue's 0-10: ahead of every polling sync


def request_sync(mailbox_id: int) -> None:
    """Mark the mailbox changed on the CRM side and, once this transaction commits, lease and publish it.

    If a sync of it is running, that sync's release makes it due at once (its ``dirty_at`` is newer).
    """
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox_id).update(dirty_at=now, sync_priority=PRIORITY_CRM_CHANGE, next_sync_at=now)
    transaction.on_commit(lambda: dispatch.publish(dispatch.lease_due(1, only_mailbox=mailbox_id, wait_for_lock=True) or []))

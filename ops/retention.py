"""Retention of sync runs: rows older than SYNC_RUN_RETENTION_DAYS are deleted, a bounded batch at a time.

Batches keep each DELETE short (no long lock or WAL burst on a table the workers insert into all the time);
the cap on batches per call bounds one task's run, and the next hourly run continues where it stopped.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from scheduling.models import SyncRun


def prune_sync_runs(*, batch: int = 5000, max_batches: int = 200) -> int:
    """Delete sync runs past the retention period; returns how many were deleted."""
    cutoff = timezone.now() - timedelta(days=settings.SYNC_RUN_RETENTION_DAYS)
    deleted = 0
    for _ in range(max_batches):
        ids = list(SyncRun.objects.filter(started_at__lt=cutoff).order_by("started_at").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        count, _ = SyncRun.objects.filter(pk__in=ids).delete()
        deleted += count
        if len(ids) < batch:
            break
    return deleted

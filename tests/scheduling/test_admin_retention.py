"""Sync runs are kept SYNC_RUN_RETENTION_DAYS and then pruned in batches by an hourly maintenance task."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings

from ops.retention import prune_sync_runs
from scheduling.models import SyncRun
from tasks import maintenance
from tests.scheduling.staff_fixtures import first_mailbox, record_run  # noqa: F401

pytestmark = pytest.mark.django_db


def test_runs_older_than_the_retention_period_are_deleted_in_batches(settings, make_brokerage, record_run):
    # Given a 30-day retention and runs of 45, 40, 35, 31, 29 and 1 day(s) ago
    settings.SYNC_RUN_RETENTION_DAYS = 30
    mailbox = first_mailbox(make_brokerage(mailboxes=1))
    kept = [record_run(mailbox, ago=dt.timedelta(days=days)) for days in (29, 1)]
    for days in (45, 40, 35, 31):
        record_run(mailbox, SyncRun.Outcome.FAILED, ago=dt.timedelta(days=days))

    # When pruning takes at most one batch of 3
    assert prune_sync_runs(batch=3, max_batches=1) == 3
    # Then the oldest go first, and the next run finishes the job
    assert SyncRun.objects.count() == 3
    assert prune_sync_runs(batch=3) == 1
    assert sorted(SyncRun.objects.values_list("pk", flat=True)) == sorted(run.pk for run in kept)


def test_the_maintenance_task_prunes_with_the_configured_retention_and_beat_runs_it_hourly(settings, make_brokerage, record_run):
    settings.SYNC_RUN_RETENTION_DAYS = 7
    mailbox = first_mailbox(make_brokerage(mailboxes=1))
    record_run(mailbox, ago=dt.timedelta(days=8))
    fresh = record_run(mailbox, ago=dt.timedelta(days=6))

    assert maintenance.prune_sync_runs.apply().get() == 1
    assert list(SyncRun.objects.values_list("pk", flat=True)) == [fresh.pk]
    entry = django_settings.CELERY_BEAT_SCHEDULE["prune-sync-runs"]
    assert entry == {"task": "tasks.maintenance.prune_sync_runs", "schedule": 3600.0}

"""Sync runs are kept SYNC_RUN_RETENTION_DAYS and then pruned in batches by an hourly maintenance task."""

from __future__ import annotations

import datetime as dt

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from engage_sync.celery import app as celery_app
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


@pytest.mark.django_db(transaction=True)  # beat's scheduler closes and reopens its database connection
def test_the_maintenance_task_prunes_with_the_configured_retention_and_beat_runs_it_hourly(settings, make_brokerage, record_run):
    settings.SYNC_RUN_RETENTION_DAYS = 7
    mailbox = first_mailbox(make_brokerage(mailboxes=1))
    record_run(mailbox, ago=dt.timedelta(days=8))
    fresh = record_run(mailbox, ago=dt.timedelta(days=6))

    assert maintenance.prune_sync_runs.apply().get() == 1
    assert list(SyncRun.objects.values_list("pk", flat=True)) == [fresh.pk]

    # ... and beat's database scheduler installs it as an hourly periodic task (editable in the admin)
    DatabaseScheduler(app=celery_app)
    periodic = PeriodicTask.objects.get(name="prune-sync-runs")
    assert (periodic.task, periodic.enabled) == ("tasks.maintenance.prune_sync_runs", True)
    assert (periodic.interval.every, periodic.interval.period) == (3600, "seconds")

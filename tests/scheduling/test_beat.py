"""Beat's schedule (scheduling/beat.py): every entry is installed once, names a registered task, and the sweeps
that publish due work from PostgreSQL run every few seconds with ticks that expire instead of piling up."""

import pytest
from django_celery_beat.models import PeriodicTask

from engage_sync.celery import app
from scheduling.beat import ENTRIES

pytestmark = pytest.mark.django_db


def test_every_entry_is_installed_once_and_names_a_registered_task():
    # Given the migrated database (install_schedules runs after migrate)
    app.loader.import_default_modules()

    # Then each entry is one periodic task on its queue, naming a task the workers know
    for entry in ENTRIES:
        task = PeriodicTask.objects.get(name=entry.name)
        assert (task.task, task.queue, task.enabled) == (entry.task, entry.queue, True)
        assert task.task in app.tasks


def test_the_verification_sweep_publishes_due_runs_every_ten_seconds_on_the_verify_queue():
    # Given the migrated database
    task = PeriodicTask.objects.get(task="tasks.verify.publish_due_verifications")

    # Then it ticks every 10 s on the verify queue, and a tick not taken within 10 s expires
    assert task.queue == "verify"
    assert (task.interval.every, task.interval.period, task.expire_seconds) == (10, "seconds", 10)
    # ... while the daily re-verification only writes due times, once a night
    daily = PeriodicTask.objects.get(task="tasks.verify.reverify_brokerages")
    assert (daily.crontab.hour, daily.crontab.minute) == ("2", "0")

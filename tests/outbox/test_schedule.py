"""The outbox's sweep is on beat's schedule, so paced, backed-off and abandoned emails are published again."""

import pytest
from django_celery_beat.models import PeriodicTask

from engage_sync.celery import app

pytestmark = pytest.mark.django_db


def test_the_due_email_sweep_is_scheduled_on_the_mail_queue_every_few_seconds():
    # Given the migrated database, the sweep's beat entry exists and names a registered task
    entry = PeriodicTask.objects.get(name="Outbox: publish due emails")
    assert entry.enabled
    assert (entry.task, entry.queue) == ("tasks.mail.publish_due_emails", "mail")
    assert (entry.interval.every, entry.interval.period) == (10, "seconds")
    app.loader.import_default_modules()
    assert entry.task in app.tasks

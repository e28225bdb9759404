"""The beat schedule of the outbox's sweep (a django-celery-beat row, editable in the admin afterwards).

Without it, emails that pacing or a transient error put back with a due time, and emails whose worker died
holding their lease, would never be published again. Created with get_or_create, so staff edits are kept.
"""

from django.db import migrations

NAME = "Outbox: publish due emails"
EVERY_SECONDS = 10  # a paced email waits at most this long past its slot


def create_schedule(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = interval_model.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    task_model.objects.get_or_create(
        name=NAME,
        # A tick not picked up before the next one is worthless: expire it rather than let ticks pile up.
        defaults={"task": "tasks.mail.publish_due_emails", "interval": interval, "queue": "mail",
                  "expire_seconds": EVERY_SECONDS},
    )  # fmt: skip


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

"""The daily beat schedules of verification (django-celery-beat rows, editable in the admin afterwards).

Created by name with get_or_create, so a schedule staff changed in the admin is left as they set it.
"""

from django.db import migrations

SCHEDULES = (
    # name, task, hour (UTC): re-verify at night, warn in the morning when someone reads the mail.
    ("Daily re-verification of brokerages", "tasks.verify.reverify_brokerages", "2"),
    ("Daily secret-expiry warnings", "tasks.verify.warn_expiring_secrets", "7"),
)


def create_schedules(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, hour in SCHEDULES:
        crontab, _ = crontab_model.objects.get_or_create(
            minute="0", hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        task_model.objects.get_or_create(name=name, defaults={"task": task, "crontab": crontab, "queue": "verify"})


def remove_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("brokerages", "0004_verification_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]

"""Beat's schedule: the periodic tasks the service needs, as django-celery-beat rows staff can edit.

Installed after every migrate (and after the test runner's flushes) with get_or_create by name, so an entry
staff changed in the admin (interval, enabled) is left as they set it, and a missing one comes back. The
earlier data migrations (outbox 0002, brokerages 0005) created the same rows once; this is now the source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    queue: str
    every_seconds: int | None = None  # an interval, or
    daily_at_hour: int | None = None  # a daily time (UTC)

    @property
    def expires(self) -> int | None:
        # A tick not taken before the next one is worthless: expire it rather than let ticks pile up.
        return self.every_seconds


ENTRIES = (
    Entry("Sync: dispatch due mailboxes", "tasks.dispatch.dispatch_due_syncs", "dispatch", every_seconds=5),
    Entry("Outbox: publish due emails", "tasks.mail.publish_due_emails", "mail", every_seconds=10),
    # Publishes verification runs when due (the daily ones are spread over hours) and republishes lost ones.
    Entry("Verification: publish due runs", "tasks.verify.publish_due_verifications", "verify", every_seconds=10),
    # Re-verify at night; warn in the morning, when someone reads the mail.
    Entry("Daily re-verification of brokerages", "tasks.verify.reverify_brokerages", "verify", daily_at_hour=2),
    Entry("Daily secret-expiry warnings", "tasks.verify.warn_expiring_secrets", "verify", daily_at_hour=7),
)


def install_schedules(**kwargs) -> None:
    """Create every missing entry (post_migrate receiver); existing ones are not touched."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    for entry in ENTRIES:
        if PeriodicTask.objects.filter(name=entry.name).exists():
            continue
        schedule = {}
        if entry.every_seconds:
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(every=entry.every_seconds, period="seconds")
        else:
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute="0", hour=str(entry.daily_at_hour), day_of_week="*", day_of_month="*", month_of_year="*",
                timezone="UTC",
            )  # fmt: skip
        PeriodicTask.objects.get_or_create(
            name=entry.name, defaults={"task": entry.task, "queue": entry.queue, "expire_seconds": entry.expires, **schedule}
        )

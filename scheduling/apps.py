from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Sync scheduling and runs"

    def ready(self) -> None:
        from .beat import install_schedules

        # After django_celery_beat's tables exist; runs again after every test-runner flush.
        post_migrate.connect(install_schedules, sender=self, dispatch_uid="scheduling.install_schedules")

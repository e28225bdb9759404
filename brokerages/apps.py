from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BrokeragesConfig(AppConfig):
    name = "brokerages"
    verbose_name = "Brokerages and mailboxes"

    def ready(self) -> None:
        from brokerages import checks  # noqa: F401  (registers the encryption key check)

        post_migrate.connect(_ensure_roles, sender=self)


def _ensure_roles(sender, **kwargs) -> None:
    # After every migrate and every test-database flush, so the roles exist wherever permissions do.
    from django.contrib.auth.models import Group, Permission

    from brokerages.roles import ensure_roles

    ensure_roles(Group, Permission)

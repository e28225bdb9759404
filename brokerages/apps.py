from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BrokeragesConfig(AppConfig):
    name = "brokerages"
    verbose_name = "Brokerages and mailboxes"

    def ready(self) -> None:
        from brokerages import checks  # noqa: F401  (registers the encryption key check)

        post_migrate.connect(_ensure_roles, sender=self)


def _ensure_roles(sender, **kwargs) -> None:
    # After every migrate and every test-database flush, so the roles exist wherever permissions do. The roles
    # grant other apps' permissions too, which Django creates in those apps' own post_migrate (after this one):
    # create them all first (idempotent).
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    from brokerages.roles import ensure_roles

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    ensure_roles(Group, Permission)

"""Create the staff roles "Operators" and "Credential managers" (see brokerages/roles.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from brokerages.roles import ensure_roles

# Frozen as of this migration; later grants are added by the post_migrate hook from roles.ROLE_PERMISSIONS.
_OPERATOR = ("view_brokerage", "change_brokerage", "view_mailbox", "add_mailbox", "change_mailbox", "view_credentialauditentry")
ROLES_AT_0002 = {
    "Operators": _OPERATOR,
    "Credential managers": (*_OPERATOR, "add_brokerage", "change_brokerage_credentials"),
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after the whole migrate run; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"), ROLES_AT_0002)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES_AT_0002)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("brokerages", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

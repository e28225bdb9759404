"""Retire DRF's user tokens: rest_framework.authtoken kept every token in plaintext, and no longer opens the API.

The app left INSTALLED_APPS with this change; this drops its table (a database read would otherwise still
hand out every old token) and forgets its migrations, content types and permissions, so that nothing
refers to it. Irreversible on purpose: the old tokens must not come back. Issue scoped keys instead
(`manage.py issue_api_key`, README "Migrating from DRF tokens").
"""

from django.db import migrations


def forget_authtoken(apps, schema_editor):
    # Permissions (and their grants to groups and users) go with the content types.
    apps.get_model("contenttypes", "ContentType").objects.filter(app_label="authtoken").delete()
    schema_editor.execute("DELETE FROM django_migrations WHERE app = 'authtoken'")


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop),
        migrations.RunPython(forget_authtoken, migrations.RunPython.noop),
    ]

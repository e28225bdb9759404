"""The migration that retires DRF's user tokens drops their plaintext table and every trace of the app."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db


def test_migrating_a_database_that_still_has_drf_tokens_drops_them(db):
    # Given a database as the previous release left it: the token table with a token, and the app's records
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz, user_id int)")
        cursor.execute("INSERT INTO authtoken_token VALUES ('9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b', now(), 1)")
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('authtoken', '0001_initial', now())")
    token_type = ContentType.objects.create(app_label="authtoken", model="token")
    Permission.objects.create(content_type=token_type, codename="view_token", name="Can view Token")
    call_command("migrate", "apikeys", "0001", verbosity=0, stdout=io.StringIO())

    # When it is migrated
    call_command("migrate", "apikeys", verbosity=0, stdout=io.StringIO())

    # Then the tokens, their table, permissions and migration records are gone
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('authtoken_token')")
        assert cursor.fetchone() == (None,)
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = 'authtoken'")
        assert cursor.fetchone() == (0,)
    assert not ContentType.objects.filter(app_label="authtoken").exists()
    assert not Permission.objects.filter(codename="view_token").exists()

"""The database holds no usable key: every value stored for a key, tried as the key, is refused."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from tests.fixtures.crm import key_client

from .test_admin_keys import KEY_IN_MESSAGE, add_form

pytestmark = pytest.mark.django_db


def _every_stored_string() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM apikeys_apikey")
        rows = cursor.fetchall()
    values = {str(value) for row in rows for value in row if value is not None}
    # ... and the pieces of the compound ones (the id is "<prefix>.<algorithm>$$<hash>")
    return values | {part for value in values for part in value.replace("$$", ".").split(".")}


def _database_text() -> str:
    """Every row of every table in the schema, as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        tables = [name for (name,) in cursor.fetchall()]
        dump = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608  (names from pg_tables)
            dump.extend(text for (text,) in cursor.fetchall())
    return "\n".join(dump)


def test_no_value_in_the_key_table_opens_the_api_and_the_keys_appear_nowhere(client, tenants, credential_manager):
    # Given keys issued both ways: by the command and in the admin
    out = io.StringIO()
    call_command("issue_api_key", "--client", "Engage CRM", "--all-brokerages", "--permissions", "all",
                 "--issued-by", "carl-credentials", stdout=out, stderr=io.StringIO())  # fmt: skip
    client.force_login(credential_manager)
    page = client.post(reverse("admin:apikeys_apikey_add"), add_form(all_brokerages="on"), follow=True)
    issued = [out.getvalue().strip(), KEY_IN_MESSAGE.search(page.content.decode()).group(1)]
    url = f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/"
    assert [key_client(raw).get(url).status_code for raw in issued] == [200, 200]

    # When someone who read the key table tries every value in it (and every piece of one) as a key
    stored = _every_stored_string()
    assert len(stored) > 10
    statuses = {value: key_client(value).get(url).status_code for value in stored}

    # Then each is refused
    assert set(statuses.values()) == {401}, statuses
    # ... and neither key, nor its secret part, is anywhere in the database (sessions and admin log included)
    text = _database_text()
    for raw in issued:
        assert raw.split(".", 1)[1] not in text

"""Out of scope is indistinguishable from not there; no staff session or old user token opens the API."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apikeys.models import DeniedApiRequests
from outbox.models import OutgoingEmail
from tests.fixtures.crm import key_client

pytestmark = pytest.mark.django_db

EMAIL = {"idempotency_key": "scope-1", "to": ["buyer@client.example"], "subject": "New listing"}


def _calls(mailbox_id, record_id, email_id):
    base = f"/api/mailboxes/{mailbox_id}"
    return [
        ("get", f"{base}/contacts/", None),
        ("post", f"{base}/contacts/", {"given_name": "Ada"}),
        ("get", f"{base}/contacts/{record_id}/", None),
        ("patch", f"{base}/events/{record_id}/", {"location": "x"}),
        ("delete", f"{base}/events/{record_id}/", None),
        ("post", f"{base}/emails/", EMAIL),
        ("get", f"{base}/emails/", None),
        ("get", f"/api/emails/{email_id}/", None),
    ]


@pytest.mark.parametrize("missing_mailbox_id", [0, 987654, 10**30])
def test_another_brokerages_mailbox_answers_exactly_like_one_that_does_not_exist(tenants, make_key, missing_mailbox_id):
    # Given a key of brokerage A, and B's mailbox, contact and email
    _, raw = make_key(["A"])
    client, b = key_client(raw), tenants["B"]

    # When it calls every method on B's ids and on ids that exist nowhere
    theirs = [getattr(client, method)(path, body, format="json") for method, path, body in _calls(b.mailbox.pk, b.contact.pk, b.email.pk)]
    nowhere = [getattr(client, method)(path, body, format="json")
               for method, path, body in _calls(missing_mailbox_id, uuid.uuid4(), uuid.uuid4())]  # fmt: skip

    # Then both answer 404 with the same body, call for call, and B's email was not queued twice
    assert [(r.status_code, r.json()) for r in theirs] == [(r.status_code, r.json()) for r in nowhere]
    assert {r.status_code for r in theirs} == {404}
    assert OutgoingEmail.objects.filter(mailbox=b.mailbox).count() == 1
    # ... and only the calls that touched B's real ids are on record, as out of scope
    tally = DeniedApiRequests.objects.get()
    assert (tally.reason, tally.count, tally.key_prefix) == ("out_of_scope", len(theirs), raw[:8])


def test_a_list_shows_only_the_mailboxs_own_records(tenants, make_key):
    _, raw = make_key(["A", "B"])
    listed = key_client(raw).get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/emails/").json()["results"]
    assert [row["id"] for row in listed] == [str(tenants["A"].email.pk)]


@pytest.mark.parametrize("who", ["operator", "credential_manager", "superuser"])
def test_a_staff_session_does_not_open_the_api(request, tenants, who):
    # Given a logged-in staff user (an operator must never read clients' contacts)
    client = APIClient()
    client.force_login(request.getfixturevalue(who))
    mailbox = tenants["A"].mailbox

    # When their session calls the API, then it is refused as unauthenticated and sends nothing
    assert client.get(f"/api/mailboxes/{mailbox.pk}/contacts/").status_code == 401
    assert client.get(f"/api/emails/{tenants['A'].email.pk}/").status_code == 401
    response = client.post(f"/api/mailboxes/{mailbox.pk}/emails/", EMAIL, format="json")
    assert response.status_code == 401
    assert response.json() and "credentials were not provided" in response.content.decode()
    assert response["WWW-Authenticate"] == "Api-Key"
    assert OutgoingEmail.objects.count() == 3


def test_an_old_drf_token_is_refused_and_the_token_table_is_gone(tenants):
    # Given a CRM still sending a DRF user token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")

    # When it calls the API, then it is refused
    assert client.get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/").status_code == 401
    # ... and no table of plaintext tokens is left in the database
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('authtoken_token')")
        assert cursor.fetchone() == (None,)


@pytest.mark.parametrize("header", [
    "Api-Key", "Api-Key ", "Api-Key abc", "Api-Key abcdefgh", "Api-Key abcdefgh.", "Api-Key abc\x00efgh.secret",
    "Api-Key ab%cdefg.secret", "Api-Key ÄÖÜäöüßé.secret", "Api-Key " + "a" * 8 + "." + "b" * 5000, "Bearer xyz",
])  # fmt: skip
def test_a_malformed_or_unknown_key_is_a_401_with_a_json_body(tenants, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/")
    assert response.status_code == 401
    assert response.json()  # a JSON error body, whatever its shape


def test_a_key_and_its_scope_cost_two_queries_before_the_view_runs(tenants, make_key, django_assert_num_queries):
    # Given a key of A and B that was used a moment ago (so its last use needs no write)
    _, raw = make_key(["A", "B"])
    client, url = key_client(raw), f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/"
    client.get(url)
    # When it lists a mailbox's contacts, then: the key by its prefix, the mailbox within scope, the list
    with django_assert_num_queries(3):
        assert client.get(url).status_code == 200


def test_a_method_a_view_does_not_name_is_refused_even_to_a_key_with_every_permission(tenants, make_key):
    _, raw = make_key("all")
    response = key_client(raw).put(f"/api/mailboxes/{tenants['A'].mailbox.pk}/emails/", EMAIL, format="json")
    assert response.status_code == 403
    assert OutgoingEmail.objects.count() == 3


@pytest.mark.parametrize("method", ["head", "options"])
def test_head_and_options_need_what_get_needs(tenants, make_key, method):
    _, reader = make_key("all", ["contacts:read"])
    _, sender = make_key("all", ["email:send"])
    url = f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/"
    assert getattr(key_client(reader), method)(url).status_code == 200
    assert getattr(key_client(sender), method)(url).status_code == 403


@pytest.mark.parametrize("raw", ["abc\x00efgh.secret", "ab%cdefg.secret", "abcdefgh", "a" * 8 + "." + "b" * 300])
def test_a_key_not_shaped_like_ours_is_not_looked_up(tenants, raw):
    client = key_client(raw)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/").status_code == 401
    assert not [q["sql"] for q in queries.captured_queries if 'FROM "apikeys_apikey"' in q["sql"]]

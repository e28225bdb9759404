"""Request size limits that match the documented attachment limits, answered as JSON 413s naming the limit; and
every other 4xx under /api/ (Django's own included) as a JSON error with a stable code."""

import base64

import pytest
from django.conf import settings
from django.test import override_settings

from outbox.models import OutgoingEmail
from sync.models import Contact

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


def _email(**overrides):
    return {"idempotency_key": "limits-1", "to": ["client@buyer.example"], "subject": "Brochure", **overrides}


def _attachment(name: str, size: int) -> dict:
    return {"filename": name, "content_type": "application/pdf", "content_base64": base64.b64encode(b"%" * size).decode()}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    return error


def test_a_2_mib_attachment_is_accepted(api_client, mailbox):
    response = api_client.post(f"/api/mailboxes/{mailbox.pk}/emails/", _email(attachments=[_attachment("plan.pdf", 2 * MiB)]), format="json")
    assert response.status_code == 201, response.content[:500]
    assert OutgoingEmail.objects.get().attachments.get().size == 2 * MiB


def test_an_email_with_attachments_at_the_documented_limits_fits_the_request_limit(api_client, mailbox):
    # Given attachments of 10 + 10 + 5 MiB: each at the per-attachment limit, together at the per-email limit
    assert (10 * MiB, 25 * MiB) == (settings.OUTBOX_MAX_ATTACHMENT_BYTES, settings.OUTBOX_MAX_TOTAL_ATTACHMENT_BYTES)
    attachments = [_attachment("a.pdf", 10 * MiB), _attachment("b.pdf", 10 * MiB), _attachment("c.pdf", 5 * MiB)]
    # When they are posted in base64, in one JSON body of about 33 MiB
    response = api_client.post(f"/api/mailboxes/{mailbox.pk}/emails/", _email(attachments=attachments), format="json")
    # Then the email is queued whole
    assert response.status_code == 201, response.content[:500]
    assert sorted(OutgoingEmail.objects.get().attachments.values_list("size", flat=True)) == [5 * MiB, 10 * MiB, 10 * MiB]


@override_settings(API_MAX_EMAIL_REQUEST_BYTES=64 * 1024)
def test_an_email_body_over_the_request_limit_is_a_json_413_naming_it(api_client, mailbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/mailboxes/{mailbox.pk}/emails/", _email(attachments=[_attachment("big.pdf", 100_000)]), format="json")
    error = _error(response, 413, "request_too_large")
    assert "65536 bytes" in error["message"]
    assert not OutgoingEmail.objects.exists() and callbacks == []


@pytest.mark.parametrize("collection", ["contacts", "events"])
def test_a_contact_or_event_body_over_1_mib_is_a_json_413(api_client, mailbox, collection, django_capture_on_commit_callbacks):
    assert MiB == settings.API_MAX_REQUEST_BYTES
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/mailboxes/{mailbox.pk}/{collection}/", {"given_name": "Ada", "notes": "x" * (3 * MiB)}, format="json")
    assert "1048576 bytes (1.0 MiB)" in _error(response, 413, "request_too_large")["message"]
    assert not Contact.objects.exists() and callbacks == []


def test_a_body_declaring_a_length_over_the_limit_is_refused_before_it_is_read(api_client, mailbox):
    response = api_client.generic("POST", f"/api/mailboxes/{mailbox.pk}/contacts/", b'{"given_name": "Ada"}',
                                  content_type="application/json", CONTENT_LENGTH=str(2 * MiB))  # fmt: skip
    _error(response, 413, "request_too_large")
    assert not Contact.objects.exists()


def test_a_larger_email_limit_does_not_widen_the_contacts_limit(api_client, mailbox):
    # The email endpoint's 35 MiB is for attachments; a contact of 2 MiB is still refused
    assert 33 * MiB < settings.API_MAX_EMAIL_REQUEST_BYTES
    response = api_client.post(f"/api/mailboxes/{mailbox.pk}/contacts/", {"given_name": "Ada", "notes": "x" * (2 * MiB)}, format="json")
    _error(response, 413, "request_too_large")


@pytest.mark.parametrize("path", ["/api/mailboxes/abc/contacts/", "/api/no-such-thing/", "/api/emails/not-a-uuid/"])
def test_a_url_no_route_matches_is_a_json_404(api_client, path):
    _error(api_client.get(path), 404, "not_found")


def test_an_anonymous_client_gets_a_json_401(client, mailbox):
    _error(client.get(f"/api/mailboxes/{mailbox.pk}/contacts/"), 401, "not_authenticated")
    _error(client.get("/api/schema/"), 401, "not_authenticated")


def test_a_wrong_key_gets_a_json_401(client, mailbox):
    _error(client.get(f"/api/mailboxes/{mailbox.pk}/contacts/", HTTP_AUTHORIZATION="Api-Key nope.nope"), 401, "authentication_failed")


def test_a_method_the_endpoint_lacks_is_a_json_405(api_client, mailbox):
    _error(api_client.delete(f"/api/mailboxes/{mailbox.pk}/contacts/"), 405, "method_not_allowed")


def test_a_body_that_is_not_json_is_a_json_415(api_client, mailbox):
    response = api_client.post(f"/api/mailboxes/{mailbox.pk}/contacts/", "given_name=Ada", content_type="application/x-www-form-urlencoded")
    _error(response, 415, "unsupported_media_type")
    assert not Contact.objects.exists()


def test_a_reused_idempotency_key_and_a_mailbox_that_cannot_send_have_their_codes(api_client, mailbox):
    url = f"/api/mailboxes/{mailbox.pk}/emails/"
    api_client.post(url, _email(), format="json")
    assert "already used" in _error(api_client.post(url, _email(subject="Other"), format="json"), 409, "idempotency_key_reused")["message"]
    mailbox.email_enabled = False
    mailbox.save()
    assert "not enabled" in _error(api_client.post(url, _email(idempotency_key="2"), format="json"), 422, "mailbox_unavailable")["message"]


def test_an_accept_header_without_json_is_a_json_406(api_client, mailbox):
    response = api_client.get(f"/api/mailboxes/{mailbox.pk}/contacts/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"


def test_a_host_the_service_does_not_answer_for_is_a_json_400(api_client, mailbox):
    response = api_client.get(f"/api/mailboxes/{mailbox.pk}/contacts/", HTTP_HOST="evil.example")
    _error(response, 400, "bad_request")


@override_settings(ROOT_URLCONF="tests.api.failing_urls")
def test_a_bug_under_the_api_is_a_json_500_without_details(api_client):
    api_client.raise_request_exception = False
    response = api_client.get("/api/broken/")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "server_error", "message": "Internal Server Error"}}

"""The outbox API: bad input is refused before anything is queued; one idempotency key, one email."""

import base64

import pytest
from django.test import override_settings

from outbox.models import OutgoingEmail

pytestmark = pytest.mark.django_db


def _email(**overrides):
    payload = {"idempotency_key": "listing-alert-42", "to": ["client@buyer.example"], "subject": "New listing", "text_body": "12 Elm St."}
    payload.update(overrides)
    return payload


def _post(client, mailbox, payload):
    return client.post(f"/api/mailboxes/{mailbox.pk}/emails/", payload, format="json")


def test_posting_an_email_queues_it_and_publishes_a_send_after_commit(crm_client, mailbox, django_capture_on_commit_callbacks):
    # When the CRM posts an email
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(crm_client, mailbox, _email())
    # Then it is queued, and a send task is published only once the row is committed
    assert response.status_code == 201, response.content
    email = OutgoingEmail.objects.get()
    assert (email.status, email.mailbox_id, email.to) == ("queued", mailbox.pk, ["client@buyer.example"])
    assert response.json()["id"] == str(email.pk)
    assert len(callbacks) == 1


def test_the_same_key_twice_returns_the_first_record_and_queues_nothing_more(crm_client, mailbox, django_capture_on_commit_callbacks):
    first = _post(crm_client, mailbox, _email())
    with django_capture_on_commit_callbacks() as callbacks:
        second = _post(crm_client, mailbox, _email())
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert OutgoingEmail.objects.count() == 1
    assert callbacks == []


def test_the_same_key_for_a_different_email_is_refused(crm_client, mailbox):
    _post(crm_client, mailbox, _email())
    response = _post(crm_client, mailbox, _email(subject="Another listing"))
    assert response.status_code == 409
    assert "already used" in response.json()["error"]["message"]
    assert OutgoingEmail.objects.get().subject == "New listing"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"to": ["not-an-address"]}, "to", "valid email"),
        ({"to": [], "cc": [], "bcc": []}, "to", "At least one recipient"),
        ({"subject": "", "text_body": "", "html_body": ""}, "subject", "subject or a body"),
        ({"subject": "Bell\x07"}, "subject", "Control characters"),
        ({"idempotency_key": ""}, "idempotency_key", "blank"),
        ({"attachments": [{"filename": "../../etc/passwd", "content_base64": "aGk="}]}, "attachments", "path separators"),
        ({"attachments": [{"filename": "a.pdf", "content_base64": "not base64!"}]}, "attachments", "base64"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_queued(crm_client, mailbox, overrides, field, message):
    response = _post(crm_client, mailbox, _email(**overrides))
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert message in str(response.json()["error"]["fields"][field])
    assert not OutgoingEmail.objects.exists()


@override_settings(OUTBOX_MAX_ATTACHMENT_BYTES=1024)
def test_an_oversized_attachment_is_refused(crm_client, mailbox):
    big = base64.b64encode(b"x" * 1025).decode()
    response = _post(crm_client, mailbox, _email(attachments=[{"filename": "brochure.pdf", "content_base64": big}]))
    assert response.status_code == 400
    assert "over the 1024-byte limit" in str(response.json())
    assert not OutgoingEmail.objects.exists()


def test_attachments_are_stored_with_their_size(crm_client, mailbox):
    content = base64.b64encode(b"%PDF-1.7 brochure").decode()
    response = _post(crm_client, mailbox, _email(attachments=[{"filename": "brochure.pdf", "content_type": "application/pdf", "content_base64": content}]))
    assert response.status_code == 201, response.content
    assert response.json()["attachments"] == [{"filename": "brochure.pdf", "content_type": "application/pdf", "size": 17}]


def test_a_mailbox_without_email_enabled_is_refused(crm_client, mailbox):
    mailbox.email_enabled = False
    mailbox.save()
    response = _post(crm_client, mailbox, _email())
    assert response.status_code == 422
    assert "not enabled" in response.json()["error"]["message"]
    assert not OutgoingEmail.objects.exists()


def test_status_is_readable_by_id(crm_client, mailbox):
    email_id = _post(crm_client, mailbox, _email()).json()["id"]
    response = crm_client.get(f"/api/emails/{email_id}/")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"


def test_anonymous_clients_cannot_queue_email(mailbox):
    from rest_framework.test import APIClient

    assert _post(APIClient(), mailbox, _email()).status_code == 401

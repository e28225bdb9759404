"""Bad input anywhere in the API: the documented 4xx, a JSON error body with a stable code, nothing stored or queued."""

import json

import pytest

from outbox.models import OutgoingEmail
from sync.models import Contact, Event

pytestmark = pytest.mark.django_db

EMAIL = {"idempotency_key": "edge-1", "to": ["client@buyer.example"], "subject": "New listing", "text_body": "12 Elm St."}
CONTACT = {"given_name": "Ada", "company": "Engines"}
EVENT = {"subject": "Viewing", "start": "2027-03-27T10:00:00", "end": "2027-03-27T11:00:00"}
NOT_OBJECTS = [[], "x", 1, None, True]


def _nothing_stored_or_queued(callbacks) -> None:
    assert not OutgoingEmail.objects.exists() and not Contact.objects.exists() and not Event.objects.exists()
    assert callbacks == []  # no send or sync published


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


@pytest.mark.parametrize("body", NOT_OBJECTS, ids=repr)
@pytest.mark.parametrize("collection", ["emails", "contacts", "events"])
def test_a_json_body_that_is_not_an_object_is_refused_on_every_create(api_client, mailbox, collection, body,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    # When a CRM client posts JSON that is not an object
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/mailboxes/{mailbox.pk}/{collection}/", json.dumps(body), content_type="application/json")
    # Then it is a 400 saying so, and nothing is stored, queued or sent
    error = _error(response, 400, "validation_error")
    assert "must be a JSON object" in error["fields"]["non_field_errors"][0]
    _nothing_stored_or_queued(callbacks)


@pytest.mark.parametrize("body", NOT_OBJECTS, ids=repr)
@pytest.mark.parametrize(("collection", "payload", "model"), [("contacts", CONTACT, Contact), ("events", EVENT, Event)])
def test_a_json_body_that_is_not_an_object_is_refused_on_every_update(api_client, mailbox, collection, payload, model, body):
    record = api_client.post(f"/api/mailboxes/{mailbox.pk}/{collection}/", payload, format="json").json()
    url = f"/api/mailboxes/{mailbox.pk}/{collection}/{record['id']}/"
    for method in (api_client.patch, api_client.put):
        _error(method(url, json.dumps(body), content_type="application/json"), 400, "validation_error")
    assert model.objects.get().version == 1


def test_malformed_json_is_a_400_with_its_own_code(api_client, mailbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/mailboxes/{mailbox.pk}/emails/", '{"to": [', content_type="application/json")
    _error(response, 400, "malformed_json")
    _nothing_stored_or_queued(callbacks)


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"subject": "Hi\r\nBcc: x@example.com"}, ("subject",)),
        ({"subject": "Hi\n"}, ("subject",)),
        ({"subject": "Tab\tbed"}, ("subject",)),
        ({"subject": "Line\u2028separator"}, ("subject",)),
        ({"to": ["client@buyer.example\r\nBcc: x@example.com"]}, ("to", "0")),
        ({"cc": ["\r\nclient@buyer.example"]}, ("cc", "0")),
        ({"reply_to": ["agent@harbour.example\n"]}, ("reply_to", "0")),
        ({"idempotency_key": "key\r\n"}, ("idempotency_key",)),
        ({"attachments": [{"filename": "a.pdf\r\nX-Evil: 1", "content_base64": "aGk="}]}, ("attachments", "0", "filename")),
        ({"attachments": [{"filename": "a.pdf", "content_type": "text/plain\r\nX-Evil: 1", "content_base64": "aGk="}]},
         ("attachments", "0", "content_type")),
    ],
)
def test_control_characters_in_header_bound_email_fields_are_refused(api_client, mailbox, overrides, where,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/mailboxes/{mailbox.pk}/emails/", {**EMAIL, **overrides}, format="json")
    error = _error(response, 400, "validation_error")
    detail = error["fields"]
    for step in where:
        detail = detail[step]
    assert "Control characters" in str(detail)
    _nothing_stored_or_queued(callbacks)


@pytest.mark.parametrize(
    ("collection", "payload", "field"),
    [
        ("contacts", {**CONTACT, "company": 0}, "company"),
        ("contacts", {**CONTACT, "given_name": 1.5}, "given_name"),
        ("contacts", {**CONTACT, "emails": [7]}, "emails"),
        ("events", {**EVENT, "subject": 42}, "subject"),
        ("events", {**EVENT, "time_zone": 1}, "time_zone"),
        ("emails", {**EMAIL, "subject": 5}, "subject"),
        ("emails", {**EMAIL, "text_body": 12.5}, "text_body"),
        ("emails", {**EMAIL, "to": [1]}, "to"),
        ("emails", {**EMAIL, "idempotency_key": 1}, "idempotency_key"),
    ],
)
def test_a_number_where_text_belongs_is_refused_not_turned_into_text(api_client, mailbox, collection, payload, field,
                                                                    django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/mailboxes/{mailbox.pk}/{collection}/", payload, format="json")
    error = _error(response, 400, "validation_error")
    assert "Not a string" in str(error["fields"][field])
    _nothing_stored_or_queued(callbacks)


def test_the_first_field_error_is_also_the_message(api_client, mailbox):
    response = api_client.post(f"/api/mailboxes/{mailbox.pk}/contacts/", {**CONTACT, "company": "Two\nlines"}, format="json")
    assert _error(response, 400, "validation_error")["message"] == "company: Line breaks are not allowed here."


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"recurrence": {"count": 3}}, "frequency"),
        ({"recurrence": {}}, "frequency"),
        ({"attendees": [{"name": "No Address"}]}, "email"),
    ],
)
def test_a_patch_gives_a_nested_value_whole(api_client, mailbox, patch, where):
    # Given an event, when a PATCH sends a recurrence or attendee without its required parts (found by the fuzz)
    created = api_client.post(f"/api/mailboxes/{mailbox.pk}/events/", EVENT, format="json").json()
    response = api_client.patch(f"/api/mailboxes/{mailbox.pk}/events/{created['id']}/", patch, format="json")
    # Then it is a 400 naming the missing part, not a 500, and the event is kept as it was
    assert where in json.dumps(_error(response, 400, "validation_error")["fields"])
    assert Event.objects.get().version == 1


@pytest.mark.parametrize("levels", [33, 100_000])
def test_json_nested_absurdly_deep_is_a_400_not_a_crash(api_client, mailbox, levels, django_capture_on_commit_callbacks):
    body = '{"given_name": "Ada", "phones": ' + '[' * levels + ']' * levels + '}'
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(f"/api/mailboxes/{mailbox.pk}/contacts/", body, content_type="application/json")
    assert "nested deeper than 32 levels" in _error(response, 400, "malformed_json")["message"]
    _nothing_stored_or_queued(callbacks)


def test_a_realistic_nested_event_is_well_within_the_depth_limit(api_client, mailbox):
    recurrence = {"frequency": "weekly", "weekdays": [6], "count": 3, "changed_occurrences": [
        {"original_start": "2027-03-13T10:00:00", "start": "2027-03-13T12:00:00", "end": "2027-03-13T13:00:00"}]}
    response = api_client.post(f"/api/mailboxes/{mailbox.pk}/events/", {**EVENT, "start": "2027-03-06T10:00:00",
                               "end": "2027-03-06T11:00:00", "recurrence": recurrence}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content

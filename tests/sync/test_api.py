"""The CRM's contacts and events API: per-field errors, nothing half-stored, a prompt sync per write."""

from __future__ import annotations

import pytest

from sync.models import Contact, Event

pytestmark = pytest.mark.django_db


def _contacts(mailbox):
    return f"/api/mailboxes/{mailbox.pk}/contacts/"


def _events(mailbox):
    return f"/api/mailboxes/{mailbox.pk}/events/"


CONTACT = {"given_name": "Ada", "surname": "Lovelace", "emails": ["ada@client.example"],
           "phones": {"mobile": "+1 206 555 0100"}, "addresses": {"home": {"street": "1 Main St", "city": "Seattle"}},
           "company": "Engines", "notes": "Line one\nLine two", "birthday": "1985-12-10"}
EVENT = {"subject": "Viewing", "start": "2027-03-27T10:00:00", "end": "2027-03-27T11:00:00",
         "time_zone": "Europe/Amsterdam", "location": "12 Elm St", "attendees": [{"email": "buyer@client.example"}]}


def test_creating_a_contact_stores_it_and_prompts_a_sync_after_commit(crm_client, mailbox, django_capture_on_commit_callbacks):
    # When the CRM creates a contact
    with django_capture_on_commit_callbacks() as callbacks:
        response = crm_client.post(_contacts(mailbox), CONTACT, format="json")
    # Then it is stored at version 1, and the mailbox is marked dirty with a sync published on commit
    assert response.status_code == 201, response.content
    contact = Contact.objects.get(pk=response.json()["id"])
    assert (contact.version, contact.emails, contact.phones["mobile"]) == (1, ["ada@client.example"], "+1 206 555 0100")
    assert response.json()["addresses"]["home"]["city"] == "Seattle"
    mailbox.refresh_from_db()
    assert mailbox.dirty_at is not None and mailbox.sync_priority > 0
    assert len(callbacks) == 1


def test_updates_bump_the_version_and_deletes_leave_a_tombstone_out_of_the_list(crm_client, mailbox):
    created = crm_client.post(_contacts(mailbox), CONTACT, format="json").json()
    # When it is patched, then deleted
    patched = crm_client.patch(f"{_contacts(mailbox)}{created['id']}/", {"job_title": "Seller"}, format="json")
    deleted = crm_client.delete(f"{_contacts(mailbox)}{created['id']}/")
    # Then the patch moved the version, and the deletion keeps a tombstone (for the sync) that the API no longer lists
    assert patched.status_code == 200 and patched.json()["version"] == 2 and patched.json()["job_title"] == "Seller"
    assert deleted.status_code == 204
    row = Contact.objects.get(pk=created["id"])
    assert row.deleted_at is not None and row.version == 3
    assert crm_client.get(_contacts(mailbox)).json()["results"] == []
    assert crm_client.get(f"{_contacts(mailbox)}{created['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"emails": ["not-an-address"]}, "emails", "valid email"),
        ({"emails": ["a@x.example", "b@x.example", "c@x.example", "d@x.example"]}, "emails", "no more than 3"),
        ({"given_name": "x" * 101}, "given_name", "no more than 100"),
        ({"surname": "Bell\x07"}, "surname", "Control characters"),
        ({"company": "Two\nlines"}, "company", "Line breaks"),
        ({"phones": {"pager": "1"}}, "phones", "Unknown phone type"),
        ({"addresses": {"home": {"postal_code": "9" * 21}}}, "addresses", "no more than 20"),
        ({"given_name": "", "surname": "", "emails": [], "company": ""}, "given_name", "needs a name"),
    ],
)
def test_a_bad_contact_is_refused_per_field_and_nothing_is_stored(crm_client, mailbox, overrides, field, message):
    response = crm_client.post(_contacts(mailbox), {**CONTACT, **overrides}, format="json")
    assert response.status_code == 400
    assert message in str(response.json()["error"]["fields"][field])
    assert not Contact.objects.exists()


def test_an_event_keeps_its_own_zone_and_wall_clock_time(crm_client, mailbox):
    # When an event is created in Amsterdam's wall-clock time the day before the clocks change
    response = crm_client.post(_events(mailbox), EVENT, format="json")
    # Then it is stored as that instant, answered in its own zone
    assert response.status_code == 201, response.content
    event = Event.objects.get()
    assert event.start.isoformat() == "2027-03-27T09:00:00+00:00" and event.time_zone == "Europe/Amsterdam"
    assert response.json()["start"] == "2027-03-27T10:00:00+01:00"


def test_an_all_day_event_runs_midnight_to_midnight_in_its_zone(crm_client, mailbox):
    response = crm_client.post(_events(mailbox), {**EVENT, "all_day": True, "start": "2027-03-28T15:00:00",
                                                  "end": "2027-03-29T00:00:00"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["start"], response.json()["end"]) == ("2027-03-28T00:00:00+01:00", "2027-03-29T00:00:00+02:00")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"end": "2027-03-27T09:00:00"}, "end", "after the start"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Unknown time zone"),
        ({"start": "tomorrow"}, "start", "ISO 8601"),
        ({"subject": "s" * 256}, "subject", "no more than 255"),
        ({"location": "Bell\x07"}, "location", "Control characters"),
        ({"attendees": [{"email": "nobody"}]}, "attendees", "valid email"),
        ({"recurrence": {"frequency": "weekly"}}, "recurrence", "weekdays"),
        ({"recurrence": {"frequency": "daily", "count": 3, "end_date": "2027-04-01"}}, "recurrence", "not both"),
    ],
)
def test_a_bad_event_is_refused_per_field_and_nothing_is_stored(crm_client, mailbox, overrides, field, message):
    response = crm_client.post(_events(mailbox), {**EVENT, **overrides}, format="json")
    assert response.status_code == 400
    assert message in str(response.json()["error"]["fields"][field])
    assert not Event.objects.exists()


def test_a_patch_that_would_end_an_event_before_its_start_is_refused_and_the_event_kept(crm_client, mailbox):
    created = crm_client.post(_events(mailbox), EVENT, format="json").json()
    response = crm_client.patch(f"{_events(mailbox)}{created['id']}/", {"end": "2027-03-27T08:00:00+01:00"}, format="json")
    assert response.status_code == 400 and "after the start" in str(response.json()["error"]["fields"]["end"])
    assert Event.objects.get().version == 1


def test_a_recurring_event_with_exceptions_is_stored_whole(crm_client, mailbox):
    recurrence = {"frequency": "weekly", "weekdays": [6], "start_date": "2027-03-06", "count": 5,
                  "cancelled_occurrences": ["2027-03-13"],
                  "changed_occurrences": [{"original_start": "2027-03-20T10:00:00", "start": "2027-03-20T12:00:00",
                                           "end": "2027-03-20T13:00:00"}]}
    response = crm_client.post(_events(mailbox), {**EVENT, "start": "2027-03-06T10:00:00", "end": "2027-03-06T11:00:00",
                                                  "recurrence": recurrence}, format="json")
    assert response.status_code == 201, response.content
    stored = Event.objects.get().recurrence
    assert stored["cancelled_occurrences"] == ["2027-03-13"]
    assert stored["changed_occurrences"][0]["start"] == "2027-03-20T12:00:00+01:00"


def test_the_api_needs_an_api_key_and_is_in_the_openapi_schema(client, crm_client, mailbox):
    assert client.get(_contacts(mailbox)).status_code == 401
    schema = crm_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/mailboxes/{mailbox_id}/contacts/" in schema and "/api/mailboxes/{mailbox_id}/events/{record_id}/" in schema


def test_a_create_retried_with_its_idempotency_key_makes_one_record(crm_client, mailbox, django_capture_on_commit_callbacks):
    # Given a CRM client that retries a create after a lost answer, with the same Idempotency-Key
    first = crm_client.post(_contacts(mailbox), CONTACT, format="json", HTTP_IDEMPOTENCY_KEY="crm-contact-77")
    with django_capture_on_commit_callbacks() as callbacks:
        retry = crm_client.post(_contacts(mailbox), CONTACT, format="json", HTTP_IDEMPOTENCY_KEY="crm-contact-77")
    # Then the retry answers with the first record and creates (and syncs) nothing more
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]
    assert Contact.objects.filter(mailbox=mailbox).count() == 1
    assert callbacks == []


def test_an_idempotency_key_reused_for_another_record_is_refused(crm_client, mailbox):
    crm_client.post(_events(mailbox), EVENT, format="json", HTTP_IDEMPOTENCY_KEY="crm-event-9")
    other = crm_client.post(_events(mailbox), {**EVENT, "subject": "Valuation"}, format="json", HTTP_IDEMPOTENCY_KEY="crm-event-9")
    assert other.status_code == 409
    assert "different request" in other.json()["error"]["message"]
    assert list(Event.objects.filter(mailbox=mailbox).values_list("subject", flat=True)) == ["Viewing"]

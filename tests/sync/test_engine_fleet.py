"""The whole path once: CRM API → request_sync → the real broker → a real worker → run_sync → the engine →
the simulator's mailbox; and a worker SIGKILLed between the mailbox create and the link, then a retry."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from brokerages.models import Mailbox
from scheduling.models import SyncRun
from scheduling.prompt import request_sync
from sync.models import Contact, SyncLink
from tests.fixtures.broker import wait_for
from tests.fixtures.crm import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def test_a_contact_created_through_the_api_reaches_the_mailbox_through_a_real_worker(
    outlook, simulator, sim_mailbox, crm_client, celery_worker
):
    # When the CRM creates a contact through the API
    response = crm_client.post(f"/api/mailboxes/{sim_mailbox.pk}/contacts/",
                               {"given_name": "Fleet", "surname": "Path", "emails": ["fleet@client.example"]}, format="json")
    assert response.status_code == 201, response.content
    # Then the prompt sync carries it to the mailbox, once, tagged with the CRM id
    items = wait_for(lambda: outlook.items("contacts"), "the contact in the mailbox")
    ((remote_id, item),) = items.items()
    assert item["fields"]["email1"] == "fleet@client.example" and response.json()["id"] in item["extended"].values()
    run = wait_for(lambda: SyncRun.objects.filter(mailbox=sim_mailbox, outcome=SyncRun.Outcome.OK).first(), "the run")
    assert run.pushed == 1
    link = wait_for(lambda: SyncLink.objects.filter(local_id=response.json()["id"]).first(), "the link")
    assert link.remote_id == remote_id


def test_a_meeting_cancelled_through_the_api_leaves_the_calendar_through_a_real_worker(
    simulator, sim_mailbox, crm_client, celery_worker
):
    # Given a meeting created through the API, asking to invite its attendee, synced by the prompt sync
    url = f"/api/mailboxes/{sim_mailbox.pk}/events/"
    created = crm_client.post(url, {"subject": "Viewing", "start": "2027-02-10T10:00:00", "end": "2027-02-10T11:00:00",
                                    "time_zone": "Europe/Amsterdam", "attendees": [{"email": "buyer@client.example"}],
                                    "send_invitations": True}, format="json")
    assert created.status_code == 201, created.content
    wait_for(lambda: SyncLink.objects.filter(local_id=created.json()["id"]).exists(), "the meeting linked")
    # (and that sync over: a change made while it runs is picked up by beat's dispatcher, which this test has not)
    wait_for(lambda: Mailbox.objects.filter(pk=sim_mailbox.pk, lease_token__isnull=True).exists(), "the sync to end")
    # When the CRM cancels it through the API
    cancelled = crm_client.patch(f"{url}{created.json()['id']}/", {"cancelled": True}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    # Then the prompt sync removes it from the calendar and the attendee gets the cancellation
    wait_for(lambda: simulator.list_items(sim_mailbox.email, "calendar") == [], "the meeting gone from the calendar")
    meetings = wait_for(lambda: [m["meeting"] for m in simulator.outbound(sim_mailbox.email) if "meeting" in m][1:],
                        "the cancellation")
    assert meetings == ["cancellation"]
    # And the CRM still lists it, cancelled
    listed = crm_client.get(url).json()["results"]
    assert [(e["subject"], e["cancelled"]) for e in listed] == [("Viewing", True)]


def test_a_worker_killed_after_the_mailbox_create_leaves_no_duplicate_after_the_retry(
    outlook, simulator, sim_mailbox, worker_process, settings
):
    # Given short leases, and a worker that SIGKILLs itself right after Exchange created the item
    settings.SYNC_LEASE_SECONDS = 5
    short_leases = {"SYNC_LEASE_SECONDS": "5"}
    doomed = worker_process(queues="sync", failpoints="sync.after_remote_create=kill", extra_env=short_leases)
    contact = Contact(mailbox=sim_mailbox, given_name="Exactly", surname="Once")
    with transaction.atomic():
        contact.save()
        request_sync(sim_mailbox.pk)
    wait_for(lambda: doomed.process.poll() is not None, "the worker to die at the failpoint")
    assert len(simulator.list_items(sim_mailbox.email, "contacts")) == 1 and not SyncLink.objects.exists()
    # When a healthy worker takes over (the redelivered task, or a new prompt once the lease lapsed)
    worker_process(queues="sync", extra_env=short_leases)
    nudged = [time.monotonic()]

    def linked_or_nudge():
        if time.monotonic() - nudged[0] > 6:  # the dead worker's lease has lapsed: prompt again, as the CRM would
            nudged[0] = time.monotonic()
            with transaction.atomic():
                request_sync(sim_mailbox.pk)
        return SyncLink.objects.filter(local_id=contact.pk).first()

    # Then the item found by our tag is linked, and the mailbox still holds exactly one
    link = wait_for(linked_or_nudge, "the link after the retry")
    (remote_id,) = outlook.items("contacts")
    assert link.remote_id == remote_id
    assert Contact.objects.filter(mailbox=sim_mailbox).count() == 1

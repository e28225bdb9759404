"""An Outlook deletion of an item we just created is never lost (issue 17).

Exchange's change feed nets out an item created and deleted since the watermark it is asked about; the engine's
own writes stay unconfirmed until a committed watermark covers them, and a sync whose feed does not report one
reads it by id. First through real workers (the read after our create dropped, the worker killed before it, the
writing round being the last re-plan round), then in-process for the policy around it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from brokerages.models import Mailbox
from engage_sync import failpoints
from scheduling.models import SyncRun
from scheduling.prompt import request_sync
from sync.models import Contact, FolderState, SyncConflict, SyncLink
from tests.fixtures.broker import wait_for


def _ops(simulator, operation: str) -> int:
    return simulator.stats().get("ews_operation", {}).get(operation, 0)


def _runs(mailbox, outcome: str) -> int:
    return SyncRun.objects.filter(mailbox=mailbox, outcome=outcome).count()


def _clean_sync(mailbox) -> None:
    """One prompt sync through the worker, as the CRM's next change (or the dispatcher) would start; waits for it."""
    wait_for(lambda: Mailbox.objects.filter(Q(lease_token__isnull=True) | Q(lease_expires_at__lte=timezone.now()),
                                            pk=mailbox.pk).exists(), "no live lease (a sync running, or a dead one's)")
    done = _runs(mailbox, SyncRun.Outcome.OK)
    with transaction.atomic():
        request_sync(mailbox.pk)
    wait_for(lambda: _runs(mailbox, SyncRun.Outcome.OK) > done, "a clean sync")


def _create_through_the_api(crm_client, mailbox) -> str:
    response = crm_client.post(f"/api/mailboxes/{mailbox.pk}/contacts/",
                               {"given_name": "Brief", "surname": "Visitor", "emails": ["brief@client.example"]},
                               format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _listed(crm_client, mailbox) -> list[str]:
    return [row["id"] for row in crm_client.get(f"/api/mailboxes/{mailbox.pk}/contacts/").json()["results"]]


def test_an_outlook_deletion_of_our_create_propagates_though_the_read_after_the_create_was_dropped(
    simulator, sim_mailbox, crm_client, celery_worker
):
    # Given a CreateItem delayed long enough to drop the SyncFolderItems that follows it in the same sync
    email = sim_mailbox.email
    simulator.add_fault("latency", mailbox=email, operation="CreateItem", seconds=2, count=1)
    reads = _ops(simulator, "SyncFolderItems")
    # When the CRM creates a contact through the API, and the prompt sync's read after the create is dropped
    local_id = _create_through_the_api(crm_client, sim_mailbox)
    wait_for(lambda: _ops(simulator, "SyncFolderItems") > reads, "the sync's first read")
    simulator.add_fault("drop_connection", mailbox=email, operation="SyncFolderItems", count=1)
    wait_for(lambda: _runs(sim_mailbox, SyncRun.Outcome.FAILED), "the sync to fail on the dropped read")
    remote_id = SyncLink.objects.get(local_id=local_id).remote_id
    # And the agent deletes the contact in Outlook
    simulator.user_delete(email, remote_id)
    # Then after clean syncs the CRM no longer shows it, and the mailbox's Contacts folder is empty
    _clean_sync(sim_mailbox)
    _clean_sync(sim_mailbox)
    assert not Contact.objects.filter(pk=local_id).exists()
    assert local_id not in _listed(crm_client, sim_mailbox)
    assert simulator.list_items(email, "contacts") == []
    assert not SyncLink.objects.filter(mailbox=sim_mailbox).exists()


def test_an_outlook_deletion_of_our_create_propagates_though_the_worker_was_killed_before_the_next_read(
    simulator, sim_mailbox, crm_client, worker_process, settings
):
    # Given a worker that SIGKILLs itself after the round that created the contact, before the read that follows
    settings.SYNC_LEASE_SECONDS = 5
    short_leases = {"SYNC_LEASE_SECONDS": "5"}
    doomed = worker_process(queues="sync", failpoints="sync.before_confirming_read=kill", extra_env=short_leases)
    local_id = _create_through_the_api(crm_client, sim_mailbox)
    wait_for(lambda: doomed.process.poll() is not None, "the worker to die after the create")
    remote_id = SyncLink.objects.get(local_id=local_id).remote_id
    # When the agent deletes the contact in Outlook, and a healthy worker syncs once the dead one's lease lapsed
    simulator.user_delete(sim_mailbox.email, remote_id)
    worker_process(queues="sync", extra_env=short_leases)
    _clean_sync(sim_mailbox)
    _clean_sync(sim_mailbox)
    # Then the CRM no longer shows it
    assert not Contact.objects.filter(pk=local_id).exists()
    assert local_id not in _listed(crm_client, sim_mailbox)
    assert simulator.list_items(sim_mailbox.email, "contacts") == []


def test_an_outlook_deletion_of_our_create_propagates_when_the_writing_round_was_the_last_one(
    simulator, sim_mailbox, crm_client, celery_worker, settings
):
    # Given no re-plan rounds: the round that creates the contact is the sync's last, no read follows it
    settings.SYNC_REPLAN_ROUNDS = 0
    local_id = _create_through_the_api(crm_client, sim_mailbox)
    link = wait_for(lambda: SyncLink.objects.filter(local_id=local_id).first(), "the contact linked")
    wait_for(lambda: _runs(sim_mailbox, SyncRun.Outcome.OK), "the sync to end")
    # When the agent deletes it in Outlook
    simulator.user_delete(sim_mailbox.email, link.remote_id)
    # Then after clean syncs the CRM no longer shows it
    _clean_sync(sim_mailbox)
    _clean_sync(sim_mailbox)
    assert not Contact.objects.filter(pk=local_id).exists()
    assert local_id not in _listed(crm_client, sim_mailbox)


# --- In-process: the policy around a deletion found by id, and what it costs ---------------------------------


def _contact(mailbox, **fields) -> Contact:
    row = Contact(mailbox=mailbox, **fields)
    row.save()
    return row


def test_a_crm_edit_beats_an_outlook_deletion_the_feed_netted_out(simulator, sim_mailbox, sync_once, settings):
    # Given a contact pushed in a sync that had no round left to read its create back
    settings.SYNC_REPLAN_ROUNDS = 0
    row = _contact(sim_mailbox, given_name="Ada", company="Old Co")
    sync_once()
    # When the agent deletes it in Outlook while the CRM edits it
    simulator.user_delete(sim_mailbox.email, SyncLink.objects.get(local_id=row.pk).remote_id)
    row.company = "New Co"
    row.save()
    sync_once()
    sync_once()
    # Then the edit wins (edit beats delete, the default): the mailbox holds it again, once, with the edit
    (item,) = simulator.list_items(sim_mailbox.email, "contacts")
    assert item["fields"]["company_name"] == "New Co"
    assert SyncLink.objects.get(local_id=row.pk).remote_id == item["id"]
    assert SyncConflict.objects.get(mailbox=sim_mailbox).decision == "edit_beat_delete"


def test_our_writes_are_confirmed_by_the_read_that_follows_them_and_cost_nothing_after(simulator, sim_mailbox, sync_once):
    # Given a contact pushed by a sync
    row = _contact(sim_mailbox, given_name="Ada")
    sync_once()
    # Then the read that followed the create confirmed it: nothing awaits a read by id
    state = FolderState.objects.get(mailbox=sim_mailbox, collection="contacts")
    assert state.write_round == state.confirmed_round == 1
    assert SyncLink.objects.get(local_id=row.pk).write_round is None
    # And a quiet sync makes no GetItem
    gets = _ops(simulator, "GetItem")
    sync_once()
    assert _ops(simulator, "GetItem") == gets


def test_an_unconfirmed_write_still_present_is_confirmed_by_one_read_by_id(simulator, sim_mailbox, sync_once, settings):
    # Given a contact pushed in a sync that had no round left to read its create back
    settings.SYNC_REPLAN_ROUNDS = 0
    row = _contact(sim_mailbox, given_name="Ada")
    sync_once()
    assert SyncLink.objects.get(local_id=row.pk).write_round == 1
    # When the next sync runs, its feed reports the create (so no read by id is needed), and it confirms it
    gets = _ops(simulator, "GetItem")
    sync_once()
    assert SyncLink.objects.get(local_id=row.pk).write_round is None
    assert FolderState.objects.get(mailbox=sim_mailbox, collection="contacts").confirmed_round == 1
    # Then the contact is kept on both sides; the feed's own GetItem fetched it, nothing more
    assert Contact.objects.filter(pk=row.pk).exists() and len(simulator.list_items(sim_mailbox.email, "contacts")) == 1
    assert _ops(simulator, "GetItem") - gets == 1


def test_a_deletion_inside_the_sync_between_our_create_and_the_next_read_propagates_in_that_sync(
    simulator, sim_mailbox, sync_once, monkeypatch
):
    # Given the agent deleting our create right after Exchange made it, before the sync's next read
    from mailboxes.ews import EwsGateway

    original = EwsGateway.create_contact

    def create_then_user_deletes(self, mailbox, contact, *, tag):
        ref = original(self, mailbox, contact, tag=tag)
        simulator.user_delete(mailbox, ref.item_id)
        return ref

    monkeypatch.setattr(EwsGateway, "create_contact", create_then_user_deletes)
    row = _contact(sim_mailbox, given_name="Ada")
    # When one sync runs
    sync_once()
    # Then the read after the create (which Exchange nets the pair out of) is completed by a read by id: gone
    assert not Contact.objects.filter(pk=row.pk).exists()
    assert simulator.list_items(sim_mailbox.email, "contacts") == []


def test_a_create_whose_answer_was_lost_then_deleted_in_outlook_is_created_again_not_deleted_in_the_crm(
    simulator, sim_mailbox, sync_once, monkeypatch
):
    # Given a sync cut off between the mailbox create and the link (its answer lost), and the agent deleting the item
    row = _contact(sim_mailbox, given_name="Ada")
    monkeypatch.setitem(failpoints._ACTIVE, "sync.after_remote_create", "raise")
    with pytest.raises(failpoints.FailpointTriggered):
        sync_once()
    monkeypatch.delitem(failpoints._ACTIVE, "sync.after_remote_create")
    (item,) = simulator.list_items(sim_mailbox.email, "contacts")
    simulator.user_delete(sim_mailbox.email, item["id"])
    # When the mailbox syncs
    sync_once()
    sync_once()
    # Then (the documented limit) the CRM keeps its contact and the mailbox holds it again, once: with neither an id
    # nor a feed entry, a create that never happened and one deleted since look alike, and the CRM's data is kept
    assert Contact.objects.filter(pk=row.pk).exists()
    (again,) = simulator.list_items(sim_mailbox.email, "contacts")
    assert SyncLink.objects.get(local_id=row.pk).remote_id == again["id"]


def test_a_contacts_folder_is_read_in_full_when_its_periodic_read_is_due(simulator, sim_mailbox, sync_once, settings):
    # Given a synced contacts folder whose last full read is older than twice SYNC_CONTACTS_REREAD_DAYS
    settings.SYNC_CONTACTS_REREAD_DAYS = 28
    _contact(sim_mailbox, given_name="Ada")
    sync_once()
    FolderState.objects.filter(mailbox=sim_mailbox, collection="contacts").update(
        last_full_sync_at=timezone.now() - dt.timedelta(days=57)
    )
    # When it syncs
    sync_once()
    # Then the folder was read in full (the clock restarted), nothing changed, and it is not due again
    state = FolderState.objects.get(mailbox=sim_mailbox, collection="contacts")
    assert timezone.now() - state.last_full_sync_at < dt.timedelta(minutes=5)
    assert Contact.objects.filter(mailbox=sim_mailbox).count() == 1
    assert len(simulator.list_items(sim_mailbox.email, "contacts")) == 1


def test_an_outlook_deletion_of_a_contact_pulled_in_a_sync_cut_off_before_its_watermark_propagates(
    simulator, sim_mailbox, sync_once
):
    from mailboxes.errors import Throttled

    # Given a synced mailbox, a contact new in Outlook, and a sync that pulls it, then is throttled at its push
    sync_once()
    remote_id = simulator.user_create(sim_mailbox.email, "contacts", {"given_name": "Pulled"})
    _contact(sim_mailbox, given_name="Pushed")
    simulator.add_fault("server_busy", mailbox=sim_mailbox.email, operation="CreateItem", back_off_ms=1000, count=1)
    with pytest.raises(Throttled):
        sync_once()
    pulled = Contact.objects.get(mailbox=sim_mailbox, given_name="Pulled")  # linked, the watermark still before it
    # When the agent deletes it in Outlook (Exchange nets its create and deletion out of the next feed)
    simulator.user_delete(sim_mailbox.email, remote_id)
    sync_once()
    sync_once()
    # Then the CRM no longer has it, and the other contact reached the mailbox
    assert not Contact.objects.filter(pk=pulled.pk).exists()
    assert [item["fields"]["given_name"] for item in simulator.list_items(sim_mailbox.email, "contacts")] == ["Pushed"]

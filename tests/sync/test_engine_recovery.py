"""The engine under conflicts, crashes, lost watermarks, stale change keys and mass deletions; and what a
no-change sync costs. Against the simulator through the real gateway."""

from __future__ import annotations

import datetime as dt

import pytest

from engage_sync import failpoints
from sync.models import Contact, FolderState, SyncConflict, SyncLink
from tests.fixtures.crm import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS)



def _crm_contact(mailbox, **fields):
    contact = Contact(mailbox=mailbox, **fields)
    contact.save()
    return contact


def _soft_delete(contact):
    contact.deleted_at = dt.datetime.now(dt.UTC)
    contact.save()


def _remote_id(contact):
    return SyncLink.objects.get(local_id=contact.pk).remote_id


def test_the_same_field_edited_on_both_sides_goes_to_the_later_edit_and_is_recorded(outlook, simulator, sim_mailbox, sync_once):
    # Given a synced contact
    contact = _crm_contact(sim_mailbox, given_name="Ada", job_title="Buyer")
    sync_once()
    # When the CRM sets one job title and, later, the agent another in Outlook
    contact.job_title = "Seller"
    contact.save()
    outlook.update(_remote_id(contact), {"job_title": "Landlord"})
    result = sync_once()
    # Then the later (Outlook) edit wins on both sides, and the decision is on record for staff
    contact.refresh_from_db()
    assert contact.job_title == "Landlord"
    assert outlook.items("contacts")[_remote_id(contact)]["fields"]["job_title"] == "Landlord"
    (record,) = SyncConflict.objects.filter(mailbox=sim_mailbox)
    assert (record.decision, record.fields, record.policy) == ("remote_won", ["job_title"], "merge")
    assert result.conflicts == 1


def test_an_outlook_edit_beats_a_crm_deletion(outlook, simulator, sim_mailbox, sync_once):
    # Given a synced contact the CRM deletes while the agent edits it in Outlook
    contact = _crm_contact(sim_mailbox, given_name="Ada", company="Old Co")
    sync_once()
    remote_id = _remote_id(contact)
    _soft_delete(contact)
    outlook.update(remote_id, {"company_name": "New Co"})
    # When the mailbox syncs
    sync_once()
    # Then the edit wins: the mailbox keeps it and the CRM holds it again (once), with the edit
    assert remote_id in outlook.items("contacts")
    (alive,) = Contact.objects.filter(mailbox=sim_mailbox, deleted_at__isnull=True)
    assert alive.company == "New Co" and _remote_id(alive) == remote_id
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert SyncConflict.objects.get(mailbox=sim_mailbox).decision == "edit_beat_delete"


def test_a_crm_edit_beats_an_outlook_deletion(outlook, simulator, sim_mailbox, sync_once):
    contact = _crm_contact(sim_mailbox, given_name="Ada", company="Old Co")
    sync_once()
    outlook.delete(_remote_id(contact))
    contact.company = "New Co"
    contact.save()
    sync_once()
    ((item_id, item),) = outlook.items("contacts").items()
    assert item["fields"]["company_name"] == "New Co" and _remote_id(contact) == item_id


def test_a_crash_after_the_mailbox_create_and_before_the_link_makes_no_duplicate(outlook, simulator, sim_mailbox, sync_once,
                                                                                 monkeypatch):
    # Given a CRM contact, and a worker that dies right after Exchange created the item
    contact = _crm_contact(sim_mailbox, given_name="Once", surname="Only", emails=["once@client.example"])
    monkeypatch.setitem(failpoints._ACTIVE, "sync.after_remote_create", "raise")
    with pytest.raises(failpoints.FailpointTriggered):
        sync_once()
    assert len(outlook.items("contacts")) == 1 and not SyncLink.objects.exists()
    # When the sync is retried (twice, for good measure)
    monkeypatch.delitem(failpoints._ACTIVE, "sync.after_remote_create")
    sync_once()
    sync_once()
    # Then the item found by our tag is linked: one item in the mailbox, one row in the CRM
    (item_id,) = outlook.items("contacts")
    assert _remote_id(contact) == item_id
    assert Contact.objects.filter(mailbox=sim_mailbox).count() == 1


def test_an_invalid_sync_state_resyncs_in_full_without_duplicates_or_losses(outlook, simulator, sim_mailbox, sync_once):
    # Given a synced mailbox with a contact from each side
    _crm_contact(sim_mailbox, given_name="Crm")
    outlook.create("contacts", {"given_name": "Mail"})
    sync_once()
    # And changes on both sides since, then Exchange refuses the stored sync state
    _crm_contact(sim_mailbox, given_name="Crm2")
    outlook.create("contacts", {"given_name": "Mail2"})
    simulator.add_fault("invalid_sync_state", mailbox=sim_mailbox.email, operation=outlook.operation("read_contacts"),
                        count=1)
    # When the mailbox syncs
    sync_once()
    # Then the folder was read afresh and reconciled through the links: four contacts each side, none twice
    state = FolderState.objects.get(mailbox=sim_mailbox, collection="contacts")
    assert state.full_syncs == 1 and state.watermark
    names = sorted(item["fields"]["given_name"] for item in outlook.items("contacts").values())
    assert names == ["Crm", "Crm2", "Mail", "Mail2"]
    assert sorted(Contact.objects.filter(mailbox=sim_mailbox).values_list("given_name", flat=True)) == names
    assert SyncLink.objects.filter(mailbox=sim_mailbox).count() == 4


def test_a_stale_change_key_is_re_read_and_reconciled_never_overwritten(outlook, simulator, sim_mailbox, sync_once, monkeypatch):
    # Given a synced contact edited in the CRM, and an Outlook edit racing in just before our update lands
    from brokerages.gateways import gateway_for_mailbox

    gateway_class = type(gateway_for_mailbox(sim_mailbox))

    contact = _crm_contact(sim_mailbox, given_name="Ada", company="Co")
    sync_once()
    remote_id = _remote_id(contact)
    contact.company = "CRM Co"
    contact.save()
    original = gateway_class.update_contact
    raced = []

    def racing_update(self, mailbox, ref, item):
        if not raced:
            raced.append(outlook.update(remote_id, {"job_title": "Outlook title"}))
        return original(self, mailbox, ref, item)

    monkeypatch.setattr(gateway_class, "update_contact", racing_update)
    # When the mailbox syncs
    sync_once()
    # Then the stale write was refused, re-read, and both edits are kept on both sides
    fields = outlook.items("contacts")[remote_id]["fields"]
    contact.refresh_from_db()
    assert (fields["company_name"], fields["job_title"]) == ("CRM Co", "Outlook title")
    assert (contact.company, contact.job_title) == ("CRM Co", "Outlook title")


def test_most_contacts_vanishing_from_outlook_pauses_instead_of_mirroring(outlook, simulator, sim_mailbox, sync_once, mailoutbox):
    # Given eight synced contacts
    ids = outlook.seed_contacts([{"given_name": f"C{n}"} for n in range(8)])
    sync_once()
    state_before = FolderState.objects.get(mailbox=sim_mailbox, collection="contacts").watermark
    # When six of them vanish from the mailbox at once
    for item_id in ids[:6]:
        outlook.delete(item_id)
    result = sync_once()
    # Then nothing is deleted in the CRM, the watermark stays, and the engine reports the pause (staff mailed)
    assert "lost 6 of 8" in result.paused_reason
    assert Contact.objects.filter(mailbox=sim_mailbox).count() == 8
    assert FolderState.objects.get(mailbox=sim_mailbox, collection="contacts").watermark == state_before
    # When staff confirm the deletion
    FolderState.objects.filter(mailbox=sim_mailbox, collection="contacts").update(confirm_mass_deletion=True)
    assert sync_once().paused_reason == ""
    # Then it is applied once, and the confirmation is used up
    assert Contact.objects.filter(mailbox=sim_mailbox).count() == 2
    assert not FolderState.objects.get(mailbox=sim_mailbox, collection="contacts").confirm_mass_deletion


def test_the_first_sync_pairs_existing_contacts_instead_of_duplicating_and_reports_it(outlook, simulator, sim_mailbox, sync_once):
    # Given the same client in the CRM and in Outlook (different case, extra phone in Outlook)
    crm = _crm_contact(sim_mailbox, given_name="Ada", surname="Lovelace", emails=["Ada@Client.example"])
    outlook.create("contacts", {"given_name": "Ada", "surname": "Lovelace",
                                                          "emails": ["ada@client.example"],
                                                          "phones": {"mobile": "+1 206 555 0100"}})
    # When the mailbox syncs for the first time
    sync_once()
    # Then they are one pair: nothing copied, the phone filled in, the match on record
    assert Contact.objects.filter(mailbox=sim_mailbox).count() == 1 and len(outlook.items("contacts")) == 1
    crm.refresh_from_db()
    assert crm.phones == {"mobile": "+1 206 555 0100"}
    report = FolderState.objects.get(mailbox=sim_mailbox, collection="contacts").match_report
    assert [(m["local_id"], m["rule"]) for m in report["matched"]] == [(str(crm.pk), "email")]


def test_a_no_change_sync_makes_one_request_per_folder_and_no_token_request(outlook, simulator, sim_mailbox, sync_once):
    # Given a synced mailbox with items in both folders (and the token cached by the first sync)
    outlook.seed_contacts([{"given_name": f"C{n}"} for n in range(30)])
    _crm_contact(sim_mailbox, given_name="Crm")
    sync_once()
    sync_once()
    before = (outlook.requests(), outlook.operation_count("read_contacts"), outlook.operation_count("read_calendar"))
    tokens_before = simulator.stats().get("token_tenant", {})
    # When nothing changed and the mailbox syncs again
    result = sync_once()
    # Then exactly one change-feed read per folder went out (SyncFolderItems; contacts delta and calendarView
    # delta), nothing else, and no token request
    after = (outlook.requests(), outlook.operation_count("read_contacts"), outlook.operation_count("read_calendar"))
    reads = 2 if outlook.operation("read_contacts") == outlook.operation("read_calendar") else 1
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (2, reads, reads)
    assert simulator.stats().get("token_tenant", {}) == tokens_before
    assert (result.pulled, result.pushed) == (0, 0)


def test_throttling_mid_sync_propagates_keeps_what_was_applied_and_the_next_sync_finishes(outlook, simulator, sim_mailbox, sync_once):
    # Given a contact from Outlook to pull and two CRM contacts to push, and Exchange busy at the first create
    from mailboxes.errors import Throttled

    outlook.create("contacts", {"given_name": "Pulled"})
    for name in ("PushA", "PushB"):
        _crm_contact(sim_mailbox, given_name=name)
    simulator.add_fault("server_busy", mailbox=sim_mailbox.email, operation=outlook.operation("create_contact"),
                        back_off_ms=20000, count=1)
    # When the mailbox syncs, the fleet sees the throttle (with the server's back-off)
    with pytest.raises(Throttled) as caught:
        sync_once()
    assert caught.value.back_off_seconds == 20
    # Then what was applied stays (the pull), and the watermark did not move past unapplied changes
    assert Contact.objects.filter(mailbox=sim_mailbox, given_name="Pulled").exists()
    assert not FolderState.objects.get(mailbox=sim_mailbox, collection="contacts").first_sync_done
    # When the next sync runs after the back-off, it finishes: each contact once on each side
    sync_once()
    names = sorted(item["fields"]["given_name"] for item in outlook.items("contacts").values())
    assert names == ["Pulled", "PushA", "PushB"]
    assert sorted(Contact.objects.filter(mailbox=sim_mailbox).values_list("given_name", flat=True)) == names

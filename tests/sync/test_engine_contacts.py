"""The engine on contacts, against the simulator through the real gateway (exchangelib, MSAL, HTTPS)."""

from __future__ import annotations

import datetime as dt

import pytest

from sync.models import Contact, FolderState, SyncConflict, SyncLink
from tests.fixtures.crm import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS)



def _crm_contact(mailbox, **fields):
    contact = Contact(mailbox=mailbox, **fields)
    contact.save()
    return contact


def test_a_contact_created_in_outlook_appears_once_in_the_crm(outlook, simulator, sim_mailbox, sync_once):
    # Given a contact the agent created in Outlook
    outlook.create("contacts", {"given_name": "Ada", "surname": "Lovelace",
                                                          "emails": ["ada@client.example"], "job_title": "Buyer"})
    # When the mailbox syncs twice
    first = sync_once()
    second = sync_once()
    # Then the CRM holds it once, linked, and the second sync found nothing to do
    (contact,) = Contact.objects.filter(mailbox=sim_mailbox)
    assert (contact.given_name, contact.surname, contact.emails, contact.job_title) == (
        "Ada", "Lovelace", ["ada@client.example"], "Buyer")
    assert SyncLink.objects.filter(mailbox=sim_mailbox, local_id=contact.pk).count() == 1
    assert (first.pulled, first.pushed, second.pulled, second.pushed) == (1, 0, 0, 0)


def test_a_contact_created_in_the_crm_lands_once_in_the_mailbox_with_our_tag(outlook, simulator, sim_mailbox, sync_once):
    # Given a contact created in the CRM
    contact = _crm_contact(sim_mailbox, given_name="Grace", surname="Hopper", emails=["grace@client.example"],
                           phones={"mobile": "+1 206 555 0100"}, addresses={"home": {"city": "Seattle"}},
                           birthday=dt.date(1980, 12, 9))
    # When the mailbox syncs twice
    result = sync_once()
    sync_once()
    # Then the mailbox holds it once, tagged with our id, and nothing bounced back into the CRM
    (item,) = outlook.items("contacts").values()
    assert item["fields"]["given_name"] == "Grace" and item["fields"]["email1"] == "grace@client.example"
    assert str(contact.pk) in item["extended"].values()
    assert result.pushed == 1 and Contact.objects.filter(mailbox=sim_mailbox).count() == 1


def test_edits_and_deletions_flow_both_ways(outlook, simulator, sim_mailbox, sync_once):
    # Given one contact from each side, synced
    crm = _crm_contact(sim_mailbox, given_name="Crm", surname="Side", company="Old Co")
    remote_id = outlook.create("contacts", {"given_name": "Mail", "surname": "Side"})
    sync_once()
    from_mail = Contact.objects.get(mailbox=sim_mailbox, given_name="Mail")
    crm_remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    # When the CRM edits its contact and deletes the other, and Outlook edits the first one's job title
    crm.company = "New Co"
    crm.save()
    from_mail.deleted_at = dt.datetime.now(dt.UTC)
    from_mail.save()
    outlook.update(crm_remote_id, {"job_title": "Broker"})
    sync_once()
    # Then both edits are on both sides (merged field by field) and the deletion reached the mailbox
    items = outlook.items("contacts")
    assert remote_id not in items
    assert (items[crm_remote_id]["fields"]["company_name"], items[crm_remote_id]["fields"]["job_title"]) == ("New Co", "Broker")
    crm.refresh_from_db()
    assert (crm.company, crm.job_title) == ("New Co", "Broker")
    assert not Contact.objects.filter(pk=from_mail.pk).exists()  # the tombstone is purged once mirrored
    assert SyncConflict.objects.filter(mailbox=sim_mailbox, decision="merged").count() == 1
    # When Outlook deletes the remaining contact
    outlook.delete(crm_remote_id)
    sync_once()
    # Then the CRM row is gone too, with its link
    assert not Contact.objects.filter(mailbox=sim_mailbox).exists()
    assert not SyncLink.objects.filter(mailbox=sim_mailbox).exists()
    assert FolderState.objects.get(mailbox=sim_mailbox, collection="contacts").first_sync_done

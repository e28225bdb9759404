"""The real exchangelib, with app-only impersonation over HTTPS, against the simulator: every operation we use."""

from __future__ import annotations

import datetime

import pytest
from exchangelib import (
    Attendee,
    CalendarItem,
    Contact,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    Mailbox,
    Message,
    Version,
)
from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.recurrence import DailyPattern, Recurrence, WeeklyPattern
from exchangelib.version import EXCHANGE_O365

from .ews_exchangelib_support import EngageId, exchange_account

UTC = EWSTimeZone("UTC")
NEW_YORK = EWSTimeZone("America/New_York")


@pytest.fixture(scope="module", autouse=True)
def engage_tag():
    for cls in (Contact, CalendarItem, Message):
        cls.register("engage_id", EngageId)
    yield
    for cls in (Contact, CalendarItem, Message):
        cls.deregister("engage_id")


def test_contact_round_trips_every_field_outlook_shows(sim_tenant):
    # given an agent's mailbox
    account = exchange_account(sim_tenant())

    # when the product creates a contact with every field Outlook shows and reads it back
    contact = Contact(
        account=account, folder=account.contacts, given_name="Ann", middle_name="B", surname="Lee",
        display_name="Ann B Lee", company_name="Oak Realty", job_title="Buyer", body="Prefers mornings",
        birthday=datetime.date(1980, 5, 4), engage_id="crm-contact-1",
        email_addresses=[EmailAddress(email="ann@home.example", label="EmailAddress1"),
                         EmailAddress(email="ann@work.example", label="EmailAddress2")],
        phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+1 555 0100"),
                       PhoneNumber(label="BusinessPhone", phone_number="+1 555 0101")],
        physical_addresses=[PhysicalAddress(label="Home", street="1 Main St", city="Springfield", state="IL",
                                            country="USA", zipcode="62701")])
    contact.save()
    stored = account.contacts.get(id=contact.id)

    # then everything comes back as written
    assert (stored.given_name, stored.middle_name, stored.surname) == ("Ann", "B", "Lee")
    assert (stored.display_name, stored.company_name, stored.job_title) == ("Ann B Lee", "Oak Realty", "Buyer")
    assert stored.body == "Prefers mornings"
    assert stored.birthday == datetime.date(1980, 5, 4)
    assert stored.engage_id == "crm-contact-1"
    assert {e.label: e.email for e in stored.email_addresses} == {
        "EmailAddress1": "ann@home.example", "EmailAddress2": "ann@work.example"}
    assert {p.label: p.phone_number for p in stored.phone_numbers} == {
        "MobilePhone": "+1 555 0100", "BusinessPhone": "+1 555 0101"}
    (home,) = stored.physical_addresses
    assert (home.label, home.street, home.city, home.zipcode) == ("Home", "1 Main St", "Springfield", "62701")


def test_items_are_found_by_the_products_extended_property_tag(sim_tenant):
    # given two contacts, one tagged by the product
    account = exchange_account(sim_tenant())
    Contact(account=account, folder=account.contacts, display_name="Tagged", engage_id="crm-7").save()
    Contact(account=account, folder=account.contacts, display_name="Untagged").save()

    # when the product looks its item up by tag
    found = list(account.contacts.filter(engage_id="crm-7"))

    # then only the tagged one comes back
    assert [c.display_name for c in found] == ["Tagged"]


def test_sync_pages_through_changes_then_reports_user_edits_and_deletes(simulator, sim_tenant):
    # given 25 contacts seeded in the mailbox
    tenant = sim_tenant()
    mailbox = tenant.mailboxes[0]
    ids = simulator.seed_contacts(mailbox, [{"given_name": f"C{n}", "surname": "Seed"} for n in range(25)])
    account = exchange_account(tenant)

    # when the product syncs ten changes at a time
    before = simulator.stats().get("ews_operation", {}).get("SyncFolderItems", 0)
    first = list(account.contacts.sync_items(max_changes_returned=10))
    calls = simulator.stats()["ews_operation"]["SyncFolderItems"] - before

    # then all 25 arrive as creates over three pages
    assert sorted(change for change, _ in first) == ["create"] * 25
    assert calls == 3

    # and when the user edits one contact and deletes another in Outlook
    simulator.user_update(mailbox, ids[0], {"job_title": "Seller"})
    simulator.user_delete(mailbox, ids[1])
    second = list(account.contacts.sync_items(sync_state=account.contacts.item_sync_state))

    # then the next sync reports exactly those two, and a further sync nothing
    assert sorted((change, item.id) for change, item in second) == [("delete", ids[1]), ("update", ids[0])]
    assert [item.job_title for change, item in second if change == "update"] == ["Seller"]
    assert list(account.contacts.sync_items(sync_state=account.contacts.item_sync_state)) == []


def test_update_with_a_stale_change_key_conflicts_unless_always_overwrite(sim_tenant):
    # given a contact the product read, then the user changed
    account = exchange_account(sim_tenant())
    contact = Contact(account=account, folder=account.contacts, display_name="Ann", job_title="Buyer")
    contact.save()
    stale_key = contact.changekey
    fresh = account.contacts.get(id=contact.id)
    fresh.job_title = "Seller"
    fresh.save(update_fields=["job_title"])

    # when the product writes with its stale change key
    stale = Contact(account=account, folder=account.contacts, id=contact.id, changekey=stale_key, job_title="Agent")

    # then AutoResolve and NeverOverwrite conflict, AlwaysOverwrite wins
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["job_title"])
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["job_title"], conflict_resolution="NeverOverwrite")
    stale.save(update_fields=["job_title"], conflict_resolution="AlwaysOverwrite")
    assert account.contacts.get(id=contact.id).job_title == "Agent"


def test_delete_hard_soft_and_to_deleted_items(simulator, sim_tenant):
    # given three contacts
    tenant = sim_tenant()
    account = exchange_account(tenant)
    hard, soft, trash = (Contact(account=account, folder=account.contacts, display_name=n) for n in "HST")
    for contact in (hard, soft, trash):
        contact.save()

    # when each is deleted a different way
    hard_id = hard.id
    hard.delete()
    soft.soft_delete()
    trash.move_to_trash()

    # then none is left in Contacts, and only the trashed one sits in Deleted Items
    assert account.contacts.all().count() == 0
    assert [i.display_name for i in account.trash.all()] == ["T"]
    with pytest.raises(ErrorItemNotFound):
        account.contacts.get(id=hard_id)


def test_send_and_save_lands_in_sent_items_and_the_outbound_log(simulator, sim_tenant):
    # given an agent's mailbox
    tenant = sim_tenant()
    account = exchange_account(tenant)

    # when the product sends one message with a copy, one without, and one saved as a draft first
    Message(account=account, folder=account.sent, subject="With copy", body="Hello",
            to_recipients=[Mailbox(email_address="buyer@client.example")], engage_id="mail-1").send_and_save()
    Message(account=account, subject="No copy", body="Hi", to_recipients=["seller@client.example"]).send(save_copy=False)
    draft = Message(account=account, folder=account.drafts, subject="Draft", body="Later",
                    to_recipients=["lender@client.example"])
    draft.save()
    draft.send()

    # then all three left the mailbox, and only the copies sit in Sent Items, with the product's tag
    sent = simulator.outbound(tenant.mailboxes[0])
    assert [(m["subject"], m["to"][0]["email"]) for m in sent] == [
        ("With copy", "buyer@client.example"), ("No copy", "seller@client.example"), ("Draft", "lender@client.example")]
    assert all(m["internet_message_id"].startswith("<") for m in sent)
    copies = {m.subject: m for m in account.sent.all()}
    assert set(copies) == {"With copy", "Draft"}
    assert copies["With copy"].engage_id == "mail-1"
    assert account.drafts.all().count() == 0


def test_meeting_invitations_and_cancellations_reach_attendees(simulator, sim_tenant):
    # given an agent's mailbox
    tenant = sim_tenant()
    account = exchange_account(tenant)
    start = EWSDateTime(2026, 6, 1, 10, 0, tzinfo=NEW_YORK)

    # when the product creates a private appointment and a meeting, then cancels the meeting
    CalendarItem(account=account, folder=account.calendar, subject="Private", start=start,
                 end=start + datetime.timedelta(hours=1)).save(send_meeting_invitations="SendToNone")
    meeting = CalendarItem(account=account, folder=account.calendar, subject="Showing", start=start,
                           end=start + datetime.timedelta(hours=1),
                           required_attendees=[Attendee(mailbox=Mailbox(email_address="buyer@client.example"))])
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    meeting.delete(send_meeting_cancellations="SendToAllAndSaveCopy")

    # then the attendee got the invitation and the cancellation, and nobody heard of the private one
    assert [m["subject"] for m in simulator.outbound(tenant.mailboxes[0])] == ["Showing", "Canceled: Showing"]


def test_calendar_view_expands_a_series_with_an_exception_and_a_deleted_occurrence(sim_tenant):
    # given a weekly Monday/Wednesday showing at 9:00 New York time, six times, across the DST change
    account = exchange_account(sim_tenant())
    start = EWSDateTime(2026, 3, 2, 9, 0, tzinfo=NEW_YORK)
    series = CalendarItem(account=account, folder=account.calendar, subject="Open house", start=start,
                          end=start + datetime.timedelta(hours=1), location="12 Oak St",
                          recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1, 3]),
                                                start=datetime.date(2026, 3, 2), number=6))
    series.save(send_meeting_invitations="SendToNone")

    # when the user moves the third occurrence and deletes the second
    third = series.occurrence(index=3)
    third.refresh()
    third.start, third.end = third.start + datetime.timedelta(hours=2), third.end + datetime.timedelta(hours=2)
    third.save(update_fields=["start", "end"])
    series.occurrence(index=2).delete(send_meeting_cancellations="SendToNone")
    view = list(account.calendar.view(start=EWSDateTime(2026, 3, 1, tzinfo=UTC), end=EWSDateTime(2026, 4, 1, tzinfo=UTC)))

    # then the view has five occurrences at 9:00 local time (one exception at 11:00), the deleted one gone
    assert [(o.type, o.start.astimezone(NEW_YORK).strftime("%m-%d %H:%M")) for o in view] == [
        ("Occurrence", "03-02 09:00"), ("Exception", "03-09 11:00"), ("Occurrence", "03-11 09:00"),
        ("Occurrence", "03-16 09:00"), ("Occurrence", "03-18 09:00")]
    master = account.calendar.get(id=series.id)
    assert master.type == "RecurringMaster"
    assert len(master.modified_occurrences) == 1 and len(master.deleted_occurrences) == 1
    assert master.recurrence.boundary.number == 6


def test_version_is_exchange_online(sim_tenant):
    # given exchangelib told it talks to Exchange Online, when it makes a call, then the server agrees
    account = exchange_account(sim_tenant())
    account.root.refresh()
    assert account.version.build >= Version(build=EXCHANGE_O365).build
    assert account.version.api_version == "Exchange2016"


def test_all_day_event_keeps_its_dates_and_time_zone(sim_tenant):
    # given an all-day event over two days in Berlin
    account = exchange_account(sim_tenant())
    berlin = EWSTimeZone("Europe/Berlin")
    event = CalendarItem(account=account, folder=account.calendar, subject="Closing days", is_all_day=True,
                         start=EWSDate(2026, 7, 1), end=EWSDate(2026, 7, 2), _start_timezone=berlin,
                         _end_timezone=berlin)
    event.save(send_meeting_invitations="SendToNone")

    # when it is read back, then dates and zone are as written
    stored = account.calendar.get(id=event.id)
    assert (stored.is_all_day, stored.start, stored.end) == (True, EWSDate(2026, 7, 1), EWSDate(2026, 7, 2))
    assert stored._start_timezone == berlin


def test_a_new_recurrence_pattern_drops_the_old_exceptions(sim_tenant):
    # given a daily series with one deleted occurrence
    account = exchange_account(sim_tenant())
    start = EWSDateTime(2026, 5, 4, 10, 0, tzinfo=UTC)
    series = CalendarItem(account=account, folder=account.calendar, subject="Daily", start=start,
                          end=start + datetime.timedelta(hours=1),
                          recurrence=Recurrence(pattern=DailyPattern(interval=1), start=EWSDate(2026, 5, 4), number=5))
    series.save(send_meeting_invitations="SendToNone")
    series.occurrence(index=2).delete(send_meeting_cancellations="SendToNone")

    # when the pattern becomes every other day, three times
    series = account.calendar.get(id=series.id)
    series.recurrence = Recurrence(pattern=DailyPattern(interval=2), start=EWSDate(2026, 5, 4), number=3)
    series.save(update_fields=["recurrence"], send_meeting_invitations="SendToNone")

    # then the view follows the new pattern, without the old deletion
    view = account.calendar.view(start=EWSDateTime(2026, 5, 1, tzinfo=UTC), end=EWSDateTime(2026, 6, 1, tzinfo=UTC))
    assert [o.start.day for o in view] == [4, 6, 8]


def test_marking_a_message_read_syncs_as_a_read_flag_change(sim_tenant):
    # given a synced inbox holding one unread message
    account = exchange_account(sim_tenant())
    message = Message(account=account, folder=account.inbox, subject="Offer", body="x", is_read=False)
    message.save()
    assert [change for change, _ in account.inbox.sync_items()] == ["create"]

    # when it is marked read, then the next sync reports only the read flag
    message.is_read = True
    message.save(update_fields=["is_read"])
    assert [(change, read) for change, (_, read) in account.inbox.sync_items(
        sync_state=account.inbox.item_sync_state)] == [("read_flag_change", True)]

"""A good tenant end to end through the gateway, on each backend: real MSAL and exchangelib (EWS) or httpx (Graph)
against the simulator over HTTPS. Where the backends differ by design, the test reads the gateway's Capabilities."""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

import pytest

from mailboxes import errors
from mailboxes.gateway import ChangeKind, MailboxGateway
from mailboxes.items import (
    AddressType,
    Attendee,
    Collection,
    Contact,
    Event,
    MessageFolder,
    OccurrenceChange,
    OutgoingAttachment,
    OutgoingMessage,
    PhoneType,
    PostalAddress,
    Recurrence,
    RecurrenceFrequency,
)

CONTACT = Contact(
    given_name="Ada",
    surname="Lovelace",
    display_name="Ada Lovelace",
    emails=("ada@client.example", "ada.home@client.example"),
    phones={PhoneType.MOBILE: "+1 206 555 0100", PhoneType.BUSINESS: "+1 206 555 0199"},
    addresses={AddressType.HOME: PostalAddress("1 Main St", "Seattle", "WA", "98101", "United States")},
    company="Analytical Engines",
    job_title="Buyer",
    notes="Wants a view of the sound.",
    birthday=dt.date(1985, 12, 10),
)
NEW_YORK = ZoneInfo("America/New_York")
from tests.mailboxes.conftest import BACKENDS  # noqa: E402

pytestmark = pytest.mark.parametrize("backend", BACKENDS)
# The simulator's fault rules name an operation: EWS's operation, or the Graph handler doing the same.
OPERATIONS = {
    "ews": {"read_contacts": "SyncFolderItems", "send": "SendItem", "create": "CreateItem"},
    "graph": {"read_contacts": "contacts_delta", "send": "send_draft", "create": "create_contact",
              "create_event": "create_event"},
}


def upsert(gateway, kind):
    """The change kind as the backend can tell it (Graph's delta does not say created or updated)."""
    if gateway.capabilities.feed_tells_created_from_updated or kind is ChangeKind.DELETED:
        return kind
    return "upsert"


def all_changes(gateway, mailbox, collection, watermark=None, page_size=100):
    changes, pages = [], 0
    for page in gateway.read_changes(mailbox, collection, watermark, page_size=page_size):
        changes.extend(page.changes)
        watermark, pages = page.watermark, pages + 1
    return changes, watermark, pages


def test_a_good_tenant_passes_every_access_check(sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway = gateway_for(tenant)
    assert isinstance(gateway, MailboxGateway)
    check = gateway.check_token(fresh=True)
    gateway.check_mailbox(tenant.mailboxes[0])
    gateway.check_collection(tenant.mailboxes[0], Collection.CONTACTS)
    gateway.check_collection(tenant.mailboxes[0], Collection.CALENDAR)
    assert check.has_mailbox_access and check.expires_at > dt.datetime.now(dt.UTC)


def test_contact_lifecycle_with_changes_tags_and_optimistic_concurrency(sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    _, watermark, _ = all_changes(gateway, mailbox, Collection.CONTACTS)
    # Given a contact we create with our tag
    ref = gateway.create_contact(mailbox, CONTACT, tag="engage:contact:42")
    # Then it reads back as a change, with every field and our tag
    changes, watermark, _ = all_changes(gateway, mailbox, Collection.CONTACTS, watermark)
    assert [(upsert(gateway, c.kind), c.item_id) for c in changes] == [(upsert(gateway, ChangeKind.CREATED), ref.item_id)]
    stored = changes[0].stored
    assert stored.tag == "engage:contact:42" and stored.ref == ref
    assert stored.item == CONTACT
    # And our tag finds it again (idempotent creation after a crash)
    assert [s.ref.item_id for s in gateway.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:42")] == [ref.item_id]
    assert gateway.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:43") == []
    # When it is updated with the current version, the version moves on
    updated = gateway.update_contact(mailbox, ref, CONTACT.__class__(**{**CONTACT.__dict__, "job_title": "Seller"}))
    assert updated.item_id == ref.item_id and updated.version != ref.version
    (fetched,) = gateway.fetch(mailbox, Collection.CONTACTS, [ref.item_id])
    assert fetched.item.job_title == "Seller"
    # When a writer holds the old version, it neither updates nor deletes
    with pytest.raises(errors.ConflictError):
        gateway.update_contact(mailbox, ref, CONTACT)
    with pytest.raises(errors.ConflictError):
        gateway.delete_item(mailbox, ref)
    # And with the current version the delete works and reads back as a deletion
    gateway.delete_item(mailbox, updated)
    changes, _, _ = all_changes(gateway, mailbox, Collection.CONTACTS, watermark)
    assert (ChangeKind.DELETED, ref.item_id) in [(c.kind, c.item_id) for c in changes]
    assert gateway.fetch(mailbox, Collection.CONTACTS, [ref.item_id]) == [None]
    with pytest.raises(errors.ItemNotFound):
        gateway.delete_item(mailbox, updated)


def test_cancelling_a_meeting_tells_its_attendees_only_if_they_were_invited(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    start = dt.datetime(2027, 3, 1, 10, tzinfo=NEW_YORK)
    quiet = Event(subject="Walkthrough", start=start, end=start + dt.timedelta(hours=1), time_zone="America/New_York",
                  attendees=(Attendee("buyer@client.example"),))
    invited = Event(**{**quiet.__dict__, "subject": "Closing", "send_invitations": True})
    # Given two meetings with the same attendee, only one of which sent its invitation
    quiet_ref = gateway.create_event(mailbox, quiet, tag="quiet")
    invited_ref = gateway.create_event(mailbox, invited, tag="invited")
    # When a writer holding an old version cancels, nothing is removed and nobody is told
    moved = gateway.update_event(mailbox, invited_ref, Event(**{**invited.__dict__, "location": "Office"}))
    with pytest.raises(errors.ConflictError):
        gateway.cancel_event(mailbox, invited_ref)
    # When both are cancelled at their current versions
    always_invited = gateway.capabilities.attendees_always_invited  # Graph: no "save without sending"
    assert gateway.cancel_event(mailbox, moved) is True
    assert gateway.cancel_event(mailbox, quiet_ref) is always_invited
    # Then both are gone, and only an invited attendee got a cancellation (after the request and the update)
    assert gateway.fetch(mailbox, Collection.CALENDAR, [quiet_ref.item_id, moved.item_id]) == [None, None]
    quiet_mail = [("Walkthrough", "request"), ("Canceled: Walkthrough", "cancellation")] if always_invited else []
    assert sorted((m["subject"], m.get("meeting")) for m in simulator.outbound(mailbox)) == sorted([
        ("Closing", "request"), ("Updated: Closing", "update"), ("Canceled: Closing", "cancellation"), *quiet_mail])
    with pytest.raises(errors.ItemNotFound):
        gateway.cancel_event(mailbox, moved)


def test_changes_stream_in_pages_and_resume_from_a_watermark(simulator, sim_tenant, gateway_for):
    # Given a mailbox with 7 contacts its user created in Outlook
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    seeded = simulator.seed_contacts(mailbox, [{"given_name": f"C{n}", "surname": "Seed", "display_name": f"C{n} Seed"}
                                               for n in range(7)])
    # When read in pages of 3
    changes, watermark, pages = all_changes(gateway, mailbox, Collection.CONTACTS, page_size=3)
    # Then all 7 arrive over 3 pages, each a creation with its fields
    assert pages == 3 and len(changes) == 7
    assert {c.stored.item.given_name for c in changes} == {f"C{n}" for n in range(7)}
    # And after the user edits one, reading from the watermark shows just that update
    simulator.user_update(mailbox, seeded[0], {"job_title": "Landlord"})  # the store's own id (EWS's)
    later, _, _ = all_changes(gateway, mailbox, Collection.CONTACTS, watermark)
    assert [(upsert(gateway, c.kind), c.stored.item.job_title) for c in later] == [
        (upsert(gateway, ChangeKind.UPDATED), "Landlord")]


def test_event_lifecycle_keeps_its_own_time_zone_all_day_and_recurrence(sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    meeting = Event(
        subject="Showing at 1 Main St",
        start=dt.datetime(2026, 12, 3, 10, 0, tzinfo=NEW_YORK),
        end=dt.datetime(2026, 12, 3, 11, 30, tzinfo=NEW_YORK),
        time_zone="America/New_York",
        location="1 Main St",
        body="Bring the keys.",
        attendees=(Attendee("ada@client.example", "Ada Lovelace"), Attendee("bob@client.example", "Bob", required=False)),
    )
    weekly = Event(
        subject="Team call",
        start=dt.datetime(2026, 12, 7, 9, 0, tzinfo=NEW_YORK),
        end=dt.datetime(2026, 12, 7, 9, 30, tzinfo=NEW_YORK),
        time_zone="America/New_York",
        recurrence=Recurrence(RecurrenceFrequency.WEEKLY, weekdays=(1,), start_date=dt.date(2026, 12, 7), count=4),
    )
    holiday = Event(
        subject="Office closed",
        start=dt.datetime(2026, 12, 24, tzinfo=NEW_YORK),
        end=dt.datetime(2026, 12, 26, tzinfo=NEW_YORK),
        time_zone="America/New_York",
        all_day=True,
    )
    refs = [gateway.create_event(mailbox, e, tag=f"engage:event:{n}") for n, e in enumerate((meeting, weekly, holiday))]
    stored = gateway.fetch(mailbox, Collection.CALENDAR, [r.item_id for r in refs])
    got_meeting, got_weekly, got_holiday = (s.item for s in stored)
    assert got_meeting == meeting
    assert got_weekly.recurrence.frequency is RecurrenceFrequency.WEEKLY and got_weekly.recurrence.count == 4
    assert got_weekly.recurrence.weekdays == (1,) and got_weekly.start == weekly.start
    assert got_holiday.all_day and got_holiday.start == holiday.start and got_holiday.end == holiday.end
    # Optimistic concurrency holds for events too
    moved = gateway.update_event(mailbox, refs[0], Event(**{**meeting.__dict__, "location": "2 Main St"}))
    with pytest.raises(errors.ConflictError):
        gateway.update_event(mailbox, refs[0], meeting)
    assert gateway.find_by_tag(mailbox, Collection.CALENDAR, "engage:event:0")[0].item.location == "2 Main St"
    gateway.delete_item(mailbox, moved)
    assert gateway.find_by_tag(mailbox, Collection.CALENDAR, "engage:event:0") == []


def test_draft_is_sent_once_and_found_by_tag_in_sent_items(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    message = OutgoingMessage(subject="Your offer", body="<p>Accepted!</p>", to=("ada@client.example",), body_is_html=True)
    # Given a tagged draft
    draft = gateway.create_draft(mailbox, message, tag="engage:mail:7")
    assert [m.ref.item_id for m in gateway.find_messages_by_tag(mailbox, MessageFolder.DRAFTS, "engage:mail:7")] == [draft.item_id]
    assert gateway.find_messages_by_tag(mailbox, MessageFolder.SENT, "engage:mail:7") == []
    # When it is sent
    gateway.send_draft(mailbox, draft)
    # Then it left the drafts, its copy is in Sent Items with our tag, and it went out once
    sent = gateway.find_messages_by_tag(mailbox, MessageFolder.SENT, "engage:mail:7")
    assert [m.subject for m in sent] == ["Your offer"]
    assert gateway.find_messages_by_tag(mailbox, MessageFolder.DRAFTS, "engage:mail:7") == []
    assert len(simulator.outbound(mailbox)) == 1


def test_an_update_removes_what_the_new_version_no_longer_has(sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    ref = gateway.create_contact(mailbox, CONTACT, tag="engage:contact:9")
    slimmer = Contact(given_name="Ada", surname="Lovelace", display_name="Ada Lovelace", emails=("ada@client.example",),
                      phones={PhoneType.MOBILE: "+1 206 555 0100"})
    gateway.update_contact(mailbox, ref, slimmer)
    (stored,) = gateway.fetch(mailbox, Collection.CONTACTS, [ref.item_id])
    assert stored.item == slimmer


def test_a_recurring_series_reads_with_its_cancelled_and_moved_occurrences(simulator, sim_tenant, gateway_for):
    # Given a weekly series in New York whose user cancelled one occurrence and moved another
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    simulator.seed_events(mailbox, [{
        "subject": "Open house", "start": "2026-12-05T15:00:00Z", "end": "2026-12-05T16:00:00Z",
        "start_tz": "Eastern Standard Time", "end_tz": "Eastern Standard Time",
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Saturday"]},
                       "range": {"type": "numbered", "start_date": "2026-12-05", "count": 5}},
        "deleted_occurrences": ["2026-12-12T15:00:00Z"],
        "modified_occurrences": {"2026-12-19T15:00:00Z": {"start": "2026-12-19T17:00:00Z", "end": "2026-12-19T18:00:00Z"}},
    }])
    # When the calendar is read
    (page,) = list(gateway.read_changes(mailbox, Collection.CALENDAR, None))
    (series,) = [c.stored.item for c in page.changes]
    # Then the pattern, its own zone, and both exceptions come through
    assert series.time_zone == "America/New_York" and series.start == dt.datetime(2026, 12, 5, 10, 0, tzinfo=NEW_YORK)
    rec = series.recurrence
    assert (rec.frequency, rec.weekdays, rec.count) == (RecurrenceFrequency.WEEKLY, (6,), 5)
    assert rec.cancelled_occurrences == (dt.date(2026, 12, 12),)
    (moved,) = rec.changed_occurrences
    assert moved.original_start == dt.datetime(2026, 12, 19, 10, 0, tzinfo=NEW_YORK)
    assert moved.start == dt.datetime(2026, 12, 19, 12, 0, tzinfo=NEW_YORK)


def test_throttling_while_reading_changes_or_sending_carries_the_back_off(simulator, sim_tenant, gateway_for, backend):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    operation = OPERATIONS[backend]
    simulator.add_fault("server_busy", mailbox=mailbox, operation=operation["read_contacts"], back_off_ms=30000, count=1)
    with pytest.raises(errors.Throttled) as caught:
        list(gateway.read_changes(mailbox, Collection.CONTACTS, None))
    assert caught.value.back_off_seconds == 30
    # A send refused by the per-minute budget sends nothing and says when to try again
    draft = gateway.create_draft(mailbox, OutgoingMessage("Hi", "Hello", ("ada@client.example",)), tag="engage:mail:8")
    simulator.add_fault("send_limit", mailbox=mailbox, operation=operation["send"], back_off_ms=60000, count=1)
    with pytest.raises(errors.Throttled) as caught:
        gateway.send_draft(mailbox, draft)
    assert caught.value.back_off_seconds == 60 and simulator.outbound(mailbox) == []
    gateway.send_draft(mailbox, draft)
    assert len(simulator.outbound(mailbox)) == 1


def test_an_expired_watermark_says_read_afresh(simulator, sim_tenant, gateway_for, backend):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    (page,) = list(gateway.read_changes(mailbox, Collection.CONTACTS, None))
    simulator.add_fault("invalid_sync_state", mailbox=mailbox, operation=OPERATIONS[backend]["read_contacts"], count=1)
    with pytest.raises(errors.WatermarkExpired):
        list(gateway.read_changes(mailbox, Collection.CONTACTS, page.watermark))


def test_a_send_whose_answer_is_lost_is_found_in_sent_items_so_it_is_not_sent_twice(simulator, sim_tenant, gateway_for,
                                                                                      backend):
    # Given a tagged draft, and a connection that drops after Exchange has sent it
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    draft = gateway.create_draft(mailbox, OutgoingMessage("Listing", "New listing", ("ada@client.example",)),
                                 tag="engage:mail:11")
    simulator.add_fault("timeout_after_commit", mailbox=mailbox, operation=OPERATIONS[backend]["send"], seconds=0.2,
                        count=1)
    # When the send's answer is lost
    with pytest.raises(errors.TransientNetwork):
        gateway.send_draft(mailbox, draft)
    # Then the mailer's reconciliation finds the tagged copy in Sent Items (so it does not send again)
    assert [m.subject for m in gateway.find_messages_by_tag(mailbox, MessageFolder.SENT, "engage:mail:11")] == ["Listing"]
    assert len(simulator.outbound(mailbox)) == 1


def test_an_item_the_mailbox_cannot_hold_is_refused_as_invalid_before_sending(simulator, sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    before = simulator.stats()
    start = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)
    odd = Event("Somewhere", start, start + dt.timedelta(hours=1), time_zone="Mars/Olympus_Mons")
    with pytest.raises(errors.InvalidItem) as caught:
        gateway.create_event(mailbox, odd, tag="engage:event:99")
    assert caught.value.permanent and simulator.stats() == before


def test_a_series_across_a_dst_change_keeps_its_cancelled_and_moved_occurrences(sim_tenant, gateway_for):
    # Given a weekly Monday series in New York over the March 2027 DST change (14 March), whose second occurrence
    # is cancelled and third (the first in summer time) moved two hours later
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    start = dt.datetime(2027, 3, 1, 9, 0, tzinfo=NEW_YORK)
    moved = OccurrenceChange(original_start=dt.datetime(2027, 3, 15, 9, 0, tzinfo=NEW_YORK),
                             start=dt.datetime(2027, 3, 15, 11, 0, tzinfo=NEW_YORK),
                             end=dt.datetime(2027, 3, 15, 11, 30, tzinfo=NEW_YORK))
    series = Event(
        subject="Pipeline review", start=start, end=start + dt.timedelta(minutes=30), time_zone="America/New_York",
        recurrence=Recurrence(RecurrenceFrequency.WEEKLY, weekdays=(1,), start_date=dt.date(2027, 3, 1), count=4,
                              cancelled_occurrences=(dt.date(2027, 3, 8),), changed_occurrences=(moved,)),
    )
    # When the gateway writes it and the calendar is read from the start
    ref = gateway.create_event(mailbox, series, tag="engage:event:dst")
    (stored,) = gateway.fetch(mailbox, Collection.CALENDAR, [ref.item_id])
    changes, _, _ = all_changes(gateway, mailbox, Collection.CALENDAR)
    # Then the series reads back once, at 9:00 local time on both sides of the change, with both exceptions
    assert [c.item_id for c in changes] == [ref.item_id] and changes[0].stored.item == stored.item
    rec = stored.item.recurrence
    assert stored.item.start == start and stored.ref == ref and stored.tag == "engage:event:dst"
    assert rec.cancelled_occurrences == (dt.date(2027, 3, 8),)
    assert rec.changed_occurrences == (moved,)


def test_a_create_whose_answer_is_lost_is_found_by_its_tag(simulator, sim_tenant, gateway_for, backend):
    # Given a connection that drops after the mailbox has stored the new contact
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    simulator.add_fault("timeout_after_commit", mailbox=mailbox, operation=OPERATIONS[backend]["create"], seconds=0.2,
                        count=1)
    with pytest.raises(errors.TransientNetwork):
        gateway.create_contact(mailbox, CONTACT, tag="engage:contact:77")
    # Then the retry's first step, a search by tag, finds the one contact created (so it is not created twice)
    (found,) = gateway.find_by_tag(mailbox, Collection.CONTACTS, "engage:contact:77")
    assert found.item == CONTACT and found.tag == "engage:contact:77"


def test_a_draft_with_a_large_attachment_arrives_byte_exact(simulator, sim_tenant, gateway_for):
    # Given a draft with a 4.5 MB file (over Graph's 3 MB single-request limit) and a small one
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    big = bytes(range(256)) * (18 * 1024)  # 4.5 MiB, every byte value
    files = (OutgoingAttachment("plan.pdf", "application/pdf", big), OutgoingAttachment("note.txt", "text/plain", b"hi"))
    message = OutgoingMessage("Floor plan", "Attached.", ("ada@client.example",), attachments=files)
    draft = gateway.create_draft(mailbox, message, tag="engage:mail:big")
    # When it is sent
    gateway.send_draft(mailbox, draft)
    # Then the copy in Sent Items names both files and what went out carries their exact bytes
    (sent,) = gateway.find_messages_by_tag(mailbox, MessageFolder.SENT, "engage:mail:big")
    assert sorted(sent.attachment_names) == ["note.txt", "plan.pdf"]
    (out,) = simulator.outbound(mailbox)
    assert sorted((a["name"], a["size"], a["sha256"]) for a in out["attachments"]) == sorted(
        (f.filename, len(f.content), hashlib.sha256(f.content).hexdigest()) for f in files)


def test_an_occurrence_the_user_cancels_later_reaches_the_reader_as_its_series_changed(simulator, sim_tenant,
                                                                                     gateway_for):
    # Given a weekly series already read
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    (seeded,) = simulator.seed_events(mailbox, [{
        "subject": "Open house", "start": "2026-12-05T15:00:00Z", "end": "2026-12-05T16:00:00Z",
        "start_tz": "Eastern Standard Time", "end_tz": "Eastern Standard Time",
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Saturday"]},
                       "range": {"type": "numbered", "start_date": "2026-12-05", "count": 5}},
    }])
    changes, watermark, _ = all_changes(gateway, mailbox, Collection.CALENDAR)
    (series_id,) = [c.item_id for c in changes]
    # When its user cancels the second occurrence in Outlook
    simulator.user_update(mailbox, seeded, {"deleted_occurrences": ["2026-12-12T15:00:00Z"]})
    # Then the next read reports the series with that cancellation
    later, _, _ = all_changes(gateway, mailbox, Collection.CALENDAR, watermark)
    (series,) = [c.stored.item for c in later if c.item_id == series_id]
    assert series.recurrence.cancelled_occurrences == (dt.date(2026, 12, 12),)


def test_a_series_updated_without_its_recurrence_becomes_a_single_event(sim_tenant, gateway_for):
    tenant = sim_tenant()
    gateway, mailbox = gateway_for(tenant), tenant.mailboxes[0]
    start = dt.datetime(2027, 2, 1, 9, 0, tzinfo=NEW_YORK)
    single = Event("Viewing", start, start + dt.timedelta(hours=1), time_zone="America/New_York")
    weekly = Event(**{**single.__dict__, "recurrence": Recurrence(RecurrenceFrequency.WEEKLY, weekdays=(1,),
                                                                  start_date=dt.date(2027, 2, 1), count=3)})
    ref = gateway.create_event(mailbox, weekly, tag="engage:event:single")
    gateway.update_event(mailbox, ref, single)
    (stored,) = gateway.fetch(mailbox, Collection.CALENDAR, [ref.item_id])
    assert stored.item == single

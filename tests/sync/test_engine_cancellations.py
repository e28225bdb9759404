"""Meetings cancelled in the CRM: removed from the calendar (the invited attendees told), kept in the CRM as
cancelled; re-opened, they come back. Against the simulator through the real gateway."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from sync.models import Event, FolderState, SyncConflict, SyncLink
from tests.fixtures.crm import BACKENDS
from tests.scheduling.staff_fixtures import superuser  # noqa: F401

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
BUYER = {"email": "buyer@client.example", "name": "Buyer", "required": True}


def _calendar(outlook):
    return list(outlook.items("calendar").values())


def _only_event_id(outlook):
    (remote_id,) = outlook.items("calendar")
    return remote_id


def _meeting(mailbox, subject="Viewing", day=5, **fields):
    start = dt.datetime(2027, 1, day, 10, tzinfo=AMSTERDAM)
    fields.setdefault("attendees", [BUYER])
    event = Event(mailbox=mailbox, subject=subject, start=start, end=start + dt.timedelta(hours=1),
                  time_zone="Europe/Amsterdam", **fields)
    event.save()
    return event


def _cancel(event):
    event.cancelled = True
    event.save()


def _cancellations(simulator, mailbox):
    return [(m["subject"], [r["email"] for r in m["to"]])
            for m in simulator.outbound(mailbox.email) if m.get("meeting") == "cancellation"]


def test_a_meeting_cancelled_in_the_crm_leaves_the_calendar_and_its_invited_attendees_are_told(outlook,
        simulator, sim_mailbox, sync_once):
    # Given a meeting created in the CRM that invited its attendee, synced
    event = _meeting(sim_mailbox, send_invitations=True)
    sync_once()
    assert len(_calendar(outlook)) == 1
    # When the agent cancels it in the CRM and the mailbox syncs
    _cancel(event)
    result = sync_once()
    # Then the calendar no longer holds it, and the attendee got Exchange's cancellation
    assert _calendar(outlook) == []
    assert _cancellations(simulator, sim_mailbox) == [("Canceled: Viewing", ["buyer@client.example"])]
    assert result.pushed == 1
    # And the CRM keeps the meeting, cancelled and unlinked, with no conflict recorded
    event.refresh_from_db()
    assert event.cancelled and event.deleted_at is None and event.pushed_hash == ""
    assert not SyncLink.objects.filter(local_id=event.pk).exists()
    assert not SyncConflict.objects.filter(mailbox=sim_mailbox).exists()
    # And the next syncs are quiet: one request per folder, nothing created again
    before = (outlook.requests(), outlook.operation_count("read_contacts"), outlook.operation_count("read_calendar"))
    again = sync_once()
    after = (outlook.requests(), outlook.operation_count("read_contacts"), outlook.operation_count("read_calendar"))
    assert (again.pulled, again.pushed) == (0, 0)
    reads = 2 if outlook.operation("read_contacts") == outlook.operation("read_calendar") else 1
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (2, reads, reads)
    assert _calendar(outlook) == [] and Event.objects.get(pk=event.pk).cancelled


def test_a_meeting_that_invited_nobody_is_removed_without_mail(outlook, simulator, sim_mailbox, sync_once):
    # Given a meeting from the CRM that did not ask for invitations, synced
    event = _meeting(sim_mailbox)
    sync_once()
    # When it is cancelled in the CRM and the mailbox syncs
    _cancel(event)
    sync_once()
    # Then it left the calendar, and nobody got mail: nobody had been invited
    assert _calendar(outlook) == []
    assert simulator.outbound(sim_mailbox.email) == []
    assert Event.objects.get(pk=event.pk).cancelled


def test_an_outlook_meeting_whose_invitations_went_out_is_cancelled_to_its_attendees(outlook, simulator, sim_mailbox, sync_once):
    # Given a meeting the agent organized in Outlook, invitations sent, synced into the CRM
    outlook.create("calendar", {
        "subject": "Offer review", "start": "2027-01-06T09:00:00Z", "end": "2027-01-06T10:00:00Z",
        "attendees": [{"email": "seller@client.example"}], "invitations_sent": True})
    sync_once()
    event = Event.objects.get(mailbox=sim_mailbox, subject="Offer review")
    # When the CRM cancels it
    _cancel(event)
    sync_once()
    # Then the seller is told and the calendar no longer holds it
    assert _cancellations(simulator, sim_mailbox) == [("Canceled: Offer review", ["seller@client.example"])]
    assert _calendar(outlook) == []


def test_a_cancelled_meeting_reopened_in_the_crm_comes_back_to_the_calendar(outlook, simulator, sim_mailbox, sync_once):
    # Given a meeting cancelled in the CRM and removed from the calendar
    event = _meeting(sim_mailbox, send_invitations=True)
    sync_once()
    _cancel(event)
    sync_once()
    # When the agent re-opens it in the CRM
    event.refresh_from_db()
    event.cancelled = False
    event.save()
    sync_once()
    # Then it is in the calendar again, once, tagged with the CRM's id, and the attendee is invited again
    (item,) = _calendar(outlook)
    assert str(event.pk) in item["extended"].values() and not item["fields"].get("is_cancelled")
    assert SyncLink.objects.get(local_id=event.pk).remote_id == _only_event_id(outlook)
    assert [m["subject"] for m in simulator.outbound(sim_mailbox.email)] == ["Viewing", "Canceled: Viewing", "Viewing"]


def test_a_meeting_cancelled_by_its_organizer_stays_in_both_as_cancelled(outlook, simulator, sim_mailbox, sync_once):
    # Given a meeting the agent attends, synced
    item_id = outlook.create("calendar", {
        "subject": "Board meeting", "start": "2027-01-07T09:00:00Z", "end": "2027-01-07T10:00:00Z",
        "organizer": {"email": "chair@other.example", "name": "Chair"}})
    sync_once()
    # When its organizer cancels it (Exchange marks the attendee's copy cancelled) and the mailbox syncs
    outlook.update(item_id, {"is_cancelled": True})
    sync_once()
    # Then the CRM shows it cancelled, still linked to the copy the calendar keeps
    event = Event.objects.get(mailbox=sim_mailbox, subject="Board meeting")
    assert event.cancelled and SyncLink.objects.get(local_id=event.pk).remote_id == item_id
    # And a CRM edit of that cancelled meeting is written to it as usual, not mistaken for a cancellation
    event.location = "Room 4"
    event.save()
    sync_once()
    (item,) = _calendar(outlook)
    assert item["fields"]["location"] == "Room 4" and item["fields"]["is_cancelled"] is True
    assert simulator.outbound(sim_mailbox.email) == []
    # And a CRM re-opening it writes the rest, but both keep it cancelled: only its organizer can re-open it
    event.refresh_from_db()
    event.cancelled, event.location = False, "Room 5"
    event.save()
    sync_once()
    event.refresh_from_db()
    (item,) = _calendar(outlook)
    assert (event.cancelled, event.location) == (True, "Room 5")
    assert item["fields"]["location"] == "Room 5" and item["fields"]["is_cancelled"] is True
    assert "cancelled" in SyncConflict.objects.get(mailbox=sim_mailbox, local_id=event.pk).fields
    assert (sync_once().pulled, sync_once().pushed) == (0, 0)


def test_a_removal_that_reached_the_mailbox_before_the_worker_died_is_finished_without_a_copy(outlook,
        simulator, sim_mailbox, sync_once):
    # Given a synced meeting cancelled in the CRM, whose removal reached the mailbox before the worker died
    # (the mailbox item is gone; the CRM row is still linked)
    event = _meeting(sim_mailbox)
    sync_once()
    _cancel(event)
    outlook.delete(SyncLink.objects.get(local_id=event.pk).remote_id)
    # When the mailbox syncs again
    result = sync_once()
    # Then the row is kept as cancelled and unlinked: nothing re-created, no edit-beats-delete conflict
    assert (result.pushed, _calendar(outlook)) == (0, [])
    assert Event.objects.get(pk=event.pk).cancelled
    assert not SyncLink.objects.filter(local_id=event.pk).exists()
    assert not SyncConflict.objects.filter(mailbox=sim_mailbox).exists()


def test_an_outlook_edit_racing_the_cancellation_is_reread_never_overwritten(outlook, simulator, sim_mailbox, sync_once):
    # Given a synced meeting, moved to another room in Outlook after the CRM cancelled it
    event = _meeting(sim_mailbox)
    sync_once()
    _cancel(event)
    remote_id = SyncLink.objects.get(local_id=event.pk).remote_id
    outlook.update(remote_id, {"location": "Room 9"})
    # When the mailbox syncs (merge: different fields changed on each side)
    sync_once()
    # Then both edits are kept: the CRM row holds the new room and is cancelled, the calendar no longer has it
    event.refresh_from_db()
    assert (event.cancelled, event.location) == (True, "Room 9")
    assert _calendar(outlook) == []
    assert SyncConflict.objects.get(mailbox=sim_mailbox, local_id=event.pk).decision == "merged"


def test_a_crm_cancelling_most_meetings_at_once_pauses_instead_of_emptying_the_calendar(outlook,
        simulator, sim_mailbox, sync_once):
    # Given eight synced meetings
    events = [_meeting(sim_mailbox, subject=f"Viewing {n}", day=n + 1) for n in range(8)]
    sync_once()
    # When the CRM suddenly cancels six of them
    for event in events[:6]:
        _cancel(event)
    result = sync_once()
    # Then the sync pauses for staff, and the calendar still holds all eight
    assert "calendar" in result.paused_reason
    assert len(_calendar(outlook)) == 8
    assert SyncLink.objects.filter(mailbox=sim_mailbox, collection="calendar").count() == 8
    # And once staff confirm, the cancellations are written
    FolderState.objects.filter(mailbox=sim_mailbox, collection="calendar").update(confirm_mass_deletion=True)
    sync_once()
    assert sorted(item["fields"]["subject"] for item in _calendar(outlook)) == ["Viewing 6", "Viewing 7"]


def test_a_meeting_reopened_after_its_removal_was_cut_off_is_created_again(outlook,
        simulator, sim_mailbox, sync_once, monkeypatch):
    import pytest

    from engage_sync import failpoints

    # Given a synced meeting cancelled in the CRM, and a worker that dies right after removing it from the mailbox
    event = _meeting(sim_mailbox)
    sync_once()
    _cancel(event)
    monkeypatch.setitem(failpoints._ACTIVE, "sync.after_remote_cancel", "raise")
    with pytest.raises(failpoints.FailpointTriggered):
        sync_once()
    monkeypatch.delitem(failpoints._ACTIVE, "sync.after_remote_cancel")
    assert _calendar(outlook) == [] and SyncLink.objects.filter(local_id=event.pk).exists()
    # When the agent re-opens it in the CRM before the next sync (its content is the agreed one again)
    event.refresh_from_db()
    event.cancelled = False
    event.save()
    sync_once()
    # Then the removal is known to be ours: the meeting is back in the calendar, and still in the CRM
    (item,) = _calendar(outlook)
    assert str(event.pk) in item["extended"].values()
    assert SyncLink.objects.get(local_id=event.pk).remote_id == _only_event_id(outlook)
    assert Event.objects.get(pk=event.pk).deleted_at is None


def test_a_cancellation_reaches_the_mailbox_when_the_links_crm_version_is_unknown(outlook, simulator, sim_mailbox, sync_once):
    # Given a synced meeting whose link does not know the CRM row's version (an earlier try found by our tag)
    event = _meeting(sim_mailbox)
    sync_once()
    SyncLink.objects.filter(local_id=event.pk).update(local_version=None)
    # When it is cancelled in the CRM and the mailbox syncs
    _cancel(event)
    sync_once()
    # Then it left the calendar like any other cancellation
    assert _calendar(outlook) == []
    assert not SyncLink.objects.filter(local_id=event.pk).exists()


def test_at_onboarding_a_meeting_cancelled_only_in_the_crm_is_left_in_the_calendar(outlook, simulator, sim_mailbox, sync_once):
    # Given, before the first sync, a meeting the CRM marked cancelled that Outlook holds live, invitations sent
    outlook.create("calendar", {
        "subject": "Viewing", "start": "2027-01-05T09:00:00Z", "end": "2027-01-05T10:00:00Z",
        "attendees": [{"email": "buyer@client.example"}], "invitations_sent": True})
    event = _meeting(sim_mailbox, attendees=[])
    Event.objects.filter(pk=event.pk).update(cancelled=True)
    # When the mailbox syncs for the first time
    sync_once()
    # Then the two are one meeting, live as the calendar holds it: nothing removed, nobody mailed
    event.refresh_from_db()
    assert not event.cancelled and SyncLink.objects.get(local_id=event.pk).remote_id == _only_event_id(outlook)
    assert simulator.outbound(sim_mailbox.email) == []
    # And staff can see that the CRM's cancellation was not applied
    conflict = SyncConflict.objects.get(mailbox=sim_mailbox, local_id=event.pk)
    assert (conflict.decision, "cancelled" in conflict.fields) == ("paired", True)


def test_staff_find_a_meeting_the_crm_keeps_cancelled_in_the_admin(simulator, sim_mailbox, sync_once, client, request):
    # Given a meeting cancelled in the CRM and removed from the calendar, beside a live one
    event = _meeting(sim_mailbox)
    _meeting(sim_mailbox, subject="Open house", day=6)
    sync_once()
    _cancel(event)
    sync_once()
    # When staff filter the events by "cancelled"
    client.force_login(request.getfixturevalue("superuser"))  # operators do not browse clients' data
    html = client.get(reverse("admin:sync_event_changelist"), {"cancelled__exact": "1"}).content.decode()
    # Then they see that meeting, with its cancelled column, and not the live one
    assert "Viewing" in html and "Open house" not in html
    assert '<td class="field-cancelled"><img src="/static/admin/img/icon-yes.svg" alt="True"></td>' in html


def test_a_refused_removal_clears_its_flag_and_removes_nothing(outlook, simulator, sim_mailbox, sync_once):
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from mailboxes.items import Collection
    from sync import records
    from sync.actions import CancelRemote
    from sync.executor import Executor

    # Given a synced meeting cancelled in the CRM, and a plan made before the item's change key moved
    event = _meeting(sim_mailbox)
    sync_once()
    link = SyncLink.objects.get(local_id=event.pk)
    _cancel(event)
    action = CancelRemote(str(event.pk), event.version, link.remote_id, "a-change-key-gone-by",
                          records.row_content(event))
    # When the executor applies it
    row = Mailbox.objects.select_related("brokerage").get(pk=sim_mailbox.pk)
    executor = Executor(row.pk, row.email, Collection.CALENDAR, gateway_for_mailbox(row), lambda: None)
    assert executor.apply((action,)) is False
    # Then nothing was removed, the link stands, and no flag is left to misread a later deletion as ours
    assert len(_calendar(outlook)) == 1 and SyncLink.objects.filter(local_id=event.pk).exists()
    event.refresh_from_db()
    assert event.cancel_pending is False
    # And the next sync removes it after all
    sync_once()
    assert _calendar(outlook) == []

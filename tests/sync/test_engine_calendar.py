"""The engine on calendars: both directions, recurring series with exceptions, all-day events across DST, the
sync window; against the simulator through the real gateway."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sync.models import Event, SyncLink
from tests.fixtures.crm import BACKENDS

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")


def _crm_event(mailbox, **fields):
    event = Event(mailbox=mailbox, **fields)
    event.save()
    return event


def test_an_event_created_in_outlook_appears_in_the_crm_in_its_own_zone(outlook, simulator, sim_mailbox, sync_once):
    # Given a meeting the agent put in Outlook in New York time
    outlook.create("calendar", {
        "subject": "Listing call", "start": "2026-12-02T15:00:00Z", "end": "2026-12-02T16:00:00Z",
        "start_tz": "Eastern Standard Time", "end_tz": "Eastern Standard Time", "location": "Phone",
        "attendees": [{"email": "seller@client.example", "type": "optional"}]})
    # When the mailbox syncs
    sync_once()
    # Then the CRM has it once, with its IANA zone and wall-clock time
    (event,) = Event.objects.filter(mailbox=sim_mailbox)
    assert (event.subject, event.time_zone, event.location) == ("Listing call", "America/New_York", "Phone")
    assert event.start.astimezone(NEW_YORK).hour == 10
    assert [(a["email"], a["required"]) for a in event.attendees] == [("seller@client.example", False)]


def test_an_event_created_in_the_crm_lands_in_the_calendar_without_sending_invitations(outlook, simulator, sim_mailbox, sync_once):
    # Given a viewing with an attendee created in the CRM
    event = _crm_event(sim_mailbox, subject="Viewing", start=dt.datetime(2027, 1, 5, 10, tzinfo=AMSTERDAM),
                       end=dt.datetime(2027, 1, 5, 11, tzinfo=AMSTERDAM), time_zone="Europe/Amsterdam",
                       attendees=[{"email": "buyer@client.example", "name": "Buyer", "required": True}])
    # When the mailbox syncs twice
    first, second = sync_once(), sync_once()
    # Then the calendar holds it once, tagged, in its zone; no invitation went out; nothing came back
    (item,) = outlook.items("calendar").values()
    assert item["fields"]["subject"] == "Viewing" and item["fields"]["start"] == "2027-01-05T09:00:00Z"
    assert str(event.pk) in item["extended"].values()
    assert simulator.outbound(sim_mailbox.email) == []
    assert (first.pushed, second.pulled, second.pushed) == (1, 0, 0)


def test_a_recurring_series_with_exceptions_syncs_both_ways(outlook, simulator, sim_mailbox, sync_once):
    # Given a weekly open house in Outlook with one occurrence cancelled and one moved
    outlook.seed_events([{
        "subject": "Open house", "start": "2026-12-05T15:00:00Z", "end": "2026-12-05T16:00:00Z",
        "start_tz": "Eastern Standard Time", "end_tz": "Eastern Standard Time",
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Saturday"]},
                       "range": {"type": "numbered", "start_date": "2026-12-05", "count": 5}},
        "deleted_occurrences": ["2026-12-12T15:00:00Z"],
        "modified_occurrences": {"2026-12-19T15:00:00Z": {"start": "2026-12-19T17:00:00Z", "end": "2026-12-19T18:00:00Z"}},
    }])
    # And a weekly series created in the CRM
    crm = _crm_event(sim_mailbox, subject="Team meeting", start=dt.datetime(2027, 2, 1, 9, tzinfo=AMSTERDAM),
                     end=dt.datetime(2027, 2, 1, 10, tzinfo=AMSTERDAM), time_zone="Europe/Amsterdam",
                     recurrence={"frequency": "weekly", "weekdays": [1], "start_date": "2027-02-01", "count": 4})
    # When the mailbox syncs twice
    sync_once()
    second = sync_once()
    # Then the CRM holds the Outlook series with both exceptions
    series = Event.objects.get(mailbox=sim_mailbox, subject="Open house")
    assert series.recurrence["frequency"] == "weekly" and series.recurrence["count"] == 5
    assert series.recurrence["cancelled_occurrences"] == ["2026-12-12"]
    (moved,) = series.recurrence["changed_occurrences"]
    assert dt.datetime.fromisoformat(moved["start"]).astimezone(NEW_YORK).hour == 12
    # And the calendar holds the CRM series; the pair is stable (no churn)
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    stored = outlook.items("calendar")[remote_id]["fields"]
    assert stored["recurrence"]["range"]["count"] == 4
    assert (second.pulled, second.pushed) == (0, 0)
    # When the agent cancels one occurrence of the CRM series in Outlook
    outlook.update(remote_id, {"deleted_occurrences": ["2027-02-22T08:00:00Z"]})
    sync_once()
    # Then the CRM series carries that exception
    crm.refresh_from_db()
    assert crm.recurrence["cancelled_occurrences"] == ["2027-02-22"] and crm.recurrence["count"] == 4


def test_an_all_day_event_across_the_dst_change_keeps_its_days(outlook, simulator, sim_mailbox, sync_once):
    # Given an all-day event in the CRM over the night Amsterdam moves its clocks forward (28 March 2027)
    crm = _crm_event(sim_mailbox, subject="Open days", all_day=True, time_zone="Europe/Amsterdam",
                     start=dt.datetime(2027, 3, 27, tzinfo=AMSTERDAM), end=dt.datetime(2027, 3, 29, tzinfo=AMSTERDAM))
    # When it syncs to the mailbox and back
    sync_once()
    second = sync_once()
    # Then the mailbox has it all-day over the same two days, and the round trip is no change
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    fields = outlook.items("calendar")[remote_id]["fields"]
    assert fields["is_all_day"] is True
    assert (second.pulled, second.pushed) == (0, 0)
    # When the agent moves it a day later in Outlook (across the change, in the event's zone)
    outlook.update(remote_id, {"start": "2027-03-27T23:00:00Z", "end": "2027-03-29T22:00:00Z"})
    sync_once()
    # Then the CRM event covers 28 and 29 March, midnight to midnight in Amsterdam
    crm.refresh_from_db()
    assert crm.start.astimezone(AMSTERDAM) == dt.datetime(2027, 3, 28, tzinfo=AMSTERDAM)
    assert crm.end.astimezone(AMSTERDAM) == dt.datetime(2027, 3, 30, tzinfo=AMSTERDAM)
    assert crm.all_day


def test_old_history_outside_the_sync_window_is_not_imported(outlook, simulator, sim_mailbox, sync_once):
    # Given one event three years ago and one next month in Outlook
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old, soon = now - dt.timedelta(days=3 * 365), now + dt.timedelta(days=30)
    for subject, start in (("Old", old), ("Soon", soon)):
        outlook.create("calendar", {"subject": subject, "start": start.isoformat(),
                                                              "end": (start + dt.timedelta(hours=1)).isoformat()})
    # When the mailbox syncs
    sync_once()
    # Then only the event inside the window (90 days back, two years ahead) is in the CRM
    assert list(Event.objects.filter(mailbox=sim_mailbox).values_list("subject", flat=True)) == ["Soon"]


# --- CRM-made series with exceptions (the mailbox carries them: deleted and modified occurrences) ------------

# A weekly Monday 9:00 Amsterdam series over the night the clocks go forward (28 March 2027): 9:00 is 08:00Z
# before it and 07:00Z after it, so an exception's occurrence is found on the wall clock, not the UTC instant.
SERIES = {"frequency": "weekly", "weekdays": [1], "start_date": "2027-03-15", "count": 5}
CANCELLED = "2027-03-22"  # before the change: the occurrence at 08:00Z
MOVED = {"original_start": "2027-03-29T09:00:00+02:00", "start": "2027-03-29T11:00:00+02:00",
         "end": "2027-03-29T12:00:00+02:00"}  # after the change: 07:00Z moved to 09:00Z


def _crm_series(mailbox, **recurrence):
    return _crm_event(mailbox, subject="Team meeting", start=dt.datetime(2027, 3, 15, 9, tzinfo=AMSTERDAM),
                      end=dt.datetime(2027, 3, 15, 10, tzinfo=AMSTERDAM), time_zone="Europe/Amsterdam",
                      recurrence={**SERIES, **recurrence})


def _mailbox_exceptions(outlook, remote_id):
    """The series' exceptions as the simulator's store holds them: deleted original starts, moved ones' times."""
    fields = outlook.items("calendar")[remote_id]["fields"]
    moved = {key: (change["start"], change["end"]) for key, change in (fields.get("modified_occurrences") or {}).items()}
    return sorted(fields.get("deleted_occurrences") or []), moved


def _gateway_series(mailbox, remote_id):
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from mailboxes.items import Collection

    row = Mailbox.objects.select_related("brokerage").get(pk=mailbox.pk)
    (stored,) = gateway_for_mailbox(row).fetch(row.email, Collection.CALENDAR, [remote_id])
    return stored.item


def test_a_crm_series_with_a_cancelled_and_a_moved_occurrence_reaches_the_mailbox_across_dst(outlook,
    simulator, sim_mailbox, sync_once
):
    # Given a weekly series in the CRM, one occurrence cancelled before the DST change and one moved after it
    crm = _crm_series(sim_mailbox, cancelled_occurrences=[CANCELLED], changed_occurrences=[MOVED])
    # When the mailbox syncs twice
    first, second = sync_once(), sync_once()
    # Then the simulator's mailbox holds the series with exactly those exceptions, at Amsterdam wall-clock times
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    assert _mailbox_exceptions(outlook, remote_id) == (
        ["2027-03-22T08:00:00Z"], {"2027-03-29T07:00:00Z": ("2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z")})
    # And read back through exchangelib and the gateway they are the CRM's, in plain datetime/date types
    event = _gateway_series(sim_mailbox, remote_id)
    assert event.recurrence.cancelled_occurrences == (dt.date(2027, 3, 22),)
    (moved,) = event.recurrence.changed_occurrences
    assert (moved.original_start, moved.start, moved.end) == tuple(
        dt.datetime.fromisoformat(MOVED[name]) for name in ("original_start", "start", "end"))
    assert {type(v) for v in (event.start, event.end, moved.original_start, moved.start)} == {dt.datetime}
    assert type(event.recurrence.start_date) is dt.date and type(event.recurrence.cancelled_occurrences[0]) is dt.date
    # And no invitation went out, and the second sync found nothing to do (the pair agrees)
    assert simulator.outbound(sim_mailbox.email) == []
    assert (first.pushed, second.pulled, second.pushed) == (1, 0, 0)


def test_an_exception_added_later_in_the_crm_reaches_the_mailbox_on_the_next_sync(outlook, simulator, sim_mailbox, sync_once):
    # Given a CRM series with one moved occurrence, synced
    crm = _crm_series(sim_mailbox, changed_occurrences=[MOVED])
    sync_once()
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    # When the agent cancels another occurrence in the CRM and the mailbox syncs twice
    crm.recurrence = {**crm.recurrence, "cancelled_occurrences": [CANCELLED, "2027-04-05"]}
    crm.save()
    before = [outlook.operation_count(what) for what in ("update_event", "delete_event")]
    first = sync_once()
    after = [outlook.operation_count(what) for what in ("update_event", "delete_event")]
    second = sync_once()
    # Then the series kept its pattern and its move: on EWS one UpdateItem (the master) and one DeleteItem went
    # out; Graph drops a series' exceptions whenever its pattern is written, so all are written again (the master
    # and the moved occurrence: two PATCHes; both cancellations: two DELETEs)
    expected = {"ews": [1, 1], "graph": [2, 2]}[outlook.backend]
    assert [a - b for a, b in zip(after, before, strict=True)] == expected
    # And the mailbox carries both cancellations and still the move; the pair is stable
    assert _mailbox_exceptions(outlook, remote_id) == (
        ["2027-03-22T08:00:00Z", "2027-04-05T07:00:00Z"],
        {"2027-03-29T07:00:00Z": ("2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z")})
    assert (first.pushed, second.pulled, second.pushed) == (1, 0, 0)


def test_an_outlook_edit_of_a_crm_series_keeps_the_crm_exceptions(outlook, simulator, sim_mailbox, sync_once):
    # Given a CRM series with a cancelled and a moved occurrence, synced to the mailbox
    crm = _crm_series(sim_mailbox, cancelled_occurrences=[CANCELLED], changed_occurrences=[MOVED])
    sync_once()
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    # When the agent renames the series in Outlook and the mailbox syncs
    outlook.update(remote_id, {"subject": "Team sync"})
    sync_once()
    # Then the CRM takes the new subject and keeps both exceptions; so does the mailbox
    crm.refresh_from_db()
    assert crm.subject == "Team sync"
    assert crm.recurrence["cancelled_occurrences"] == [CANCELLED]
    (moved,) = crm.recurrence["changed_occurrences"]
    assert dt.datetime.fromisoformat(moved["start"]) == dt.datetime.fromisoformat(MOVED["start"])
    assert _mailbox_exceptions(outlook, remote_id) == (
        ["2027-03-22T08:00:00Z"], {"2027-03-29T07:00:00Z": ("2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z")})
    assert (sync_once().pulled, sync_once().pushed) == (0, 0)


def test_an_event_sends_invitations_only_when_it_asks_and_the_ask_is_no_content(simulator, sim_mailbox):
    from brokerages.gateways import gateway_for_mailbox
    from brokerages.models import Mailbox
    from mailboxes import items
    from sync.records import item_content

    # Given the same meeting twice, once asking for invitations
    row = Mailbox.objects.select_related("brokerage").get(pk=sim_mailbox.pk)
    gateway = gateway_for_mailbox(row)
    start = dt.datetime(2027, 1, 5, 10, tzinfo=AMSTERDAM)
    quiet = items.Event(subject="Viewing", start=start, end=start + dt.timedelta(hours=1),
                        time_zone="Europe/Amsterdam", attendees=(items.Attendee("buyer@client.example"),))
    asking = dataclasses.replace(quiet, subject="Showing", send_invitations=True)
    # When both are created in the mailbox
    gateway.create_event(row.email, quiet, tag="quiet")
    gateway.create_event(row.email, asking, tag="asking")
    # Then only the one that asked invited its attendee (a backend with no "save without sending" says so in its
    # capabilities: there both did, and the engine keeps uninvited attendees out of the mailbox, sync/attendees.py);
    # whether it asks is not part of an event's content
    invited = ["Quiet", "Showing"] if gateway.capabilities.attendees_always_invited else ["Showing"]
    assert sorted(m["subject"].replace("Viewing", "Quiet") for m in simulator.outbound(sim_mailbox.email)) == invited
    assert item_content(dataclasses.replace(asking, subject="Viewing")).hash == item_content(quiet).hash


def test_an_all_day_crm_series_moves_and_cancels_whole_days_across_dst(outlook, simulator, sim_mailbox, sync_once):
    # Given a weekly all-day Saturday series in the CRM over the DST change, the 27 March cancelled and the
    # 3 April moved to the Sunday after it
    midnight = dt.datetime(2027, 3, 20, tzinfo=AMSTERDAM)
    crm = _crm_event(sim_mailbox, subject="Open days", all_day=True, time_zone="Europe/Amsterdam",
                     start=midnight, end=midnight + dt.timedelta(days=1),
                     recurrence={"frequency": "weekly", "weekdays": [6], "start_date": "2027-03-20", "count": 4,
                                 "cancelled_occurrences": ["2027-03-27"],
                                 "changed_occurrences": [{"original_start": "2027-04-03T00:00:00+02:00",
                                                          "start": "2027-04-04T00:00:00+02:00",
                                                          "end": "2027-04-05T00:00:00+02:00"}]})
    # When it syncs twice
    sync_once()
    second = sync_once()
    # Then the mailbox holds those whole-day exceptions, midnight to midnight in Amsterdam, and the pair agrees
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    assert _mailbox_exceptions(outlook, remote_id) == (
        ["2027-03-26T23:00:00Z"], {"2027-04-02T22:00:00Z": ("2027-04-03T22:00:00Z", "2027-04-04T22:00:00Z")})
    assert (second.pulled, second.pushed) == (0, 0)


def test_an_exception_removed_in_the_crm_is_undone_in_the_mailbox_and_the_others_stay(outlook,
    simulator, sim_mailbox, sync_once
):
    # Given a CRM series with a cancelled and a moved occurrence, synced
    crm = _crm_series(sim_mailbox, cancelled_occurrences=[CANCELLED], changed_occurrences=[MOVED])
    sync_once()
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    # When the agent restores the cancelled occurrence in the CRM and the mailbox syncs twice
    crm.recurrence = {**crm.recurrence, "cancelled_occurrences": []}
    crm.save()
    first, second = sync_once(), sync_once()
    # Then the mailbox has the occurrence back (the pattern was written anew) and the move written again
    assert _mailbox_exceptions(outlook, remote_id) == (
        [], {"2027-03-29T07:00:00Z": ("2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z")})
    assert (first.pushed, second.pulled, second.pushed) == (1, 0, 0)


def test_a_crm_exception_on_a_day_without_an_occurrence_is_logged_not_written(outlook, simulator, sim_mailbox, sync_once,
                                                                               caplog):
    # Given a Monday series in the CRM with a "cancelled" Tuesday, which the pattern never produces
    crm = _crm_series(sim_mailbox, cancelled_occurrences=["2027-03-23"], changed_occurrences=[MOVED])
    # When it syncs
    with caplog.at_level("WARNING", logger="mailboxes"):
        sync_once()
    # Then the series and its real exception reach the mailbox, and the stray day is named in the log
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    assert _mailbox_exceptions(outlook, remote_id) == (
        [], {"2027-03-29T07:00:00Z": ("2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z")})
    assert "2027-03-23" in caplog.text


def test_a_crm_event_invites_its_attendees_only_when_the_crm_asks(outlook, simulator, sim_mailbox, sync_once, crm_client):
    # Given two meetings created through the CRM API, one asking for invitations
    meeting = {"start": "2027-02-10T10:00:00", "end": "2027-02-10T11:00:00", "time_zone": "Europe/Amsterdam",
               "attendees": [{"email": "buyer@client.example"}]}
    quiet = crm_client.post(f"/api/mailboxes/{sim_mailbox.pk}/events/", {**meeting, "subject": "Quiet viewing"}, format="json")
    asking = crm_client.post(f"/api/mailboxes/{sim_mailbox.pk}/events/",
                             {**meeting, "subject": "Announced viewing", "send_invitations": True}, format="json")
    assert (quiet.status_code, asking.status_code) == (201, 201)
    assert asking.json()["send_invitations"] is True
    # When they sync to the mailbox
    sync_once()
    # Then both are in the calendar, and only the one that asked sent an invitation
    subjects = sorted(item["fields"]["subject"] for item in outlook.items("calendar").values())
    assert subjects == ["Announced viewing", "Quiet viewing"]
    assert [m["subject"] for m in simulator.outbound(sim_mailbox.email)] == ["Announced viewing"]


def test_a_series_write_cut_off_before_its_exceptions_is_finished_not_undone(outlook, simulator, sim_mailbox, sync_once):
    import pytest

    from mailboxes.errors import Throttled
    from sync.models import BrokerageSyncSettings

    # Given a synced CRM series at a brokerage whose policy lets the later side win a conflict
    BrokerageSyncSettings.objects.create(brokerage_id=sim_mailbox.brokerage_id, conflict_policy="later_wins")
    crm = _crm_series(sim_mailbox, changed_occurrences=[MOVED])
    sync_once()
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    # When the CRM renames it and cancels an occurrence, and Exchange throttles the occurrence's DeleteItem
    # after the series itself was written
    crm.subject, crm.recurrence = "Team sync", {**crm.recurrence, "cancelled_occurrences": [CANCELLED]}
    crm.save()
    simulator.add_fault("server_busy", mailbox=sim_mailbox.email, operation=outlook.operation("delete_event"), count=1,
                        back_off_ms=10)
    with pytest.raises(Throttled):
        sync_once()
    assert outlook.items("calendar")[remote_id]["fields"]["subject"] == "Team sync"
    # And the mailbox syncs again
    sync_once()
    # Then the half-written series is ours, finished: the CRM keeps its cancellation, the mailbox gets it
    crm.refresh_from_db()
    assert (crm.subject, crm.recurrence["cancelled_occurrences"]) == ("Team sync", [CANCELLED])
    assert _mailbox_exceptions(outlook, remote_id)[0] == ["2027-03-22T08:00:00Z"]
    assert (sync_once().pulled, sync_once().pushed) == (0, 0)


def test_a_series_create_cut_off_before_its_exceptions_is_finished_not_copied_back(outlook, simulator, sim_mailbox, sync_once):
    import pytest

    from mailboxes.errors import Throttled
    from sync.models import BrokerageSyncSettings

    # Given a CRM series with a cancelled occurrence, whose first push Exchange throttles after the series
    BrokerageSyncSettings.objects.create(brokerage_id=sim_mailbox.brokerage_id, conflict_policy="later_wins")
    crm = _crm_series(sim_mailbox, cancelled_occurrences=[CANCELLED])
    simulator.add_fault("server_busy", mailbox=sim_mailbox.email, operation=outlook.operation("delete_event"), count=1,
                        back_off_ms=10)
    with pytest.raises(Throttled):
        sync_once()
    # When the mailbox syncs again
    sync_once()
    # Then the series in the mailbox is ours (one, linked) and carries the cancellation; the CRM kept it
    (remote_id,) = outlook.items("calendar")
    assert SyncLink.objects.get(local_id=crm.pk).remote_id == remote_id
    crm.refresh_from_db()
    assert crm.recurrence["cancelled_occurrences"] == [CANCELLED]
    assert _mailbox_exceptions(outlook, remote_id)[0] == ["2027-03-22T08:00:00Z"]
    assert (sync_once().pulled, sync_once().pushed) == (0, 0)


def test_an_event_the_window_skipped_is_imported_by_the_periodic_full_read_once_the_window_reaches_it(outlook,
        simulator, sim_mailbox, sync_once, settings):
    from sync.models import BrokerageSyncSettings, FolderState

    # Given an Outlook event 400 days ahead, beyond the brokerage's one-year window, skipped by the first sync
    # (within what either backend reads: Graph's calendarView spans two years ahead)
    settings_row = BrokerageSyncSettings.objects.create(brokerage_id=sim_mailbox.brokerage_id, calendar_future_days=365)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=400)
    outlook.create("calendar", {"subject": "Far", "start": start.isoformat(),
                                                          "end": (start + dt.timedelta(hours=1)).isoformat()})
    sync_once()
    assert not Event.objects.filter(mailbox=sim_mailbox).exists()
    # When time passes until the window reaches it (the window is widened to stand for that) and incremental
    # syncs run: the feed has nothing new, so it is still not imported
    settings_row.calendar_future_days = 500
    settings_row.save()
    sync_once()
    assert not Event.objects.filter(mailbox=sim_mailbox).exists()
    # When the calendar's periodic full read comes due
    settings.SYNC_CALENDAR_REREAD_DAYS = 14
    FolderState.objects.filter(mailbox=sim_mailbox, collection="calendar").update(
        last_full_sync_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=29))
    before = outlook.operation_count("read_calendar")
    sync_once()
    after = outlook.operation_count("read_calendar")
    # Then the event is imported, the read started the clock again, and the contacts were read incrementally
    assert list(Event.objects.filter(mailbox=sim_mailbox).values_list("subject", flat=True)) == ["Far"]
    state = FolderState.objects.get(mailbox=sim_mailbox, collection="calendar")
    assert dt.datetime.now(dt.UTC) - state.last_full_sync_at < dt.timedelta(minutes=1) and state.full_syncs == 0
    assert after - before >= 1
    # And the next sync is incremental and quiet again
    quiet_before = (outlook.requests(), outlook.operation_count("read_calendar"))
    sync_once()
    quiet_after = (outlook.requests(), outlook.operation_count("read_calendar"))
    assert (quiet_after[0] - quiet_before[0], quiet_after[1] - quiet_before[1]) == (
        2, 2 if outlook.operation("read_calendar") == outlook.operation("read_contacts") else 1)


def test_uninvited_attendees_stay_in_the_crm_through_edits_on_both_sides_and_nobody_is_mailed(
        outlook, simulator, sim_mailbox, sync_once):  # fmt: skip
    # Given a CRM viewing with an attendee, not to be announced, synced
    event = _crm_event(sim_mailbox, subject="Viewing", start=dt.datetime(2027, 1, 5, 10, tzinfo=AMSTERDAM),
                       end=dt.datetime(2027, 1, 5, 11, tzinfo=AMSTERDAM), time_zone="Europe/Amsterdam",
                       attendees=[{"email": "buyer@client.example", "name": "Buyer", "required": True}])
    sync_once()
    remote_id = SyncLink.objects.get(local_id=event.pk).remote_id
    # When the CRM renames it, syncs, then the agent moves it in Outlook, and it syncs twice more
    event.subject = "Second viewing"
    event.save()
    sync_once()
    outlook.update(remote_id, {"location": "Harbour St 1"})
    sync_once()
    last = sync_once()
    # Then both edits are on both sides, the CRM still holds its attendee, and no mail went to anyone; the mailbox
    # holds the attendee too where the backend can write one silently, and never where it cannot
    event.refresh_from_db()
    assert (event.subject, event.location) == ("Second viewing", "Harbour St 1")
    assert [a["email"] for a in event.attendees] == ["buyer@client.example"]
    fields = outlook.items("calendar")[remote_id]["fields"]
    assert fields["subject"] == "Second viewing"
    assert bool(fields.get("attendees")) is (outlook.backend == "ews")
    assert simulator.outbound(sim_mailbox.email) == []
    assert (last.pulled, last.pushed) == (0, 0)

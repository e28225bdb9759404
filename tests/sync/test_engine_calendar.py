"""The engine on calendars: both directions, recurring series with exceptions, all-day events across DST, the
sync window; against the simulator through the real gateway."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sync.models import Event, SyncLink

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")


def _calendar(simulator, mailbox):
    return {item["id"]: item for item in simulator.list_items(mailbox.email, "calendar")}


def _crm_event(mailbox, **fields):
    event = Event(mailbox=mailbox, **fields)
    event.save()
    return event


def test_an_event_created_in_outlook_appears_in_the_crm_in_its_own_zone(simulator, sim_mailbox, sync_once):
    # Given a meeting the agent put in Outlook in New York time
    simulator.user_create(sim_mailbox.email, "calendar", {
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


def test_an_event_created_in_the_crm_lands_in_the_calendar_without_sending_invitations(simulator, sim_mailbox, sync_once):
    # Given a viewing with an attendee created in the CRM
    event = _crm_event(sim_mailbox, subject="Viewing", start=dt.datetime(2027, 1, 5, 10, tzinfo=AMSTERDAM),
                       end=dt.datetime(2027, 1, 5, 11, tzinfo=AMSTERDAM), time_zone="Europe/Amsterdam",
                       attendees=[{"email": "buyer@client.example", "name": "Buyer", "required": True}])
    # When the mailbox syncs twice
    first, second = sync_once(), sync_once()
    # Then the calendar holds it once, tagged, in its zone; no invitation went out; nothing came back
    (item,) = _calendar(simulator, sim_mailbox).values()
    assert item["fields"]["subject"] == "Viewing" and item["fields"]["start"] == "2027-01-05T09:00:00Z"
    assert str(event.pk) in item["extended"].values()
    assert simulator.outbound(sim_mailbox.email) == []
    assert (first.pushed, second.pulled, second.pushed) == (1, 0, 0)


def test_a_recurring_series_with_exceptions_syncs_both_ways(simulator, sim_mailbox, sync_once):
    # Given a weekly open house in Outlook with one occurrence cancelled and one moved
    simulator.seed_events(sim_mailbox.email, [{
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
    stored = _calendar(simulator, sim_mailbox)[remote_id]["fields"]
    assert stored["recurrence"]["range"]["count"] == 4
    assert (second.pulled, second.pushed) == (0, 0)
    # When the agent cancels one occurrence of the CRM series in Outlook
    simulator.user_update(sim_mailbox.email, remote_id, {"deleted_occurrences": ["2027-02-22T08:00:00Z"]})
    sync_once()
    # Then the CRM series carries that exception
    crm.refresh_from_db()
    assert crm.recurrence["cancelled_occurrences"] == ["2027-02-22"] and crm.recurrence["count"] == 4


def test_an_all_day_event_across_the_dst_change_keeps_its_days(simulator, sim_mailbox, sync_once):
    # Given an all-day event in the CRM over the night Amsterdam moves its clocks forward (28 March 2027)
    crm = _crm_event(sim_mailbox, subject="Open days", all_day=True, time_zone="Europe/Amsterdam",
                     start=dt.datetime(2027, 3, 27, tzinfo=AMSTERDAM), end=dt.datetime(2027, 3, 29, tzinfo=AMSTERDAM))
    # When it syncs to the mailbox and back
    sync_once()
    second = sync_once()
    # Then the mailbox has it all-day over the same two days, and the round trip is no change
    remote_id = SyncLink.objects.get(local_id=crm.pk).remote_id
    fields = _calendar(simulator, sim_mailbox)[remote_id]["fields"]
    assert fields["is_all_day"] is True
    assert (second.pulled, second.pushed) == (0, 0)
    # When the agent moves it a day later in Outlook (across the change, in the event's zone)
    simulator.user_update(sim_mailbox.email, remote_id, {"start": "2027-03-27T23:00:00Z", "end": "2027-03-29T22:00:00Z"})
    sync_once()
    # Then the CRM event covers 28 and 29 March, midnight to midnight in Amsterdam
    crm.refresh_from_db()
    assert crm.start.astimezone(AMSTERDAM) == dt.datetime(2027, 3, 28, tzinfo=AMSTERDAM)
    assert crm.end.astimezone(AMSTERDAM) == dt.datetime(2027, 3, 30, tzinfo=AMSTERDAM)
    assert crm.all_day


def test_old_history_outside_the_sync_window_is_not_imported(simulator, sim_mailbox, sync_once):
    # Given one event three years ago and one next month in Outlook
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old, soon = now - dt.timedelta(days=3 * 365), now + dt.timedelta(days=30)
    for subject, start in (("Old", old), ("Soon", soon)):
        simulator.user_create(sim_mailbox.email, "calendar", {"subject": subject, "start": start.isoformat(),
                                                              "end": (start + dt.timedelta(hours=1)).isoformat()})
    # When the mailbox syncs
    sync_once()
    # Then only the event inside the window (90 days back, two years ahead) is in the CRM
    assert list(Event.objects.filter(mailbox=sim_mailbox).values_list("subject", flat=True)) == ["Soon"]

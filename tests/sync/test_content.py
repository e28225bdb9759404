"""Content hashing: what a round trip through the mailbox changes must not count as an edit; real edits must."""

import datetime as dt
import zoneinfo

import pytest

from sync.content import Content, diff
from sync.normalize import ContentError, canonical_zone

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def test_reordered_emails_case_and_phone_formatting_hash_the_same():
    # given a contact as the CRM holds it and as the mailbox returns it
    crm = Content.contact(
        given_name="Ann ", surname="Lee", emails=["Ann.Lee@Example.com", "ann@home.test"],
        phones={"mobile": "+1 (555) 010-0000", "home": "020 7946 0000"},
    )
    mailbox = Content.contact(
        given_name="Ann", surname="Lee", display_name="Ann Lee", emails=["ann@home.test", "ann.lee@example.com"],
        phones=[("home", "0207946-0000"), ("mobile", "+15550100000")],
    )
    # then the two are the same content
    assert crm == mailbox
    assert crm.hash == mailbox.hash
    assert diff(crm, mailbox) == frozenset()


def test_line_endings_and_trailing_spaces_in_notes_are_not_an_edit():
    assert Content.contact(notes="call back\r\nVIP  \r\n") == Content.contact(notes="call back\nVIP")


def test_a_custom_display_name_is_content():
    # given a display name that is not the one derived from the names
    plain = Content.contact(given_name="Ann", surname="Lee")
    custom = plain.replace(display_name="Dr. Ann Lee")
    # then it is a change of that field only
    assert diff(plain, custom) == {"display_name"}


def test_windows_zone_names_and_utc_instants_hash_like_the_iana_original():
    # given an event created in the CRM in Amsterdam time, and as Exchange returns it (UTC, Windows zone)
    crm = Content.event(
        subject="Viewing", start=dt.datetime(2026, 3, 30, 10, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam")),
        end=dt.datetime(2026, 3, 30, 11, 0, 0, 250_000, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam")),
        time_zone="Europe/Amsterdam", attendees=[{"email": "Buyer@Example.com", "name": "B", "required": True}],
    )
    exchange = Content.event(
        subject="Viewing", start=dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC),
        end=dt.datetime(2026, 3, 30, 9, 0, tzinfo=dt.UTC), time_zone="W. Europe Standard Time",
        attendees=[{"email": "buyer@example.com", "name": "Buyer, The", "required": True}],
    )
    # then the round trip is no change
    assert crm == exchange


def test_moving_an_event_by_an_hour_is_a_change_of_start_and_end():
    start = dt.datetime(2026, 11, 1, 9, 0, tzinfo=NEW_YORK)
    before = Content.event(subject="Open house", start=start, end=start + dt.timedelta(hours=1), time_zone="America/New_York")
    after = before.replace(start=start + dt.timedelta(hours=1), end=start + dt.timedelta(hours=2))
    assert diff(before, after) == {"start", "end"}


def test_all_day_event_across_a_dst_change_keeps_its_days():
    # given an all-day event over the night Berlin moves its clocks, as dates and as the server's midnights
    as_dates = Content.event(
        subject="Open house weekend", all_day=True, start=dt.date(2026, 3, 28), end=dt.date(2026, 3, 30),
        time_zone="Europe/Berlin",
    )
    as_midnights = Content.event(
        subject="Open house weekend", all_day=True, time_zone="W. Europe Standard Time",
        start=dt.datetime(2026, 3, 27, 23, 0, tzinfo=dt.UTC),  # 00:00 CET
        end=dt.datetime(2026, 3, 29, 22, 0, tzinfo=dt.UTC),  # 00:00 CEST, the clocks moved in between
    )
    # then both describe the same days
    assert as_dates == as_midnights
    assert as_dates.canonical["start"] == "2026-03-28"
    assert as_dates.canonical["end"] == "2026-03-30"


def test_recurrence_weekday_and_exception_order_carry_no_meaning():
    start = dt.datetime(2026, 5, 4, 9, 0, tzinfo=BERLIN)
    moved = {"original_start": start + dt.timedelta(days=7), "start": start + dt.timedelta(days=8),
             "end": start + dt.timedelta(days=8, hours=1)}
    common = {"subject": "Team", "start": start, "end": start + dt.timedelta(hours=1), "time_zone": "Europe/Berlin"}
    one = Content.event(**common, recurrence={
        "frequency": "weekly", "interval": 1, "weekdays": (1, 3), "start_date": dt.date(2026, 5, 4),
        "cancelled_occurrences": (dt.date(2026, 5, 20), dt.date(2026, 5, 6)), "changed_occurrences": (moved,),
    })
    other = Content.event(**common, recurrence={
        "frequency": "WEEKLY", "weekdays": [3, 1], "start_date": dt.date(2026, 5, 4),
        "cancelled_occurrences": [dt.date(2026, 5, 6), dt.date(2026, 5, 20)], "changed_occurrences": [moved],
    })
    assert one == other
    # and cancelling one more occurrence is a change of the recurrence
    assert diff(one, other.replace(recurrence={**other.values["recurrence"], "cancelled_occurrences": [dt.date(2026, 5, 6)]})) == {"recurrence"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"subject": "x", "start": dt.datetime(2026, 1, 1, 9), "end": dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)}, "naive"),
        ({"subject": "x", "time_zone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"subject": "x", "colour": "red"}, "unknown event fields"),
    ],
)
def test_content_that_cannot_be_compared_is_refused(values, message):
    with pytest.raises(ContentError, match=message):
        Content.event(**values)


def test_canonical_zone_maps_aliases_to_one_name():
    assert canonical_zone("Europe/Amsterdam") == canonical_zone("W. Europe Standard Time") == "Europe/Berlin"
    assert canonical_zone("US/Pacific") == "America/Los_Angeles"


def test_a_real_edit_changes_the_hash_and_names_the_field():
    before = Content.contact(given_name="Ann", emails=["ann@example.com"], company="ACME")
    after = before.replace(company="Globex")
    assert before != after
    assert diff(before, after) == {"company"}

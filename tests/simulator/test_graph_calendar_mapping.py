"""Graph event JSON <-> the store's event fields: recurrence patterns, time zones (Windows and IANA, over DST),
all-day events, attendees and extended properties, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from simulator.graph import event_fields, event_recurrence, extended
from simulator.graph.event_instances import in_window, of_item
from simulator.graph.event_times import output_zone, window
from simulator.graph.wire import GraphError, Prefer
from simulator.mailstore import MailStore

ADDRESS = "agent@brokerage.example"


def _rendering(zone_label: str = "UTC", expand: list[str] | None = None) -> event_fields.Rendering:
    return event_fields.Rendering(ADDRESS, "Agent One", zone_label, ZoneInfo("UTC") if zone_label == "UTC" else
                                  ZoneInfo(zone_label), "event-id", None, expand)


def _stored(body: dict, store: MailStore | None = None):
    store = store or MailStore()
    store.ensure_mailbox(ADDRESS, "Agent One")
    fields, _, extended = event_fields.from_graph(body)
    return store.create_item(ADDRESS, store.folder(ADDRESS, "calendar").id, "event", fields, extended)


def _event(start: str, end: str, zone: str, **more) -> dict:
    return {"subject": "Viewing", "start": {"dateTime": start, "timeZone": zone},
            "end": {"dateTime": end, "timeZone": zone}, **more}


PATTERNS = [
    {"type": "daily", "interval": 2},
    {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "monday"},
    {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
    {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["tuesday"], "index": "last"},
    {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 15, "month": 3},
    {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["friday"], "index": "second", "month": 3},
]
RANGES = [
    {"type": "endDate", "startDate": "2027-03-15", "endDate": "2029-12-31"},
    {"type": "noEnd", "startDate": "2027-03-15"},
    {"type": "numbered", "startDate": "2027-03-15", "numberOfOccurrences": 7},
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p["type"] for p in PATTERNS])
@pytest.mark.parametrize("rng", RANGES, ids=[r["type"] for r in RANGES])
def test_given_a_graph_recurrence_when_stored_and_rendered_then_pattern_and_range_come_back(pattern, rng):
    # given a series created through Graph with one of the six patterns and one of the three ranges
    item = _stored(_event("2027-03-15T09:00:00", "2027-03-15T10:00:00", "W. Europe Standard Time",
                          recurrence={"pattern": pattern, "range": rng}))

    # when it is rendered as the series master
    rendered = event_fields.to_graph(of_item(item), _rendering())["recurrence"]

    # then every given member comes back as given, and the rest as Graph writes it
    assert rendered["pattern"] == {**{"month": 0, "dayOfMonth": 0, "daysOfWeek": [], "firstDayOfWeek": "sunday",
                                      "index": "first"}, **pattern}
    assert rendered["range"]["type"] == rng["type"] and rendered["range"]["startDate"] == "2027-03-15"
    assert rendered["range"]["endDate"] == rng.get("endDate", "0001-01-01")
    assert rendered["range"]["numberOfOccurrences"] == rng.get("numberOfOccurrences", 0)
    assert rendered["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"


def test_given_capitalised_enums_as_in_the_docs_examples_then_they_are_accepted_and_answered_in_camel_case():
    # given the documented recurring create (user-post-events.md) spells the day "Monday"
    item = _stored(_event("2017-09-04T12:00:00", "2017-09-04T14:00:00", "Pacific Standard Time",
                          recurrence={"pattern": {"type": "Weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                                      "range": {"type": "EndDate", "startDate": "2017-09-04",
                                                "endDate": "2017-12-31"}},
                          attendees=[{"emailAddress": {"address": "AdeleV@contoso.onmicrosoft.com",
                                                       "name": "Adele Vance"}, "type": "Required"}]))

    # when rendered, then enums come back as Graph writes them
    rendered = event_fields.to_graph(of_item(item), _rendering())
    assert rendered["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert rendered["recurrence"]["range"]["type"] == "endDate"
    assert rendered["attendees"][0]["type"] == "required"
    assert rendered["type"] == "seriesMaster"


def test_given_a_weekly_series_in_berlin_over_the_dst_change_then_occurrences_keep_their_wall_clock_time():
    # given a weekly series at 09:00 Berlin time from 15 March 2027 (the clocks go forward on 28 March)
    item = _stored(_event("2027-03-15T09:00:00", "2027-03-15T10:00:00", "Europe/Berlin",
                          recurrence={"pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
                                      "range": {"type": "numbered", "startDate": "2027-03-15",
                                                "numberOfOccurrences": 4}}))

    # when the occurrences are shown in UTC and in Berlin time
    found = in_window([item], datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 5, 1, tzinfo=UTC))
    utc = [event_fields.to_graph(i, _rendering())["start"]["dateTime"] for i in found]
    berlin = [event_fields.to_graph(i, _rendering("Europe/Berlin"))["start"] for i in found]

    # then UTC moves by an hour after the change and the wall clock does not; the IANA zone is stored as Windows
    assert utc == ["2027-03-15T08:00:00.0000000", "2027-03-22T08:00:00.0000000", "2027-03-29T07:00:00.0000000",
                   "2027-04-05T07:00:00.0000000"]
    assert {b["dateTime"][11:] for b in berlin} == {"09:00:00.0000000"}
    assert {b["timeZone"] for b in berlin} == {"Europe/Berlin"}
    assert item.fields["start_tz"] == "W. Europe Standard Time"


def test_given_an_all_day_event_then_it_shows_midnight_to_midnight_in_any_zone_asked_for():
    # given an all-day event on 1 July 2026 in Pacific time
    item = _stored(_event("2026-07-01T00:00:00", "2026-07-02T00:00:00", "Pacific Standard Time", isAllDay=True))

    # when rendered in UTC and in Tokyo time, then it keeps its date, midnight to midnight
    for label in ("UTC", "Asia/Tokyo"):
        rendered = event_fields.to_graph(of_item(item), _rendering(label))
        assert rendered["isAllDay"] is True
        assert rendered["start"] == {"dateTime": "2026-07-01T00:00:00.0000000", "timeZone": label}
        assert rendered["end"] == {"dateTime": "2026-07-02T00:00:00.0000000", "timeZone": label}
    # and the store holds it as EWS does: midnight in its zone, as an instant
    assert (item.fields["start"], item.fields["is_all_day"]) == ("2026-07-01T07:00:00Z", True)


def test_given_an_all_day_event_not_at_midnight_then_400():
    with pytest.raises(GraphError) as refused:
        event_fields.from_graph(_event("2026-07-01T09:00:00", "2026-07-02T00:00:00", "UTC", isAllDay=True))
    assert refused.value.status == 400 and "midnight" in refused.value.message


def test_given_an_unknown_time_zone_then_400_time_zone_not_supported():
    with pytest.raises(GraphError) as refused:
        event_fields.from_graph(_event("2026-07-01T09:00:00", "2026-07-01T10:00:00", "Mars/Olympus_Mons"))
    assert (refused.value.status, refused.value.code) == (400, "TimeZoneNotSupportedException")


def test_given_prefer_outlook_timezone_then_the_zone_is_applied_and_an_unknown_one_falls_back_to_utc():
    # given the Windows and the IANA spelling, then both are applied and echoed
    for name in ("Pacific Standard Time", "America/Los_Angeles"):
        prefer = Prefer(time_zone=name)
        label, zone = output_zone(prefer)
        assert label == name and zone.key == "America/Los_Angeles"
        assert prefer.applied == [f'outlook.timezone="{name}"']
    # given a name nobody knows, then times are in UTC and nothing is echoed
    prefer = Prefer(time_zone="Nowhere Standard Time")
    assert output_zone(prefer)[0] == "UTC" and prefer.applied == []


def test_given_attendees_with_responses_then_they_map_both_ways():
    item = _stored(_event("2026-07-01T09:00:00", "2026-07-01T10:00:00", "UTC", attendees=[
        {"emailAddress": {"address": "ann@client.example", "name": "Ann"}, "type": "required",
         "status": {"response": "accepted"}},
        {"emailAddress": {"address": "room@brokerage.example"}, "type": "resource"},
        {"emailAddress": {"address": "bob@client.example", "name": "Bob"}, "type": "optional",
         "status": {"response": "tentativelyAccepted"}}]))
    assert [(a["type"], a["response"]) for a in item.fields["attendees"]] == [
        ("required", "Accept"), ("resource", "Unknown"), ("optional", "Tentative")]
    rendered = event_fields.to_graph(of_item(item), _rendering())["attendees"]
    assert [(a["emailAddress"]["address"], a["type"], a["status"]["response"]) for a in rendered] == [
        ("ann@client.example", "required", "accepted"), ("room@brokerage.example", "resource", "none"),
        ("bob@client.example", "optional", "tentativelyAccepted")]


def test_given_an_expand_filter_then_only_the_named_properties_are_rendered():
    item = _stored(_event("2026-07-01T09:00:00", "2026-07-01T10:00:00", "UTC", singleValueExtendedProperties=[
        {"id": "String {00020329-0000-0000-C000-000000000046} Name CrmId", "value": "crm-1"},
        {"id": "String {00020329-0000-0000-C000-000000000046} Name Other", "value": "x"}]))
    wanted = extended.expanded_keys(
        "singleValueExtendedProperties($filter=id eq 'String {00020329-0000-0000-C000-000000000046} Name CrmId')")
    rendered = event_fields.to_graph(of_item(item), _rendering(expand=wanted))
    assert rendered["singleValueExtendedProperties"] == [
        {"id": "String {00020329-0000-0000-c000-000000000046} Name CrmId", "value": "crm-1"}]
    assert "singleValueExtendedProperties" not in event_fields.to_graph(of_item(item), _rendering())


@pytest.mark.parametrize("bad", [
    {"pattern": {"type": "weekly"}, "range": {"type": "noEnd", "startDate": "2027-01-01"}},
    {"pattern": {"type": "absoluteMonthly"}, "range": {"type": "noEnd", "startDate": "2027-01-01"}},
    {"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2027-01-01"}},
    {"pattern": {"type": "daily"}, "range": {"type": "numbered", "startDate": "2027-01-01"}},
    {"pattern": {"type": "daily"}},
])
def test_given_an_incomplete_recurrence_then_400_names_what_is_wrong(bad):
    with pytest.raises(GraphError) as refused:
        event_recurrence.from_graph(bad, datetime(2027, 1, 1).date())
    assert refused.value.status == 400 and refused.value.message.startswith("Invalid recurrence:")


def test_given_a_window_without_offsets_then_it_is_utc_and_a_missing_bound_is_400():
    assert window({"startdatetime": "2016-12-01T00:00:00", "enddatetime": "2016-12-30T00:00:00Z"}) == (
        datetime(2016, 12, 1, tzinfo=UTC), datetime(2016, 12, 30, tzinfo=UTC))
    with pytest.raises(GraphError) as refused:
        window({"startDateTime": "2016-12-01T00:00:00"})
    assert (refused.value.code, refused.value.message) == (
        "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters "
                                 "StartDateTime and EndDateTime.")


def test_given_a_window_offset_whose_plus_arrived_decoded_as_a_space_then_it_is_still_the_offset():
    assert window({"startDateTime": "2017-01-01T19:00:00 01:00", "endDateTime": "2017-01-07T19:00:00-08:00"}) == (
        datetime(2017, 1, 1, 18, 0, tzinfo=UTC), datetime(2017, 1, 8, 3, 0, tzinfo=UTC))

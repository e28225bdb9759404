"""One occurrence of a series addressed by OccurrenceItemId (master id + InstanceIndex) in GetItem, UpdateItem and
DeleteItem, in strict mode: requests as exchangelib sends them, answers schema-valid and of the documented shape;
and the gateway's instance index (mailboxes.ews_occurrences) is the one the simulated mailbox expands."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailboxes.ews_occurrences import instance_index
from mailboxes.items import Recurrence, RecurrenceFrequency
from simulator.mailstore.recurrence import occurrences

from .ews_harness import MAILBOX, NS, assert_schema_valid, make_world

# Weekly on Monday at 9:00 Amsterdam from 15 March 2027, five times; the clocks go forward on 28 March, so the
# first two start at 08:00Z and the rest at 07:00Z.
SERIES = {"subject": "Team meeting", "start": "2027-03-15T08:00:00Z", "end": "2027-03-15T09:00:00Z",
          "start_tz": "W. Europe Standard Time", "end_tz": "W. Europe Standard Time",
          "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Monday"],
                                     "first_day_of_week": "Monday"},
                         "range": {"type": "numbered", "start_date": "2027-03-15", "count": 5}}}


def _series():
    sim = make_world(strict=True)
    (master,) = sim.world.mailstore.seed_events(MAILBOX, [SERIES])
    return sim, master


def _occurrence(master: str, index: int, change_key: str | None = None) -> str:
    key = f' ChangeKey="{change_key}"' if change_key else ""
    return f'<t:OccurrenceItemId RecurringMasterId="{master}"{key} InstanceIndex="{index}"/>'


def _get(sim, ids: str):
    _, payload = sim.call('<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>'
                          f'<m:ItemIds>{ids}</m:ItemIds></m:GetItem>')
    return assert_schema_valid(payload)


def _codes(body) -> list[str]:
    return [code.text for code in body.iterfind(".//m:ResponseCode", NS)]


def _move(master: str, index: int, start: str, end: str, *, change_key: str | None = None,
          resolution: str = "AutoResolve"):
    return (f'<m:UpdateItem ConflictResolution="{resolution}" MessageDisposition="SaveOnly" '
            'SendMeetingInvitationsOrCancellations="SendToNone" SuppressReadReceipts="true"><m:ItemChanges>'
            f'<t:ItemChange>{_occurrence(master, index, change_key)}<t:Updates>'
            f'<t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>{start}</t:Start>'
            '</t:CalendarItem></t:SetItemField>'
            f'<t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>{end}</t:End>'
            '</t:CalendarItem></t:SetItemField>'
            '</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>')


def _delete(ids: str) -> str:
    return ('<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone" '
            f'AffectedTaskOccurrences="AllOccurrences" SuppressReadReceipts="true"><m:ItemIds>{ids}</m:ItemIds>'
            '</m:DeleteItem>')


def test_get_item_by_instance_index_answers_the_occurrence_on_its_wall_clock_after_dst():
    # given a weekly series across the DST change
    sim, master = _series()
    # when its third occurrence (the first after the change) is fetched by index
    body = _get(sim, _occurrence(master, 3))
    # then the answer is that occurrence, with its own id, at 9:00 Amsterdam = 07:00Z
    (item,) = body.iterfind(".//t:CalendarItem", NS)
    assert _codes(body) == ["NoError"]
    assert item.findtext("t:CalendarItemType", namespaces=NS) == "Occurrence"
    assert item.findtext("t:OriginalStart", namespaces=NS) == "2027-03-29T07:00:00Z"
    assert item.findtext("t:Start", namespaces=NS) == "2027-03-29T07:00:00Z"
    assert item.find("t:ItemId", NS).get("Id") != master


def test_update_and_delete_by_instance_index_make_exceptions_of_the_series():
    # given a weekly series across the DST change
    sim, master = _series()
    # when its third occurrence is moved two hours later and its second is deleted, each by index, without a
    # change key and in one request each with another index, as the gateway sends them
    _, updated = sim.call(_move(master, 3, "2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z"))
    _, deleted = sim.call(_delete(_occurrence(master, 2) + _occurrence(master, 4)))
    # then both answers are schema-valid successes (UpdateItem naming the occurrence it changed)
    update_body, delete_body = assert_schema_valid(updated), assert_schema_valid(deleted)
    assert _codes(update_body) == ["NoError"] and _codes(delete_body) == ["NoError", "NoError"]
    assert update_body.find(".//t:ItemId", NS).get("Id") != master
    # and the store holds a moved occurrence and two deleted ones, keyed by their original starts
    fields = sim.world.mailstore.item(MAILBOX, master).fields
    assert fields["deleted_occurrences"] == ["2027-03-22T08:00:00Z", "2027-04-05T07:00:00Z"]
    moved = fields["modified_occurrences"]["2027-03-29T07:00:00Z"]
    assert (moved["start"], moved["end"]) == ("2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z")
    # and the master lists them as the documented DeletedOccurrences and ModifiedOccurrences
    (item,) = _get(sim, f'<t:ItemId Id="{master}"/>').iterfind(".//t:CalendarItem", NS)
    assert [o.findtext("t:Start", namespaces=NS) for o in item.iterfind("t:DeletedOccurrences/t:DeletedOccurrence", NS)
            ] == ["2027-03-22T08:00:00Z", "2027-04-05T07:00:00Z"]
    (exception,) = item.iterfind("t:ModifiedOccurrences/t:Occurrence", NS)
    assert (exception.findtext("t:OriginalStart", namespaces=NS), exception.findtext("t:Start", namespaces=NS)) == (
        "2027-03-29T07:00:00Z", "2027-03-29T09:00:00Z")


def test_an_index_deleted_or_beyond_the_series_answers_the_documented_errors():
    # given a series whose second occurrence was deleted
    sim, master = _series()
    sim.call(_delete(_occurrence(master, 2)))
    # when the deleted index, an index past the fifth and last, and the third are fetched in one request
    body = _get(sim, _occurrence(master, 2) + _occurrence(master, 6) + _occurrence(master, 3))
    # then each answers for itself: deleted from the recurrence, out of range, found
    assert _codes(body) == ["ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "NoError"]
    # and deleting the deleted occurrence again is refused the same way, leaving the series as it was
    again = assert_schema_valid(sim.call(_delete(_occurrence(master, 2)))[1])
    assert _codes(again) == ["ErrorCalendarOccurrenceIsDeletedFromRecurrence"]
    assert sim.world.mailstore.item(MAILBOX, master).fields["deleted_occurrences"] == ["2027-03-22T08:00:00Z"]


def test_a_stale_change_key_on_an_occurrence_is_a_conflict_under_never_overwrite():
    # given a series whose master changed after its change key was read
    sim, master = _series()
    stale = sim.world.mailstore.item(MAILBOX, master).change_key
    sim.call(_delete(_occurrence(master, 2)))
    # when an occurrence is moved with the stale key under NeverOverwrite
    body = assert_schema_valid(sim.call(_move(master, 3, "2027-03-29T09:00:00Z", "2027-03-29T10:00:00Z",
                                              change_key=stale, resolution="NeverOverwrite"))[1])
    # then it is refused as a conflict and the occurrence keeps its time
    assert _codes(body) == ["ErrorIrresolvableConflict"]
    assert not sim.world.mailstore.item(MAILBOX, master).fields.get("modified_occurrences")


@pytest.mark.parametrize(("recurrence", "pattern", "first"), [
    # every third day over the DST change
    (Recurrence(RecurrenceFrequency.DAILY, interval=3, start_date=date(2027, 3, 20), count=10),
     {"type": "daily", "interval": 3}, date(2027, 3, 20)),
    # every other week on Monday, Wednesday and Saturday, starting on a Wednesday, weeks from Monday
    (Recurrence(RecurrenceFrequency.WEEKLY, interval=2, weekdays=(1, 3, 6), start_date=date(2027, 3, 17),
                end_date=date(2027, 5, 30)),
     {"type": "weekly", "interval": 2, "days_of_week": ["Monday", "Wednesday", "Saturday"],
      "first_day_of_week": "Monday"}, date(2027, 3, 17)),
    # monthly on the 31st (short months take their last day)
    (Recurrence(RecurrenceFrequency.MONTHLY, start_date=date(2027, 1, 31), count=8),
     {"type": "absolute_monthly", "interval": 1, "day_of_month": 31}, date(2027, 1, 31)),
    # yearly on 29 February
    (Recurrence(RecurrenceFrequency.YEARLY, start_date=date(2028, 2, 29), count=4),
     {"type": "absolute_yearly", "day_of_month": 29, "month": 2}, date(2028, 2, 29)),
])
def test_the_gateways_instance_index_is_the_one_the_mailbox_expands(recurrence, pattern, first):
    # given a series as the gateway describes it and as the mailbox stores it (9:00 Amsterdam)
    amsterdam = ZoneInfo("Europe/Amsterdam")
    start = datetime.combine(first, time(9), tzinfo=amsterdam).astimezone(UTC)
    rng = {"type": "numbered", "count": recurrence.count} if recurrence.count else {
        "type": "end_date", "end_date": recurrence.end_date.isoformat()}
    fields = {"start": f"{start:%Y-%m-%dT%H:%M:%SZ}", "end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
              "start_tz": "W. Europe Standard Time",
              "recurrence": {"pattern": pattern, "range": {**rng, "start_date": first.isoformat()}}}
    # when every occurrence the mailbox expands is looked up by its local date
    expanded = occurrences(fields, start - timedelta(days=1), start + timedelta(days=366 * 5))
    # then the gateway finds each at the mailbox's index, and no index on a day without an occurrence
    assert len(expanded) == (recurrence.count or len(expanded)) and len(expanded) > 3
    for occurrence in expanded:
        assert instance_index(recurrence, occurrence.original_start.astimezone(amsterdam).date()) == occurrence.index
    occupied = {o.original_start.astimezone(amsterdam).date() for o in expanded}
    free = next(first + timedelta(days=n) for n in range(1, 400) if first + timedelta(days=n) not in occupied)
    assert instance_index(recurrence, free) is None
    assert instance_index(recurrence, expanded[-1].original_start.date() + timedelta(days=400)) is None

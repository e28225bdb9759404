"""One mailbox, two protocols: events written through EWS (the real exchangelib) are read through Graph with the
same content, and events written through Graph are read through EWS; ids and extended properties agree."""

from __future__ import annotations

import datetime

import pytest
from exchangelib import Attendee, CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, ExtendedProperty, Mailbox
from exchangelib.recurrence import Recurrence, WeeklyPattern

from simulator.graph.ids import rest_id

from .ews_exchangelib_support import exchange_account

UTC = EWSTimeZone("UTC")
BERLIN = EWSTimeZone("Europe/Berlin")
MAY_2027 = {"startDateTime": "2027-05-01T00:00:00Z", "endDateTime": "2027-06-01T00:00:00Z"}
CRM_GRAPH_ID = "String {c11ff724-aa03-4555-9952-8fa248a11c3e} Name CrmActivityId"


class CrmActivityId(ExtendedProperty):
    """The CRM's tag, the same MAPI named property whichever protocol writes it."""

    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "CrmActivityId"
    property_type = "String"


@pytest.fixture(scope="module", autouse=True)
def crm_tag():
    CalendarItem.register("crm_activity_id", CrmActivityId)
    yield
    CalendarItem.deregister("crm_activity_id")


def test_given_a_series_written_through_ews_then_graph_reads_the_same_master_occurrences_and_tag(sim_tenant, graph):
    tenant = sim_tenant()
    account = exchange_account(tenant)
    client, user = graph(tenant), f"/users/{tenant.mailboxes[0]}"

    # given a weekly Tuesday series at 10:00 Berlin time with an attendee and the CRM tag, made through EWS
    start = EWSDateTime(2027, 5, 4, 10, 0, tzinfo=BERLIN)
    series = CalendarItem(account=account, folder=account.calendar, subject="Valuation visits", start=start,
                          end=start + datetime.timedelta(hours=1), location="Oak St 12", body="Bring the keys",
                          required_attendees=[Attendee(mailbox=Mailbox(email_address="ann@client.example",
                                                                       name="Ann Lee"))],
                          crm_activity_id="activity-9",
                          recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[2]),
                                                start=EWSDate(2027, 5, 4), number=4))
    series.save(send_meeting_invitations="SendToNone")

    # when Graph reads the master (with the tag expanded) and the calendar view of May
    master = client.get(f"{user}/events/{rest_id(series.id)}", params={
        "$expand": f"singleValueExtendedProperties($filter=id eq '{CRM_GRAPH_ID}')"},
        headers={"Prefer": 'outlook.timezone="W. Europe Standard Time", outlook.body-content-type="text"'}).json()
    view = client.get(f"{user}/calendarView", params=MAY_2027).json()["value"]

    # then the content is the same: subject, place, body, attendee, zone, pattern, tag
    assert (master["type"], master["subject"], master["location"]["displayName"]) == (
        "seriesMaster", "Valuation visits", "Oak St 12")
    assert master["body"] == {"contentType": "text", "content": "Bring the keys"}
    assert master["start"] == {"dateTime": "2027-05-04T10:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    assert master["originalStartTimeZone"] == "W. Europe Standard Time"
    assert [(a["emailAddress"]["address"], a["status"]["response"]) for a in master["attendees"]] == [
        ("ann@client.example", "none")]
    assert master["recurrence"]["pattern"]["daysOfWeek"] == ["tuesday"]
    assert master["recurrence"]["range"]["numberOfOccurrences"] == 4
    assert master["singleValueExtendedProperties"] == [{"id": CRM_GRAPH_ID, "value": "activity-9"}]
    assert master["iCalUId"] == account.calendar.get(id=series.id).uid
    # and the view's occurrences carry the ids EWS gives the same occurrences
    ews_view = list(account.calendar.view(start=EWSDateTime(2027, 5, 1, tzinfo=UTC),
                                          end=EWSDateTime(2027, 6, 1, tzinfo=UTC)))
    assert [e["id"] for e in view] == [rest_id(o.id) for o in ews_view]
    assert {e["seriesMasterId"] for e in view} == {master["id"]}


def test_given_a_series_written_through_graph_then_ews_reads_the_same_series_exception_and_cancellation(
        sim_tenant, graph):
    tenant = sim_tenant()
    account = exchange_account(tenant)
    client, user = graph(tenant), f"/users/{tenant.mailboxes[0]}"

    # given a weekly series created through Graph with the CRM tag; one occurrence moved, one cancelled
    master = client.post(f"{user}/events", json={
        "subject": "Team huddle", "body": {"contentType": "text", "content": "Weekly numbers"},
        "start": {"dateTime": "2027-05-03T09:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2027-05-03T09:30:00", "timeZone": "Europe/Berlin"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                       "range": {"type": "numbered", "startDate": "2027-05-03", "numberOfOccurrences": 4}},
        "singleValueExtendedProperties": [{"id": CRM_GRAPH_ID, "value": "activity-10"}]}).json()
    occurrences = client.get(f"{user}/events/{master['id']}/instances", params=MAY_2027).json()["value"]
    client.patch(f"{user}/events/{occurrences[1]['id']}", json={
        "start": {"dateTime": "2027-05-10T11:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2027-05-10T11:30:00", "timeZone": "Europe/Berlin"}})
    client.delete(f"{user}/events/{occurrences[2]['id']}")

    # when EWS reads the master and the view
    stored = account.calendar.get(id=master["id"].replace("-", "+").replace("_", "/"))
    view = list(account.calendar.view(start=EWSDateTime(2027, 5, 1, tzinfo=UTC),
                                      end=EWSDateTime(2027, 6, 1, tzinfo=UTC)))

    # then EWS sees the same series: zone, body, tag, pattern, one exception and one deleted occurrence
    assert (stored.type, stored.subject, stored.text_body or stored.body) == ("RecurringMaster", "Team huddle",
                                                                             "Weekly numbers")
    assert stored._start_timezone == BERLIN and stored.crm_activity_id == "activity-10"
    assert stored.recurrence.boundary.number == 4
    assert len(stored.modified_occurrences) == 1 and len(stored.deleted_occurrences) == 1
    assert [(o.type, o.start.astimezone(BERLIN).strftime("%m-%d %H:%M")) for o in view] == [
        ("Occurrence", "05-03 09:00"), ("Exception", "05-10 11:00"), ("Occurrence", "05-24 09:00")]


def test_given_an_edit_through_ews_then_the_graph_delta_reports_it(sim_tenant, graph):
    tenant = sim_tenant()
    account = exchange_account(tenant)
    client, user = graph(tenant), f"/users/{tenant.mailboxes[0]}"
    event = client.post(f"{user}/events", json={
        "subject": "Signing", "start": {"dateTime": "2027-05-20T15:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2027-05-20T16:00:00", "timeZone": "UTC"}}).json()
    first = client.get(f"{user}/calendarView/delta", params=MAY_2027).json()
    assert [e["subject"] for e in first["value"]] == ["Signing"]

    # when the user renames it through EWS
    item = account.calendar.get(id=event["id"].replace("-", "+").replace("_", "/"))
    item.subject = "Signing (notary booked)"
    item.save(update_fields=["subject"])
    second = client.get(first["@odata.deltaLink"]).json()

    # then the Graph delta reports the new subject under the same id
    assert [(e["id"], e["subject"]) for e in second["value"]] == [(event["id"], "Signing (notary booked)")]
    # and after an EWS delete, the next round reports it removed
    item.delete(send_meeting_cancellations="SendToNone")
    third = client.get(second["@odata.deltaLink"]).json()
    assert third["value"] == [{"@odata.type": "#microsoft.graph.event", "id": event["id"],
                               "@removed": {"reason": "deleted"}}]

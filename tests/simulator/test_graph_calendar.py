"""Graph events over HTTPS with a real MSAL token (httpx): create, get, update, delete, series and their instances,
occurrences turned into exceptions or cancelled, time zones, extended properties, transactionId, permissions."""

from __future__ import annotations

import httpx
import pytest

from simulator.graph.ids import rest_id

PACIFIC = {"Prefer": 'outlook.timezone="Pacific Standard Time"'}
# The documented create (user-post-events.md, create_event_from_user), as Graph's docs send it.
LUNCH = {
    "subject": "Let's go for lunch", "body": {"contentType": "HTML", "content": "Does noon work for you?"},
    "start": {"dateTime": "2017-04-15T12:00:00", "timeZone": "Pacific Standard Time"},
    "end": {"dateTime": "2017-04-15T14:00:00", "timeZone": "Pacific Standard Time"},
    "location": {"displayName": "Harry's Bar"},
    "attendees": [{"emailAddress": {"address": "samanthab@contoso.onmicrosoft.com", "name": "Samantha Booth"},
                   "type": "required"}],
    "allowNewTimeProposals": True, "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7",
}
# Weekly on Monday at 12:00 Pacific, 2 to 30 April 2029 (the documented recurring create, moved to a later year).
SERIES = {
    "subject": "Pipeline review", "start": {"dateTime": "2029-04-02T12:00:00", "timeZone": "Pacific Standard Time"},
    "end": {"dateTime": "2029-04-02T13:00:00", "timeZone": "Pacific Standard Time"},
    "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                   "range": {"type": "endDate", "startDate": "2029-04-02", "endDate": "2029-04-30"}},
}
APRIL_2029 = {"startDateTime": "2029-04-01T00:00:00Z", "endDateTime": "2029-05-01T00:00:00Z"}


@pytest.fixture
def mailbox(sim_tenant, graph):
    tenant = sim_tenant()
    return graph(tenant), f"/users/{tenant.mailboxes[0]}", tenant


def _instances(client: httpx.Client, user: str, master_id: str) -> list[dict]:
    answer = client.get(f"{user}/events/{master_id}/instances", params=APRIL_2029)
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def test_given_the_documented_create_then_201_with_the_event_in_the_preferred_zone_and_get_answers_the_same(mailbox):
    client, user, _ = mailbox

    # when the documented request is sent with Prefer: outlook.timezone
    created = client.post(f"{user}/events", json=LUNCH, headers=PACIFIC)

    # then 201 with the event as Graph writes it, times in the preferred zone
    assert created.status_code == 201, created.text
    event = created.json()
    assert created.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'
    assert (event["type"], event["seriesMasterId"], event["isOrganizer"]) == ("singleInstance", None, True)
    assert event["start"] == {"dateTime": "2017-04-15T12:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert event["originalStartTimeZone"] == "Pacific Standard Time"
    assert event["transactionId"] == LUNCH["transactionId"]
    assert event["location"]["displayName"] == "Harry's Bar"
    assert event["body"] == {"contentType": "html", "content": "Does noon work for you?"}
    assert event["attendees"][0]["emailAddress"]["address"] == "samanthab@contoso.onmicrosoft.com"
    # and a GET without the preference answers the same event in UTC
    got = client.get(f"{user}/events/{event['id']}").json()
    assert got["start"] == {"dateTime": "2017-04-15T19:00:00.0000000", "timeZone": "UTC"}
    assert {k: v for k, v in got.items() if k not in ("start", "end", "@odata.context")} == \
        {k: v for k, v in event.items() if k not in ("start", "end", "@odata.context")}


def test_given_an_event_when_patched_then_200_with_the_change_and_a_new_change_key(mailbox):
    client, user, _ = mailbox
    event = client.post(f"{user}/events", json={**LUNCH, "transactionId": None}).json()

    # when the subject and the time move (docs: update returns the event)
    answer = client.patch(f"{user}/events/{event['id']}", json={
        "subject": "Brunch", "start": {"dateTime": "2017-04-15T11:00:00", "timeZone": "Pacific Standard Time"},
        "categories": ["Red category"]})

    # then the event has the change, the rest as before
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert (updated["subject"], updated["categories"]) == ("Brunch", ["Red category"])
    assert updated["start"]["dateTime"] == "2017-04-15T18:00:00.0000000"
    assert updated["end"] == event["end"] and updated["changeKey"] != event["changeKey"]


def test_given_an_event_when_deleted_then_204_it_is_gone_from_graph_and_in_deleted_items(mailbox, simulator):
    client, user, tenant = mailbox
    event = client.post(f"{user}/events", json={**LUNCH, "transactionId": None}).json()

    # when it is deleted
    answer = client.delete(f"{user}/events/{event['id']}")

    # then 204, a GET answers 404 ErrorItemNotFound, and it went to Deleted Items as in Outlook
    assert answer.status_code == 204 and answer.content == b""
    missing = client.get(f"{user}/events/{event['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    trash = simulator.list_items(tenant.mailboxes[0], "deleteditems")
    assert [item["fields"]["subject"] for item in trash] == [LUNCH["subject"]]


def test_given_a_series_then_the_master_carries_its_recurrence_and_instances_are_occurrences_of_it(mailbox):
    client, user, _ = mailbox

    # given a weekly series created through Graph
    master = client.post(f"{user}/events", json=SERIES).json()

    # when the master is read and its instances listed for April
    got = client.get(f"{user}/events/{master['id']}").json()
    instances = _instances(client, user, master["id"])

    # then the master is a seriesMaster with its patternedRecurrence
    assert got["type"] == "seriesMaster"
    assert got["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert got["recurrence"]["range"] == {"type": "endDate", "startDate": "2029-04-02", "endDate": "2029-04-30",
                                          "recurrenceTimeZone": "Pacific Standard Time", "numberOfOccurrences": 0}
    # and the five Mondays are occurrences pointing at it, at 12:00 Pacific (19:00 UTC in daylight time)
    assert [(i["type"], i["seriesMasterId"], i["recurrence"]) for i in instances] == [
        ("occurrence", master["id"], None)] * 5
    assert [i["start"]["dateTime"] for i in instances] == [
        f"2029-04-{day:02d}T19:00:00.0000000" for day in (2, 9, 16, 23, 30)]
    assert len({i["id"] for i in instances}) == 5 and master["id"] not in {i["id"] for i in instances}
    assert instances[1]["originalStart"] == "2029-04-09T19:00:00Z"


def test_given_an_occurrence_when_patched_then_it_becomes_an_exception_and_the_others_stay(mailbox):
    client, user, _ = mailbox
    master = client.post(f"{user}/events", json=SERIES).json()
    second = _instances(client, user, master["id"])[1]

    # when the second occurrence moves an hour later with its own subject
    answer = client.patch(f"{user}/events/{second['id']}", json={
        "subject": "Pipeline review (moved)",
        "start": {"dateTime": "2029-04-09T13:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2029-04-09T14:00:00", "timeZone": "Pacific Standard Time"}})

    # then it is an exception of the same series, with the same id, and only it changed
    assert answer.status_code == 200, answer.text
    exception = answer.json()
    assert (exception["type"], exception["id"], exception["seriesMasterId"]) == ("exception", second["id"],
                                                                                master["id"])
    instances = _instances(client, user, master["id"])
    assert [(i["type"], i["subject"], i["start"]["dateTime"][11:16]) for i in instances] == [
        ("occurrence", "Pipeline review", "19:00"), ("exception", "Pipeline review (moved)", "20:00"),
        ("occurrence", "Pipeline review", "19:00"), ("occurrence", "Pipeline review", "19:00"),
        ("occurrence", "Pipeline review", "19:00")]
    assert client.get(f"{user}/events/{master['id']}").json()["type"] == "seriesMaster"


def test_given_an_occurrence_when_deleted_then_it_is_cancelled_and_the_series_goes_on(mailbox):
    client, user, _ = mailbox
    master = client.post(f"{user}/events", json=SERIES).json()
    third = _instances(client, user, master["id"])[2]

    # when the third occurrence is deleted
    assert client.delete(f"{user}/events/{third['id']}").status_code == 204

    # then the series has four occurrences left and the cancelled one answers 404
    remaining = _instances(client, user, master["id"])
    assert [i["start"]["dateTime"][:10] for i in remaining] == ["2029-04-02", "2029-04-09", "2029-04-23",
                                                                "2029-04-30"]
    assert client.get(f"{user}/events/{third['id']}").status_code == 404
    assert client.get(f"{user}/events/{master['id']}").status_code == 200


def test_given_a_new_pattern_on_the_master_then_the_old_exceptions_and_cancellations_are_dropped(mailbox):
    client, user, _ = mailbox
    master = client.post(f"{user}/events", json=SERIES).json()
    occurrences = _instances(client, user, master["id"])
    client.delete(f"{user}/events/{occurrences[0]['id']}")
    client.patch(f"{user}/events/{occurrences[1]['id']}", json={"subject": "Special"})

    # when the series becomes daily for three days
    client.patch(f"{user}/events/{master['id']}", json={"recurrence": {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": "2029-04-02", "numberOfOccurrences": 3}}})

    # then it has exactly the new occurrences, none of them an exception
    assert [(i["type"], i["subject"], i["start"]["dateTime"][:10]) for i in _instances(client, user, master["id"])] \
        == [("occurrence", "Pipeline review", f"2029-04-0{day}") for day in (2, 3, 4)]


def test_given_an_all_day_event_then_it_is_midnight_to_midnight_in_the_preferred_zone(mailbox):
    client, user, _ = mailbox
    created = client.post(f"{user}/events", json={
        "subject": "Open house", "isAllDay": True,
        "start": {"dateTime": "2027-06-05T00:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2027-06-06T00:00:00", "timeZone": "W. Europe Standard Time"}}, headers=PACIFIC)
    assert created.status_code == 201, created.text
    assert (created.json()["isAllDay"], created.json()["start"], created.json()["end"]) == (
        True, {"dateTime": "2027-06-05T00:00:00.0000000", "timeZone": "Pacific Standard Time"},
        {"dateTime": "2027-06-06T00:00:00.0000000", "timeZone": "Pacific Standard Time"})


def test_given_extended_properties_then_they_are_kept_expanded_on_request_and_filterable(mailbox):
    client, user, _ = mailbox
    crm_id = "String {00020329-0000-0000-C000-000000000046} Name CrmActivityId"
    event = client.post(f"{user}/events", json={**LUNCH, "transactionId": None, "singleValueExtendedProperties": [
        {"id": crm_id, "value": "activity-42"}]}).json()
    client.post(f"{user}/events", json={**LUNCH, "transactionId": None, "subject": "Other"})

    # when the event is read with $expand of that property
    expanded = client.get(f"{user}/events/{event['id']}", params={
        "$expand": f"singleValueExtendedProperties($filter=id eq '{crm_id}')"}).json()
    # and the events are filtered by it
    found = client.get(f"{user}/events", params={
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{crm_id}' and ep/value eq 'activity-42')"})

    # then the property comes back (id as Graph writes it) and the filter finds only that event
    assert expanded["singleValueExtendedProperties"] == [
        {"id": "String {00020329-0000-0000-c000-000000000046} Name CrmActivityId", "value": "activity-42"}]
    assert "singleValueExtendedProperties" not in event
    assert [e["id"] for e in found.json()["value"]] == [event["id"]]


def test_given_a_transaction_id_when_the_create_is_sent_again_then_the_first_event_is_answered(mailbox):
    client, user, _ = mailbox
    first = client.post(f"{user}/events", json={**LUNCH, "transactionId": "crm-activity-7"})
    second = client.post(f"{user}/events", json={**LUNCH, "transactionId": "crm-activity-7"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["id"] == first.json()["id"]
    listed = client.get(f"{user}/events", params={"$filter": "transactionId eq 'crm-activity-7'"}).json()["value"]
    assert [e["id"] for e in listed] == [first.json()["id"]]


def test_given_a_create_that_times_out_after_commit_when_retried_with_its_transaction_id_then_one_event(
        mailbox, simulator):
    client, user, tenant = mailbox
    body = {**LUNCH, "transactionId": "crm-activity-retry"}
    simulator.add_fault("timeout_after_commit", mailbox=tenant.mailboxes[0], operation="create_event", count=1,
                        seconds=0.2)

    # when the create is committed but the client never hears back, and the client retries
    with pytest.raises(httpx.TransportError):
        client.post(f"{user}/events", json=body)
    retried = client.post(f"{user}/events", json=body)

    # then the retry answers the event the first attempt made, and the calendar holds one
    assert retried.status_code == 201
    calendar = simulator.list_items(tenant.mailboxes[0], "calendar")
    assert [item["fields"]["transaction_id"] for item in calendar] == ["crm-activity-retry"]
    assert retried.json()["id"] == rest_id(calendar[0]["id"])


def test_given_immutable_ids_preferred_then_events_and_occurrences_answer_immutable_ids_that_resolve(mailbox):
    client, user, _ = mailbox
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    master = client.post(f"{user}/events", json=SERIES, headers=immutable).json()
    instances = client.get(f"{user}/events/{master['id']}/instances", params=APRIL_2029, headers=immutable).json()
    assert {i["seriesMasterId"] for i in instances["value"]} == {master["id"]}
    occurrence = client.get(f"{user}/events/{instances['value'][0]['id']}", headers=immutable)
    assert occurrence.status_code == 200 and occurrence.json()["type"] == "occurrence"
    # and the default (REST) id of the same master works too
    rest = client.get(f"{user}/events/{master['id']}").json()["id"]
    assert rest != master["id"] and client.get(f"{user}/events/{rest}").json()["subject"] == SERIES["subject"]


def test_given_a_calendar_folder_id_then_its_events_are_served_under_calendars(mailbox, simulator):
    client, user, tenant = mailbox
    event = client.post(f"{user}/calendar/events", json={**LUNCH, "transactionId": None}).json()
    folder_id = rest_id(simulator.list_items(tenant.mailboxes[0], "calendar")[0]["folder_id"])
    listed = client.get(f"{user}/calendars/{folder_id}/events").json()["value"]
    assert [e["id"] for e in listed] == [event["id"]]
    assert client.get(f"{user}/calendars/{folder_id}/events/{event['id']}").status_code == 200


def test_given_events_beyond_a_page_then_the_list_pages_with_next_links(mailbox):
    client, user, _ = mailbox
    for n in range(5):
        client.post(f"{user}/events", json={**LUNCH, "transactionId": None, "subject": f"Viewing {n}"})
    subjects, url = [], f"{user}/events"
    while url:
        page = client.get(url, headers={"Prefer": "odata.maxpagesize=2"}).json()
        assert len(page["value"]) <= 2
        subjects += [e["subject"] for e in page["value"]]
        url = page.get("@odata.nextLink")
    assert subjects == [f"Viewing {n}" for n in range(5)]


@pytest.mark.parametrize("body,code", [
    ({"subject": "No times"}, "ErrorInvalidRequest"),
    ({**SERIES, "start": {"dateTime": "2029-04-02T12:00:00", "timeZone": "Mars Standard Time"}},
     "TimeZoneNotSupportedException"),
    ({**SERIES, "recurrence": {"pattern": {"type": "weekly"}, "range": {"type": "noEnd", "startDate": "2029-04-02"}}},
     "ErrorInvalidRequest"),
])
def test_given_a_bad_create_then_400_with_graph_error_body(mailbox, body, code):
    client, user, _ = mailbox
    answer = client.post(f"{user}/events", json=body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code


def test_given_unknown_or_malformed_ids_then_404_and_400(mailbox):
    client, user, _ = mailbox
    event = client.post(f"{user}/events", json={**LUNCH, "transactionId": None}).json()
    client.delete(f"{user}/events/{event['id']}")
    assert client.get(f"{user}/events/{event['id']}").json()["error"]["code"] == "ErrorItemNotFound"
    malformed = client.get(f"{user}/events/not!an!id")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "ErrorInvalidIdMalformed")


def test_given_an_app_without_a_calendar_role_then_403_access_denied(sim_tenant, graph):
    tenant = sim_tenant(graph_roles=("Contacts.ReadWrite",))
    answer = graph(tenant).get(f"/users/{tenant.mailboxes[0]}/events")
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "ErrorAccessDenied")


def test_given_a_meeting_when_created_updated_and_cancelled_then_attendees_get_request_update_and_cancellation(
        mailbox, simulator):
    client, user, tenant = mailbox

    # given a meeting created through Graph (Exchange sends the invitation, as for EWS)
    event = client.post(f"{user}/events", json={**LUNCH, "transactionId": None}).json()
    client.patch(f"{user}/events/{event['id']}", json={"subject": "Lunch at noon"})

    # when the organizer cancels it with a comment (event-cancel.md)
    answer = client.post(f"{user}/events/{event['id']}/cancel",
                         json={"Comment": "Cancelling for this week due to all hands"})

    # then 202; the attendee got the request, the update and the cancellation; the event is in Deleted Items
    assert answer.status_code == 202 and answer.content == b""
    mail = simulator.outbound(tenant.mailboxes[0])
    assert [(m["meeting"], m["subject"], [r["email"] for r in m["to"]]) for m in mail] == [
        ("request", LUNCH["subject"], ["samanthab@contoso.onmicrosoft.com"]),
        ("update", "Updated: Lunch at noon", ["samanthab@contoso.onmicrosoft.com"]),
        ("cancellation", "Canceled: Lunch at noon", ["samanthab@contoso.onmicrosoft.com"])]
    assert mail[2]["body"] == "Cancelling for this week due to all hands"
    assert client.get(f"{user}/events/{event['id']}").status_code == 404
    (trashed,) = simulator.list_items(tenant.mailboxes[0], "deleteditems")
    assert trashed["fields"]["is_cancelled"] is True


def test_given_an_occurrence_when_cancelled_then_only_it_leaves_the_series(mailbox):
    client, user, _ = mailbox
    master = client.post(f"{user}/events", json=SERIES).json()
    first = _instances(client, user, master["id"])[0]
    assert client.post(f"{user}/events/{first['id']}/cancel", json={}).status_code == 202
    assert [i["start"]["dateTime"][:10] for i in _instances(client, user, master["id"])] == [
        "2029-04-09", "2029-04-16", "2029-04-23", "2029-04-30"]


def test_given_events_then_top_and_ical_uid_filter_work_and_an_unknown_filter_is_400(mailbox):
    client, user, _ = mailbox
    made = [client.post(f"{user}/events", json={**LUNCH, "transactionId": None, "subject": f"Viewing {n}"}).json()
            for n in range(3)]
    top = client.get(f"{user}/events", params={"$top": "2"}).json()
    assert len(top["value"]) == 2 and "$skip=2" in top["@odata.nextLink"]
    by_uid = client.get(f"{user}/events", params={"$filter": f"iCalUId eq '{made[1]['iCalUId']}'"}).json()["value"]
    assert [e["subject"] for e in by_uid] == ["Viewing 1"]
    unknown = client.get(f"{user}/events", params={"$filter": "subject eq 'Viewing 1'"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "BadRequest"


def test_given_a_transaction_id_when_a_patch_changes_it_then_400_and_the_same_value_is_accepted(mailbox):
    client, user, _ = mailbox
    event = client.post(f"{user}/events", json={**LUNCH, "transactionId": "tx-fixed"}).json()
    changed = client.patch(f"{user}/events/{event['id']}", json={"transactionId": "tx-other"})
    same = client.patch(f"{user}/events/{event['id']}", json={"transactionId": "tx-fixed", "subject": "Same tx"})
    assert (changed.status_code, changed.json()["error"]["code"]) == (400, "ErrorInvalidRequest")
    assert same.status_code == 200 and same.json()["transactionId"] == "tx-fixed"


def test_given_an_occurrence_when_a_patch_names_the_recurrence_or_extended_properties_then_400(mailbox):
    client, user, _ = mailbox
    master = client.post(f"{user}/events", json=SERIES).json()
    first = _instances(client, user, master["id"])[0]
    for body in ({"recurrence": None}, {"singleValueExtendedProperties": [
            {"id": "String {00020329-0000-0000-C000-000000000046} Name CrmId", "value": "x"}]}):
        answer = client.patch(f"{user}/events/{first['id']}", json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "ErrorInvalidRequest")
    assert _instances(client, user, master["id"])[0]["type"] == "occurrence"


def test_given_an_attendees_copy_of_a_cancelled_meeting_then_graph_shows_it_cancelled_and_not_organized(
        mailbox, simulator):
    client, user, tenant = mailbox
    # given the organizer (someone else) cancelled, so the agent's copy stays in the calendar marked cancelled
    simulator.seed_events(tenant.mailboxes[0], [{
        "subject": "Canceled: Board meeting", "start": "2027-02-01T15:00:00Z", "end": "2027-02-01T16:00:00Z",
        "is_cancelled": True, "organizer": {"email": "chair@other.example", "name": "Chair"},
        "attendees": [{"email": tenant.mailboxes[0], "name": "Agent 1"}]}])

    [event] = client.get(f"{user}/events").json()["value"]

    assert (event["isCancelled"], event["isOrganizer"], event["showAs"]) == (True, False, "free")
    assert event["responseStatus"]["response"] == "none"
    assert event["organizer"]["emailAddress"] == {"name": "Chair", "address": "chair@other.example"}


def test_given_bodies_then_graph_answers_html_by_default_and_text_when_preferred(mailbox):
    client, user, _ = mailbox
    plain = client.post(f"{user}/events", json={**SERIES, "recurrence": None,
                                                "body": {"contentType": "text", "content": "Keys at 5 & 6\nGate B"}})
    rich = client.post(f"{user}/events", json={**LUNCH, "transactionId": None, "body": {
        "contentType": "html", "content": "<p>Does <b>noon</b> work &amp; suit you?</p>"}}, headers={
        "Prefer": 'outlook.body-content-type="text"'})

    # then a text body is answered as HTML without a preference, and an HTML one as text with it
    assert plain.json()["body"] == {"contentType": "html",
                                    "content": "<html><body>Keys at 5 &amp; 6<br>Gate B</body></html>"}
    assert rich.json()["body"] == {"contentType": "text", "content": "Does noon work & suit you?"}
    assert rich.headers["Preference-Applied"] == 'outlook.body-content-type="text"'
    assert plain.json()["bodyPreview"] == "Keys at 5 & 6 Gate B"


@pytest.mark.parametrize("body", [
    {**LUNCH, "attendees": "samanthab@contoso.onmicrosoft.com"},
    {**LUNCH, "attendees": [{"emailAddress": {"name": "No address"}}]},
    {**LUNCH, "attendees": [{"emailAddress": {"address": "a@b.example"}, "type": "chairperson"}]},
    {**LUNCH, "start": "2017-04-15T12:00:00"},
    {**LUNCH, "start": {"dateTime": "next tuesday", "timeZone": "UTC"}},
    {**LUNCH, "end": {"dateTime": "2017-04-15T11:00:00", "timeZone": "Pacific Standard Time"}},
    {**LUNCH, "recurrence": {"pattern": "weekly", "range": {}}},
    {**LUNCH, "recurrence": {"pattern": {"type": "absoluteYearly", "dayOfMonth": 31},
                             "range": {"type": "noEnd", "startDate": "2017-04-15"}}},
    {**LUNCH, "categories": "Red"},
    {**LUNCH, "body": "Does noon work?"},
    {**LUNCH, "body": {"contentType": "markdown", "content": "*noon*"}},
    {**LUNCH, "reminderMinutesBeforeStart": -5},
    {**LUNCH, "showAs": "sleeping"},
    {**LUNCH, "singleValueExtendedProperties": [{"id": "not a property id", "value": "x"}]},
    [LUNCH],
])
def test_given_a_malformed_create_then_400_never_a_server_error(mailbox, body):
    client, user, _ = mailbox
    answer = client.post(f"{user}/events", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] and answer.json()["error"]["message"]


@pytest.mark.parametrize("path,params", [
    ("/events", {"$top": "-1"}),
    ("/events", {"$skip": "many"}),
    ("/calendarView", {"startDateTime": "yesterday", "endDateTime": "2017-01-01T00:00:00Z"}),
    ("/calendarView", {"startDateTime": "2017-01-02T00:00:00Z", "endDateTime": "2017-01-01T00:00:00Z"}),
    ("/calendarView/delta", {"$deltatoken": "garbage"}),
    ("/events", {"$expand": "singleValueExtendedProperties($filter=id eq 'nonsense')"}),
])
def test_given_malformed_query_options_then_4xx_never_a_server_error(mailbox, path, params):
    client, user, _ = mailbox
    answer = client.get(f"{user}{path}", params=params)
    assert 400 <= answer.status_code < 500, answer.text


def test_given_a_batch_then_event_creates_with_transaction_ids_and_a_dependent_delta_run_in_order(mailbox):
    client, user, _ = mailbox
    window = "startDateTime=2029-04-01T00:00:00Z&endDateTime=2029-05-01T00:00:00Z"
    answer = client.post("/$batch", json={"requests": [
        {"id": "3", "method": "GET", "url": f"{user}/calendarView/delta?{window}", "dependsOn": ["1", "2"]},
        {"id": "1", "method": "POST", "url": f"{user}/events", "body": {**SERIES, "transactionId": "batch-1"},
         "headers": {"Content-Type": "application/json"}},
        {"id": "2", "method": "POST", "url": f"{user}/events", "body": {**SERIES, "transactionId": "batch-1"},
         "headers": {"Content-Type": "application/json"}, "dependsOn": ["1"]},
    ]})
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert (by_id["1"]["status"], by_id["2"]["status"], by_id["3"]["status"]) == (201, 201, 200)
    assert by_id["2"]["body"]["id"] == by_id["1"]["body"]["id"]  # the retried create answered the first event
    assert [e["type"] for e in by_id["3"]["body"]["value"]] == ["occurrence"] * 5

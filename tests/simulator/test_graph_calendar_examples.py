"""Microsoft's documented calendar examples (simulator/graph/openapi/examples) replayed in strict mode: each request
is accepted and answered with the documented status, a schema-valid body and every documented property."""

from __future__ import annotations

import pytest

from .graph_examples import assert_documented_shape, example, replay

# "Review strategy for Q3", weekly on Monday at 20:30 UTC, as event-list-instances.md shows it.
REVIEW_SERIES = {
    "subject": "Review strategy for Q3", "start": {"dateTime": "2019-04-08T20:30:00", "timeZone": "UTC"},
    "end": {"dateTime": "2019-04-08T21:00:00", "timeZone": "UTC"},
    "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                   "range": {"type": "noEnd", "startDate": "2019-04-08"}}}


@pytest.fixture
def mailbox(sim_tenant, graph):
    tenant = sim_tenant()
    return graph(tenant), tenant.mailboxes[0]


@pytest.mark.parametrize("index", range(4), ids=["single", "locations", "recurring", "online-meeting"])
def test_given_each_documented_create_when_replayed_then_201_of_the_documented_shape(mailbox, index):
    client, user = mailbox
    exchange = example("user-post-events")[index]
    answer = replay(client, exchange, user)
    assert_documented_shape(exchange, answer)
    assert answer.json()["subject"] == exchange.body["subject"]


def test_given_the_documented_gets_when_replayed_then_the_selected_members_come_back(mailbox):
    client, user = mailbox
    created = client.post(f"/users/{user}/events", json=example("user-post-events")[1].body).json()
    for exchange in example("event-get"):
        documented_id = exchange.path.split("/events/")[1].split("?")[0]
        answer = replay(client, exchange, user, {documented_id: created["id"]})
        assert_documented_shape(exchange, answer)
        assert "isAllDay" not in answer.json()  # not selected
    listing = example("user-list-events")[0]
    assert_documented_shape(listing, replay(client, listing, user))


def test_given_the_documented_update_cancel_and_delete_when_replayed_then_200_202_and_204(mailbox):
    client, user = mailbox
    event_id = client.post(f"/users/{user}/events", json=example("user-post-events")[0].body).json()["id"]
    [update] = example("event-update")
    updated = replay(client, update, user, {"{id}": event_id})
    assert_documented_shape(update, updated)
    assert updated.json()["categories"] == ["Red category"] and updated.json()["reminderMinutesBeforeStart"] == 99
    [cancel] = example("event-cancel")
    assert_documented_shape(cancel, replay(client, cancel, user, {"{id}": event_id}))
    other = client.post(f"/users/{user}/events", json=example("user-post-events")[1].body).json()["id"]
    [delete] = example("event-delete")
    assert_documented_shape(delete, replay(client, delete, user, {"{id}": other}))


def test_given_the_documented_instances_request_when_replayed_then_the_mondays_of_the_window(mailbox):
    client, user = mailbox
    master = client.post(f"/users/{user}/events", json=REVIEW_SERIES).json()
    [exchange] = example("event-list-instances")
    answer = replay(client, exchange, user, {"AAMkAGUzYRgWAAA=": master["id"]})
    assert_documented_shape(exchange, answer)
    assert [i["start"]["dateTime"] for i in answer.json()["value"]] == [
        "2019-04-08T20:30:00.0000000", "2019-04-15T20:30:00.0000000", "2019-04-22T20:30:00.0000000",
        "2019-04-29T20:30:00.0000000"]


def test_given_the_documented_calendar_views_and_delta_when_replayed_then_they_answer_the_documented_shape(mailbox):
    client, user = mailbox
    for start in ("2020-01-02T10:00:00", "2017-01-03T10:00:00"):
        client.post(f"/users/{user}/events", json={"subject": "Showing", "start": {"dateTime": start, "timeZone": "UTC"},
                                                   "end": {"dateTime": start[:11] + "11:00:00", "timeZone": "UTC"}})
    for page in ("user-list-calendarview", "calendar-list-calendarview"):
        [exchange] = example(page)
        answer = replay(client, exchange, user)
        assert_documented_shape(exchange, answer)
        assert [e["subject"] for e in answer.json()["value"]] == ["Showing"]
    [delta] = example("event-delta")
    answer = replay(client, delta, user, {"{start_datetime}": "2016-12-01T00:00:00Z",
                                          "{end_datetime}": "2021-01-01T00:00:00Z"})
    assert_documented_shape(delta, answer)
    assert len(answer.json()["value"]) == 2

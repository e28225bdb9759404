"""calendarView delta over HTTPS: the window fixed in the token, paging to the deltaLink, a no-change round,
occurrences and exceptions (never masters), and @removed for what left the window (deleted, cancelled, moved)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulator.graph.calendar_delta import KEEP_PER_MAILBOX

WINDOW = {"startDateTime": "2028-05-01T00:00:00Z", "endDateTime": "2028-06-01T00:00:00Z"}
PAGE_OF_2 = {"Prefer": "odata.maxpagesize=2"}


def _single(subject: str, day: int, month: int = 5) -> dict:
    return {"subject": subject, "start": {"dateTime": f"2028-{month:02d}-{day:02d}T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"2028-{month:02d}-{day:02d}T11:00:00", "timeZone": "UTC"}}


# Daily at 09:00 Eastern for three days from 8 May 2028.
SERIES = {"subject": "Open houses", "start": {"dateTime": "2028-05-08T09:00:00", "timeZone": "America/New_York"},
          "end": {"dateTime": "2028-05-08T10:00:00", "timeZone": "America/New_York"},
          "recurrence": {"pattern": {"type": "daily", "interval": 1},
                         "range": {"type": "numbered", "startDate": "2028-05-08", "numberOfOccurrences": 3}}}


@pytest.fixture
def mailbox(sim_tenant, graph):
    tenant = sim_tenant()
    return graph(tenant), f"/users/{tenant.mailboxes[0]}", tenant


def _round(client: httpx.Client, url: str, params: dict | None = None, headers: dict | None = None
           ) -> tuple[list[dict], str, int]:
    """Follow nextLinks to the deltaLink; return every entry, the deltaLink and the number of pages."""
    entries, pages = [], 0
    while True:
        answer = client.get(url, params=params, headers=headers or {})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages += 1
        assert ("@odata.nextLink" in page) != ("@odata.deltaLink" in page)  # a page never has both
        entries += page["value"]
        if "@odata.deltaLink" in page:
            return entries, page["@odata.deltaLink"], pages
        url, params = page["@odata.nextLink"], None


def _seed(client: httpx.Client, user: str) -> dict[str, dict]:
    made = {name: client.post(f"{user}/events", json=_single(name, day)).json()
            for name, day in (("Listing", 3), ("Closing", 12), ("Appraisal", 20))}
    made["Outside"] = client.post(f"{user}/events", json=_single("Outside", 3, month=7)).json()
    made["Series"] = client.post(f"{user}/events", json=SERIES).json()
    return made


def test_given_a_window_when_a_round_pages_to_its_delta_link_then_singles_and_occurrences_but_no_master(mailbox):
    client, user, _ = mailbox
    made = _seed(client, user)

    # when the first round is read two at a time
    entries, delta_link, pages = _round(client, f"{user}/calendarView/delta", WINDOW, PAGE_OF_2)

    # then it holds the three singles in the window and the three occurrences, by start; not the master, not July
    assert pages == 3
    assert [(e["subject"], e["type"]) for e in entries] == [
        ("Listing", "singleInstance"), ("Open houses", "occurrence"), ("Open houses", "occurrence"),
        ("Open houses", "occurrence"), ("Closing", "singleInstance"), ("Appraisal", "singleInstance")]
    assert {e["seriesMasterId"] for e in entries if e["type"] == "occurrence"} == {made["Series"]["id"]}
    assert made["Series"]["id"] not in {e["id"] for e in entries}
    assert [e["start"]["dateTime"] for e in entries if e["type"] == "occurrence"] == [
        f"2028-05-{day:02d}T13:00:00.0000000" for day in (8, 9, 10)]
    assert all(e["@odata.type"] == "#microsoft.graph.event" for e in entries)
    # and the deltaLink needs no dates: they are in the token
    assert "$deltatoken=" in delta_link and "startDateTime" not in delta_link


def test_given_no_change_when_the_delta_link_is_followed_then_no_items_and_a_delta_link_again(mailbox):
    client, user, _ = mailbox
    _seed(client, user)
    _, delta_link, _ = _round(client, f"{user}/calendarView/delta", WINDOW)

    entries, again, pages = _round(client, delta_link)

    assert (entries, pages) == ([], 1)
    assert _round(client, again)[0] == []


def test_given_changes_when_the_next_round_runs_then_changed_new_and_removed_instances_are_reported(mailbox):
    client, user, _ = mailbox
    made = _seed(client, user)
    first, delta_link, _ = _round(client, f"{user}/calendarView/delta", WINDOW)
    occurrences = [e for e in first if e["type"] == "occurrence"]

    # when one event changes, one is deleted, one moves out of the window, one occurrence is cancelled,
    # another becomes an exception, and a new event appears
    client.patch(f"{user}/events/{made['Listing']['id']}", json={"subject": "Listing (new price)"})
    client.delete(f"{user}/events/{made['Closing']['id']}")
    client.patch(f"{user}/events/{made['Appraisal']['id']}", json={
        "start": {"dateTime": "2028-08-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2028-08-01T11:00:00", "timeZone": "UTC"}})
    client.delete(f"{user}/events/{occurrences[0]['id']}")
    client.patch(f"{user}/events/{occurrences[1]['id']}", json={"subject": "Open house (agent away)"})
    new = client.post(f"{user}/events", json=_single("Inspection", 25)).json()
    entries, _, _ = _round(client, delta_link)

    # then the changed, new and exception instances come whole, the gone ones as @removed
    current = {e["id"]: e for e in entries if "@removed" not in e}
    removed = {e["id"] for e in entries if "@removed" in e}
    assert current[made["Listing"]["id"]]["subject"] == "Listing (new price)"
    assert current[new["id"]]["subject"] == "Inspection"
    assert current[occurrences[1]["id"]]["type"] == "exception"
    assert removed == {made["Closing"]["id"], made["Appraisal"]["id"], occurrences[0]["id"]}
    assert all(e["@removed"] == {"reason": "deleted"} for e in entries if "@removed" in e)
    assert made["Series"]["id"] not in current


def test_given_a_delta_link_when_other_dates_are_sent_with_it_then_the_window_of_the_token_still_applies(mailbox):
    client, user, _ = mailbox
    _seed(client, user)
    _, delta_link, _ = _round(client, f"{user}/calendarView/delta", WINDOW)
    client.post(f"{user}/events", json=_single("July viewing", 10, month=7))

    # when the deltaLink is followed with July's dates added, then nothing outside May is reported
    answer = client.get(f"{delta_link}&startDateTime=2028-07-01T00:00:00Z&endDateTime=2028-08-01T00:00:00Z")
    assert answer.status_code == 200 and answer.json()["value"] == []


def test_given_a_skip_token_when_the_same_page_is_asked_again_then_it_answers_the_same_entries(mailbox):
    client, user, _ = mailbox
    _seed(client, user)
    first = client.get(f"{user}/calendarView/delta", params=WINDOW, headers=PAGE_OF_2).json()
    next_link = first["@odata.nextLink"]
    once = client.get(next_link, headers=PAGE_OF_2).json()
    twice = client.get(next_link, headers=PAGE_OF_2).json()
    assert [e["id"] for e in once["value"]] == [e["id"] for e in twice["value"]]
    assert len(once["value"]) == 2


def test_given_expired_tokens_then_the_delta_link_answers_410_sync_state_not_found(mailbox, simulator):
    client, user, tenant = mailbox
    _seed(client, user)
    _, delta_link, _ = _round(client, f"{user}/calendarView/delta", WINDOW)
    simulator.expire_delta_tokens(tenant.mailboxes[0])
    answer = client.get(delta_link)
    assert (answer.status_code, answer.json()["error"]["code"]) == (410, "SyncStateNotFound")


def test_given_prefer_timezone_and_immutable_ids_then_delta_entries_follow_them(mailbox):
    client, user, _ = mailbox
    immutable = client.post(f"{user}/events", json=SERIES, headers={"Prefer": 'IdType="ImmutableId"'}).json()
    entries, _, _ = _round(client, f"{user}/calendarView/delta", WINDOW, {
        "Prefer": 'outlook.timezone="Eastern Standard Time", IdType="ImmutableId"'})
    assert {e["seriesMasterId"] for e in entries} == {immutable["id"]}
    assert {e["start"]["dateTime"][11:] for e in entries} == {"09:00:00.0000000"}
    assert {e["start"]["timeZone"] for e in entries} == {"Eastern Standard Time"}


def test_given_a_calendar_folder_id_then_its_view_has_a_delta_too(mailbox, simulator):
    client, user, tenant = mailbox
    _seed(client, user)
    folder = simulator.list_items(tenant.mailboxes[0], "calendar")[0]["folder_id"].replace("+", "-").replace("/", "_")
    entries, delta_link, _ = _round(client, f"{user}/calendars/{folder}/calendarView/delta", WINDOW)
    assert len(entries) == 6 and f"/calendars/{folder}/calendarView/delta" in urlsplit(delta_link).path


def test_given_a_first_call_without_a_window_then_400_invalid_parameter(mailbox):
    client, user, _ = mailbox
    answer = client.get(f"{user}/calendarView/delta")
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "ErrorInvalidParameter")


def test_given_the_documented_lower_case_parameters_then_the_window_is_read(mailbox):
    client, user, _ = mailbox
    _seed(client, user)
    answer = client.get(f"{user}/calendarView/delta?startdatetime=2028-05-01T00:00:00Z"
                        f"&enddatetime=2028-05-05T00:00:00Z")
    assert [e["subject"] for e in answer.json()["value"]] == ["Listing"]
    assert parse_qs(urlsplit(answer.json()["@odata.deltaLink"]).query).keys() == {"$deltatoken"}


def test_given_one_occurrence_changed_then_the_next_round_reports_it_and_not_its_siblings(mailbox):
    client, user, _ = mailbox
    _seed(client, user)
    first, delta_link, _ = _round(client, f"{user}/calendarView/delta", WINDOW)
    occurrences = [e for e in first if e["type"] == "occurrence"]

    client.patch(f"{user}/events/{occurrences[2]['id']}", json={"location": {"displayName": "Elm St 3"}})
    entries, delta_link, _ = _round(client, delta_link)
    assert [(e["id"], e["type"], e["location"]["displayName"]) for e in entries] == [
        (occurrences[2]["id"], "exception", "Elm St 3")]

    # and a change to the series itself reaches every occurrence
    client.patch(f"{user}/events/{occurrences[0]['seriesMasterId']}", json={"subject": "Open houses (spring)"})
    entries, _, _ = _round(client, delta_link)
    assert sorted(e["id"] for e in entries) == sorted(e["id"] for e in occurrences)
    assert {e["subject"] for e in entries} == {"Open houses (spring)"}


def test_given_a_delta_link_older_than_the_kept_rounds_when_there_are_changes_then_410(mailbox):
    client, user, _ = mailbox
    made = _seed(client, user)
    _, oldest, _ = _round(client, f"{user}/calendarView/delta", WINDOW)
    latest = oldest
    for n in range(KEEP_PER_MAILBOX):  # each round with a change makes a new snapshot; the oldest is dropped
        client.patch(f"{user}/events/{made['Listing']['id']}", json={"subject": f"Listing v{n}"})
        _, latest, _ = _round(client, latest)
    answer = client.get(oldest)
    assert (answer.status_code, answer.json()["error"]["code"]) == (410, "SyncStateNotFound")
    assert [e["subject"] for e in _round(client, latest)[0]] == []


def test_given_a_series_deleted_then_the_next_round_removes_each_of_its_occurrences(mailbox):
    client, user, _ = mailbox
    made = _seed(client, user)
    first, delta_link, _ = _round(client, f"{user}/calendarView/delta", WINDOW)
    client.delete(f"{user}/events/{made['Series']['id']}")
    entries, _, _ = _round(client, delta_link)
    assert sorted(e["id"] for e in entries) == sorted(e["id"] for e in first if e["type"] == "occurrence")
    assert all(e["@removed"] == {"reason": "deleted"} for e in entries)


def test_given_immutable_ids_then_removed_entries_name_what_the_client_was_given(mailbox):
    client, user, _ = mailbox
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    made = _seed(client, user)
    first, delta_link, _ = _round(client, f"{user}/calendarView/delta", WINDOW, immutable)
    occurrence = next(e for e in first if e["type"] == "occurrence")
    single = next(e for e in first if e["subject"] == "Closing")
    client.delete(f"{user}/events/{occurrence['id']}", headers=immutable)
    client.delete(f"{user}/events/{made['Closing']['id']}")
    entries, _, _ = _round(client, delta_link, headers=immutable)
    assert sorted(e["id"] for e in entries) == sorted([occurrence["id"], single["id"]])
    assert single["id"] != made["Closing"]["id"]  # the immutable form, not the REST id the create answered

"""The protocol-neutral mail store: seeding speed, change keys, sync states, persistence, recurrence."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from simulator.mailstore import InvalidSyncState, MailStore
from simulator.mailstore.recurrence import occurrences

ADDRESS = "agent@brokerage.example"


@pytest.fixture
def store() -> MailStore:
    store = MailStore()
    store.ensure_mailbox(ADDRESS, "Agent One")
    return store


def contacts_folder(store: MailStore) -> str:
    return store.folder(ADDRESS, "contacts").id


def test_seeding_five_thousand_contacts_stores_each_with_its_computed_fields(store):
    # given 5,000 contacts with the fields Outlook shows
    records = [{"given_name": f"G{n}", "surname": "Seed", "emails": [f"g{n}@client.example"],
                "phones": {"mobile": "+1 555 0100"}, "addresses": {"home": {"city": "Springfield"}}}
               for n in range(5000)]

    # when they are seeded (how fast is bench/simulator_bench.py's business, not a test's)
    ids = store.seed_contacts(ADDRESS, records)

    # then all are stored, with display names Exchange would compute
    assert len(set(ids)) == 5000
    assert store.item(ADDRESS, ids[42]).fields["display_name"] == "G42 Seed"
    assert store.item(ADDRESS, ids[42]).fields["email1"] == "g42@client.example"


def test_every_change_gives_a_new_change_key(store):
    # given a contact
    (item_id,) = store.seed_contacts(ADDRESS, [{"given_name": "Ann"}])
    keys = [store.item(ADDRESS, item_id).change_key]

    # when it changes twice
    for title in ("Buyer", "Seller"):
        keys.append(store.user_update(ADDRESS, item_id, {"job_title": title}))

    # then each version has its own change key
    assert len(set(keys)) == 3


def test_sync_pages_net_changes_and_skips_items_born_and_gone_in_between(store):
    # given a folder with three contacts, fully synced
    folder = contacts_folder(store)
    a, b, c = store.seed_contacts(ADDRESS, [{"given_name": n} for n in "ABC"])
    first, state, last = store.changes(ADDRESS, folder, None, 2)
    assert [ch.kind for ch in first] == ["Create", "Create"] and not last
    rest, state, last = store.changes(ADDRESS, folder, state, 2)
    assert [ch.item_id for ch in rest] == [c] and last

    # when one is edited twice, one deleted, and one created then deleted before the next sync
    store.user_update(ADDRESS, a, {"job_title": "x"})
    store.user_update(ADDRESS, a, {"job_title": "y"})
    store.user_delete(ADDRESS, b)
    (ghost,) = store.seed_contacts(ADDRESS, [{"given_name": "Ghost"}])
    store.user_delete(ADDRESS, ghost)
    changes, state, last = store.changes(ADDRESS, folder, state, 100)

    # then the client hears one update and one delete, nothing of the ghost, and then nothing more
    assert [(ch.kind, ch.item_id) for ch in changes] == [("Update", a), ("Delete", b)]
    assert store.changes(ADDRESS, folder, state, 100)[0] == []


@pytest.mark.parametrize("state", ["not base64!", "QUFBQQ==", "RVNTMQAAAAAAAAAFAAAAAA=="])
def test_garbled_sync_states_are_refused(store, state):
    with pytest.raises(InvalidSyncState):
        store.changes(ADDRESS, contacts_folder(store), state, 10)


def test_a_sync_state_of_another_folder_is_refused(store):
    # given a state issued for the calendar
    calendar = store.folder(ADDRESS, "calendar").id
    _, state, _ = store.changes(ADDRESS, calendar, None, 10)

    # when it is used for contacts, then it is refused
    with pytest.raises(InvalidSyncState):
        store.changes(ADDRESS, contacts_folder(store), state, 10)


def test_json_round_trip_keeps_ids_change_keys_sync_states_and_the_outbound_log(store):
    # given a mailbox with a contact, a sync state and a sent message
    (item_id,) = store.seed_contacts(ADDRESS, [{"given_name": "Ann"}])
    _, state, _ = store.changes(ADDRESS, contacts_folder(store), None, 10)
    store.record_sent(ADDRESS, {"subject": "Hi", "to": [{"email": "a@client.example", "name": "A"}]}, {})

    # when the store is written to JSON and read back
    restored = MailStore.from_json(json.loads(json.dumps(store.to_json())))

    # then the item, its change key, the sync state and the log survive
    assert restored.item(ADDRESS, item_id).change_key == store.item(ADDRESS, item_id).change_key
    assert restored.changes(ADDRESS, contacts_folder(restored), state, 10)[0] == []
    assert [m["subject"] for m in restored.outbound_log(ADDRESS)] == ["Hi"]


def _starts(fields, start="2026-01-01", end="2027-01-01"):
    window = (datetime.fromisoformat(start).replace(tzinfo=UTC), datetime.fromisoformat(end).replace(tzinfo=UTC))
    return [o.start.strftime("%Y-%m-%d %H:%M") for o in occurrences(fields, *window)]


def test_weekly_series_keeps_local_time_across_daylight_saving():
    # given Mondays at 9:00 New York time from 2 March 2026 (DST starts 8 March), three times
    fields = {"start": "2026-03-02T14:00:00Z", "end": "2026-03-02T15:00:00Z", "start_tz": "Eastern Standard Time",
              "recurrence": {"pattern": {"type": "weekly", "interval": 1, "days_of_week": ["Monday"]},
                             "range": {"type": "numbered", "start_date": "2026-03-02", "count": 3}}}
    # then the UTC times shift by an hour after the change
    assert _starts(fields) == ["2026-03-02 14:00", "2026-03-09 13:00", "2026-03-16 13:00"]


def test_monthly_and_yearly_patterns_with_end_dates():
    # given the last Thursday of each month until June, and 29 February every year (clamped)
    relative = {"start": "2026-03-26T13:00:00Z", "end": "2026-03-26T14:00:00Z", "start_tz": "UTC",
                "recurrence": {"pattern": {"type": "relative_monthly", "interval": 1, "days_of_week": ["Thursday"],
                                           "week_index": "Last"},
                               "range": {"type": "end_date", "start_date": "2026-03-26", "end_date": "2026-06-30"}}}
    yearly = {"start": "2026-02-28T09:00:00Z", "end": "2026-02-28T10:00:00Z", "start_tz": "UTC",
              "recurrence": {"pattern": {"type": "absolute_yearly", "day_of_month": 29, "month": 2},
                             "range": {"type": "numbered", "start_date": "2026-02-01", "count": 3}}}
    assert _starts(relative) == ["2026-03-26 13:00", "2026-04-30 13:00", "2026-05-28 13:00", "2026-06-25 13:00"]
    assert _starts(yearly, end="2030-01-01") == ["2026-02-28 09:00", "2027-02-28 09:00", "2028-02-29 09:00"]


def test_exceptions_move_and_deleted_occurrences_vanish():
    # given a daily series of four with the second moved and the third deleted
    fields = {"start": "2026-05-04T10:00:00Z", "end": "2026-05-04T11:00:00Z", "start_tz": "UTC",
              "recurrence": {"pattern": {"type": "daily", "interval": 1},
                             "range": {"type": "numbered", "start_date": "2026-05-04", "count": 4}},
              "modified_occurrences": {"2026-05-05T10:00:00Z": {"start": "2026-05-05T15:00:00Z",
                                                                 "end": "2026-05-05T16:00:00Z"}},
              "deleted_occurrences": ["2026-05-06T10:00:00Z"]}
    assert _starts(fields) == ["2026-05-04 10:00", "2026-05-05 15:00", "2026-05-07 10:00"]

"""calendarView delta across a restart of a persisting simulator: the store survives, the in-memory snapshots of
what clients were told do not. An unchanged calendar still answers the old deltaLink; a changed one sends the
client back to a full read with 410 SyncStateNotFound, as Exchange does when it has dropped a sync state."""

from __future__ import annotations

import ssl

import httpx
import msal

from tests.fixtures.simulator import start_simulator, stop_simulator

WINDOW = {"startDateTime": "2028-05-01T00:00:00Z", "endDateTime": "2028-06-01T00:00:00Z"}
MAILBOX = "agent@restart.example"


def _graph(running, tenant_id: str, app: dict) -> httpx.Client:
    msal_app = msal.ConfidentialClientApplication(
        app["client_id"], client_credential=app["secret"]["value"], authority=running.client.authority(tenant_id),
        instance_discovery=False, verify=running.client.ca_path)
    token = msal_app.acquire_token_for_client(["https://graph.microsoft.com/.default"])["access_token"]
    return httpx.Client(base_url=running.client.graph_url, headers={"Authorization": f"Bearer {token}"},
                        verify=ssl.create_default_context(cafile=running.client.ca_path), timeout=30)


def _restart(state, first):
    assert stop_simulator(first.process) == 0
    first.client.close()
    return start_simulator(state, "--persist", "--strict")


def test_given_a_restart_then_an_unchanged_calendar_answers_the_old_delta_link_and_a_changed_one_410(
        tmp_path, simulator_process, monkeypatch):
    # given a persisting simulator, a mailbox with one event and a completed delta round
    state = tmp_path / "state"
    running = start_simulator(state, "--persist", "--strict")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", running.ca_bundle_with_system)  # MSAL's requests reads it over verify=
    tenant = running.client.create_tenant("Restart Realty", ["restart.example"])
    app = running.client.create_app(tenant["tenant_id"], "Engage Sync", graph_roles=["Calendars.ReadWrite"])
    running.client.create_mailboxes(tenant["tenant_id"], [MAILBOX])
    running.client.seed_events(MAILBOX, [{"subject": "Walkthrough", "start": "2028-05-10T10:00:00Z",
                                          "end": "2028-05-10T11:00:00Z"}])
    with _graph(running, tenant["tenant_id"], app) as client:
        first = client.get(f"/users/{MAILBOX}/calendarView/delta", params=WINDOW).json()
    assert [e["subject"] for e in first["value"]] == ["Walkthrough"]
    delta_link = first["@odata.deltaLink"].split("/v1.0", 1)[1]

    # when the simulator restarts
    running = _restart(state, running)
    try:
        with _graph(running, tenant["tenant_id"], app) as client:
            # then with no change the old deltaLink still answers: nothing new
            unchanged = client.get(delta_link)
            assert (unchanged.status_code, unchanged.json()["value"]) == (200, [])
            # and once the calendar changed, the dropped snapshot sends the client back to a full read
            running.client.seed_events(MAILBOX, [{"subject": "Appraisal", "start": "2028-05-12T10:00:00Z",
                                                  "end": "2028-05-12T11:00:00Z"}])
            changed = client.get(delta_link)
            assert (changed.status_code, changed.json()["error"]["code"]) == (410, "SyncStateNotFound")
            again = client.get(f"/users/{MAILBOX}/calendarView/delta", params=WINDOW).json()
            assert [e["subject"] for e in again["value"]] == ["Walkthrough", "Appraisal"]
    finally:
        stop_simulator(running.process)
        running.client.close()

"""The control plane: JSON API, Python client and CLI that shape the simulated Microsoft 365."""

from __future__ import annotations

import subprocess
import sys

import jwt
import msal
import pytest
import requests

from simulator.client import ControlAPIError, SimulatorClient
from simulator.demo import DEMO_CLIENT_ID, DEMO_TENANT_ID
from tests.fixtures.simulator import REPO_ROOT


def run_cli(simulator_process, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", "--state-dir", str(simulator_process.state_dir), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_control_api_refuses_requests_without_the_control_token(simulator):
    # given a client that does not know the control token
    stranger = SimulatorClient(simulator.base_url, simulator.ca_path, control_token="guess")

    # when it tries to create a tenant, then it is refused
    with pytest.raises(ControlAPIError) as refused:
        stranger.create_tenant("Intruder", ["intruder.example"])
    assert refused.value.status == 401
    assert requests.get(f"{simulator.base_url}/_control/stats", verify=simulator.ca_path, timeout=10).status_code == 401


def test_mailbox_must_be_on_a_verified_domain_of_its_tenant(simulator, sim_tenant):
    tenant = sim_tenant(mailboxes=0)
    with pytest.raises(ControlAPIError) as refused:
        simulator.create_mailboxes(tenant.tenant_id, ["someone@not-verified.example"])
    assert refused.value.status == 400 and "verified domain" in str(refused.value)


def test_seeded_items_and_user_edits_are_visible_through_the_control_api(simulator, sim_tenant):
    # given a mailbox seeded with many contacts
    tenant = sim_tenant()
    mailbox = tenant.mailboxes[0]
    ids = simulator.seed_contacts(mailbox, [{"given_name": f"Client{i}", "surname": "Test",
                                             "email1": f"client{i}@mail.example"} for i in range(500)])

    # when the user edits one and deletes another in Outlook, and creates an event
    change_key = simulator.user_update(mailbox, ids[0], {"job_title": "Landlord"})
    simulator.user_delete(mailbox, ids[1])
    event_id = simulator.user_create(mailbox, "calendar", {"subject": "Viewing", "start": "2027-01-05T10:00:00Z",
                                                           "end": "2027-01-05T11:00:00Z"})

    # then the folders show exactly that
    contacts = {item["id"]: item for item in simulator.list_items(mailbox, "contacts")}
    assert len(ids) == 500 and len(contacts) == 499 and ids[1] not in contacts
    assert contacts[ids[0]]["fields"]["job_title"] == "Landlord" and contacts[ids[0]]["change_key"] == change_key
    assert [item["id"] for item in simulator.list_items(mailbox, "calendar")] == [event_id]
    # (a move gives the item a new id, as in Exchange)
    assert [item["fields"]["given_name"] for item in simulator.list_items(mailbox, "deleteditems")] == ["Client1"]


def test_ews_switch_and_allow_list_are_kept_on_the_tenant(simulator, sim_tenant):
    tenant = sim_tenant(mailboxes=0)
    view = simulator.update_tenant(tenant.tenant_id, ews_allowed_app_ids=[tenant.client_id.upper()])
    assert view["ews_allowed_app_ids"] == [tenant.client_id]
    view = simulator.update_tenant(tenant.tenant_id, ews_enabled=False, ews_allowed_app_ids=None)
    assert view["ews_enabled"] is False and view["ews_allowed_app_ids"] is None


def test_unknown_fault_kind_is_refused_with_the_known_ones(simulator):
    with pytest.raises(ControlAPIError) as refused:
        simulator.add_fault("meteor_strike")
    assert refused.value.status == 400 and "server_busy" in str(refused.value)


def test_cli_creates_a_tenant_sets_a_fault_and_prints_stats(simulator_process, simulator):
    # when staff drive the simulator from the command line
    created = run_cli(simulator_process, "tenant", "create", "--name", "CLI Realty", "--domain", "cli-realty.example")
    tenant_id = next(t["tenant_id"] for t in simulator.tenants() if t["display_name"] == "CLI Realty")
    try:
        listed = run_cli(simulator_process, "tenant", "list")
        fault = run_cli(simulator_process, "fault", "set", "server_busy", "--tenant", tenant_id, "--count", "2",
                        "--back-off-ms", "5000")
        faults = run_cli(simulator_process, "fault", "list")
        stats = run_cli(simulator_process, "stats")
        cleared = run_cli(simulator_process, "fault", "clear")
    finally:
        simulator.delete_tenant(tenant_id)

    # then each command succeeds with readable output
    assert created.returncode == 0, created.stderr
    assert "cli-realty.example" in listed.stdout
    assert fault.returncode == 0 and '"back_off_ms": 5000' in fault.stdout
    assert f"server_busy tenant={tenant_id}" in faults.stdout and "remaining=2" in faults.stdout
    assert stats.returncode == 0 and cleared.stdout.strip() == "cleared"
    assert simulator.faults() == []


def test_cli_reports_control_api_errors_without_a_traceback(simulator_process):
    result = run_cli(simulator_process, "app", "consent", "00000000-0000-4000-8000-000000000999",
                     "00000000-0000-4000-8000-000000000998")
    assert result.returncode == 1
    assert result.stderr.startswith("error: 404") and "Traceback" not in result.stderr


def test_seed_demo_prints_credentials_that_msal_accepts(simulator_process, simulator):
    # when the demo is seeded
    result = run_cli(simulator_process, "seed-demo")
    try:
        assert result.returncode == 0, result.stderr
        printed = dict(line.strip().split(":", 1) for line in result.stdout.splitlines()[1:5])
        secret = printed["Client secret"].strip()

        # then the printed IDs and secret get a token, and the demo mailboxes hold contacts and events
        assert printed["Tenant ID"].strip() == DEMO_TENANT_ID and printed["Client ID"].strip() == DEMO_CLIENT_ID
        app = msal.ConfidentialClientApplication(DEMO_CLIENT_ID, client_credential=secret,
                                                 authority=simulator.authority(DEMO_TENANT_ID),
                                                 instance_discovery=False, verify=simulator.ca_path)
        assert "access_token" in app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])
        # and the app may use either backend: a Graph token carries the four Graph roles the product asks for
        graph = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
        roles = jwt.decode(graph["access_token"], options={"verify_signature": False})["roles"]
        assert sorted(roles) == ["Calendars.ReadWrite", "Contacts.ReadWrite", "Mail.ReadWrite", "Mail.Send"]
        mailboxes = simulator.tenant(DEMO_TENANT_ID)["mailboxes"]
        assert len(mailboxes) == 5
        assert len(simulator.list_items(mailboxes[0], "contacts")) == 5
        assert len(simulator.list_items(mailboxes[0], "calendar")) == 3

        # and seeding again keeps the brokerage and prints a new secret
        again = run_cli(simulator_process, "seed-demo")
        assert again.returncode == 0 and secret not in again.stdout
    finally:
        simulator.delete_tenant(DEMO_TENANT_ID)


def test_cli_without_a_running_simulator_says_how_to_start_one(tmp_path):
    # when a command waits briefly for a simulator that was never started
    result = subprocess.run([sys.executable, "-m", "simulator", "--state-dir", str(tmp_path), "--wait", "0.5", "stats"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)

    # then it gives up with a readable hint, not a traceback
    assert result.returncode == 2
    assert "python -m simulator serve" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_non_loopback_address(tmp_path):
    result = subprocess.run([sys.executable, "-m", "simulator", "serve", "--host", "0.0.0.0", "--state-dir",  # noqa: S104 - the refused case
                             str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and "loopback only" in result.stderr
    assert not (tmp_path / "ca.pem").exists()

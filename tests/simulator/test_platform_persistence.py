"""`serve --persist`: the demo world survives a restart; the CA and token-signing key are kept either way."""

from __future__ import annotations

import msal
import requests

from tests.fixtures.simulator import start_simulator, stop_simulator


def test_persisted_world_survives_a_restart(tmp_path, simulator_process, monkeypatch):
    # given a persisting simulator with a tenant, an app, a mailbox with a contact, and a token issued
    first = start_simulator(tmp_path / "state", "--persist")
    try:
        client = first.client
        tenant = client.create_tenant("Persisted Realty", ["persisted.example"])
        app = client.create_app(tenant["tenant_id"], "Engage Sync")
        client.create_mailboxes(tenant["tenant_id"], ["agent@persisted.example"])
        [contact_id] = client.seed_contacts("agent@persisted.example", [{"given_name": "Kept", "surname": "Contact"}])
        token = client.mint_token(tenant["tenant_id"], app["client_id"])
        ca_before = (tmp_path / "state" / "ca.pem").read_bytes()
    finally:
        # when it is stopped cleanly (SIGTERM)
        assert stop_simulator(first.process) == 0
        first.client.close()

    # and started again on the same state directory
    second = start_simulator(tmp_path / "state", "--persist")
    # MSAL's verify= loses to REQUESTS_CA_BUNDLE, which the session fixture points at the session simulator's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", second.ca_bundle_with_system)
    try:
        client = second.client
        # then the tenant, mailbox and contact are back
        assert client.tenant(tenant["tenant_id"])["mailboxes"] == ["agent@persisted.example"]
        assert [item["id"] for item in client.list_items("agent@persisted.example", "contacts")] == [contact_id]
        # and the same CA is served, the old secret still gets a token, and the old token still passes EWS's gate
        assert (tmp_path / "state" / "ca.pem").read_bytes() == ca_before
        msal_app = msal.ConfidentialClientApplication(
            app["client_id"], client_credential=app["secret"]["value"], authority=client.authority(tenant["tenant_id"]),
            instance_discovery=False, verify=client.ca_path)
        assert "access_token" in msal_app.acquire_token_for_client(["https://outlook.office365.com/.default"])
        response = requests.post(client.ews_url, data=b"<not-soap/>", verify=client.ca_path, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})
        assert response.status_code != 401
    finally:
        stop_simulator(second.process)
        second.client.close()


def test_without_persist_a_restart_starts_empty(tmp_path, simulator_process):
    # given a non-persisting simulator with a tenant
    first = start_simulator(tmp_path / "state")
    try:
        first.client.create_tenant("Ephemeral Realty", ["ephemeral.example"])
    finally:
        stop_simulator(first.process)
        first.client.close()

    # when it restarts, then it has no tenants
    second = start_simulator(tmp_path / "state")
    try:
        assert second.client.tenants() == []
    finally:
        stop_simulator(second.process)
        second.client.close()

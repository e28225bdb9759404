"""What happens before the EWS part sees a request: Exchange Online's bearer checks and transport-level faults."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import msal
import pytest
import requests

GET_FOLDER = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header>
    <t:RequestServerVersion Version="Exchange2016"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>
  </soap:Header>
  <soap:Body>
    <m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>
  </soap:Body>
</soap:Envelope>"""


def exchange_token(tenant) -> str:
    app = msal.ConfidentialClientApplication(tenant.client_id, client_credential=tenant.client_secret,
                                             authority=tenant.authority, instance_discovery=False,
                                             verify=tenant.ca_path)
    return app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])["access_token"]


def post_ews(tenant, token: str | None, mailbox: str | None = None, timeout: float = 10) -> requests.Response:
    mailbox = mailbox or tenant.mailboxes[0]
    headers = {"Content-Type": "text/xml; charset=utf-8", "X-AnchorMailbox": mailbox}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(tenant.ews_url, data=GET_FOLDER.format(mailbox=mailbox).encode(), headers=headers,
                         verify=tenant.ca_path, timeout=timeout)


def assert_exchange_401(response: requests.Response, reason: str) -> None:
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer client_id="00000002-0000-0ff1-ce00-000000000000"')
    assert 'token_types="app_asserted_user_v1 service_asserted_app_v1"' in challenge
    assert 'error="invalid_token"' in challenge
    assert reason in response.headers["x-ms-diagnostics"]


def test_valid_app_token_reaches_exchange(sim_tenant):
    # given a consented app's token
    tenant = sim_tenant()

    # when it calls EWS impersonating one of the tenant's mailboxes
    response = post_ews(tenant, exchange_token(tenant))

    # then Exchange answers the operation
    assert response.status_code == 200
    assert b"GetFolderResponseMessage" in response.content


def test_request_without_a_token_gets_401_with_exchange_challenge(sim_tenant):
    tenant = sim_tenant()
    assert_exchange_401(post_ews(tenant, None), "missing")


def test_garbage_token_gets_401(sim_tenant):
    tenant = sim_tenant()
    assert_exchange_401(post_ews(tenant, "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"), "invalid")


def test_expired_token_gets_401(simulator, sim_tenant):
    # given tokens that live one second
    tenant = sim_tenant()
    simulator.settings(token_lifetime=1)
    token = exchange_token(tenant)

    # when the token is used after it expired
    time.sleep(2.1)

    # then Exchange says so
    assert_exchange_401(post_ews(tenant, token), "expired")


def test_token_without_full_access_as_app_role_gets_401(sim_tenant):
    # given an app whose admin never consented to full_access_as_app: Entra issues a token without roles
    tenant = sim_tenant(consented=False)

    # when it calls EWS
    response = post_ews(tenant, exchange_token(tenant))

    # then Exchange refuses it as it refuses any token without permissions
    assert_exchange_401(response, "full_access_as_app")


def test_token_for_another_resource_gets_401(simulator, sim_tenant):
    # given a Microsoft Graph token (right tenant and app, wrong audience)
    tenant = sim_tenant()
    graph_token = simulator.mint_token(tenant.tenant_id, tenant.client_id, resource="https://graph.microsoft.com")

    # then EWS refuses it
    assert_exchange_401(post_ews(tenant, graph_token), "audience")


def test_http_503_fault_answers_503_for_the_next_request_only(simulator, sim_tenant):
    # given one 503 scheduled for this mailbox
    tenant = sim_tenant()
    token = exchange_token(tenant)
    simulator.add_fault("http_503", mailbox=tenant.mailboxes[0], count=1)

    # when two requests follow, then only the first fails
    assert post_ews(tenant, token).status_code == 503
    assert post_ews(tenant, token).status_code == 200


def test_fault_scoped_to_an_operation_spares_others(simulator, sim_tenant):
    tenant = sim_tenant()
    token = exchange_token(tenant)
    simulator.add_fault("http_503", tenant_id=tenant.tenant_id, operation="SyncFolderItems")
    assert post_ews(tenant, token).status_code == 200


def test_dropped_connection_fault_closes_without_answer(simulator, sim_tenant):
    tenant = sim_tenant()
    token = exchange_token(tenant)
    simulator.add_fault("drop_connection", mailbox=tenant.mailboxes[0], count=1)
    with pytest.raises(requests.ConnectionError):
        post_ews(tenant, token)
    assert post_ews(tenant, token).status_code == 200


def test_latency_fault_delays_the_answer(simulator, sim_tenant):
    tenant = sim_tenant()
    token = exchange_token(tenant)
    simulator.add_fault("latency", tenant_id=tenant.tenant_id, seconds=0.5, count=1)
    started = time.monotonic()
    response = post_ews(tenant, token)
    assert response.status_code == 200 and time.monotonic() - started >= 0.5


def test_timeout_after_commit_applies_the_operation_then_times_the_client_out(simulator, sim_tenant):
    # given the next request will be applied and then left unanswered past the client's timeout
    tenant = sim_tenant()
    token = exchange_token(tenant)
    simulator.add_fault("timeout_after_commit", mailbox=tenant.mailboxes[0], count=1, seconds=1.5)

    # when the client waits one second
    with pytest.raises((requests.Timeout, requests.ConnectionError)):
        post_ews(tenant, token, timeout=1.0)

    # then the server did run the operation (the EWS part counted it), though the client never heard
    assert simulator.stats()["ews_mailbox"][tenant.mailboxes[0]] == 1


def test_probability_fault_fires_on_some_requests_not_all(simulator, sim_tenant):
    # given half of the requests fail with 503
    tenant = sim_tenant()
    token = exchange_token(tenant)
    simulator.add_fault("http_503", tenant_id=tenant.tenant_id, probability=0.5)

    # when 40 requests are made
    statuses = [post_ews(tenant, token).status_code for _ in range(40)]

    # then both outcomes occur (the chance of 40 identical coin tosses is 2 in a trillion)
    assert {200, 503} == set(statuses)
    fired = next(rule["fired"] for rule in simulator.faults() if rule["tenant_id"] == tenant.tenant_id)
    assert fired == statuses.count(503)


def test_concurrent_requests_are_served_in_parallel(simulator, sim_tenant):
    # given every request of this tenant takes one second on the server
    tenant = sim_tenant()
    token = exchange_token(tenant)
    simulator.add_fault("latency", tenant_id=tenant.tenant_id, seconds=1.0)

    # when six clients call at once
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: post_ews(tenant, token).status_code, range(6)))
    elapsed = time.monotonic() - started

    # then they overlap instead of queueing (a worker fleet is never serialized by the simulator)
    assert statuses == [200] * 6
    assert elapsed < 3.0

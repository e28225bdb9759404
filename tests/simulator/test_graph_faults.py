"""Graph throttling, faults and $batch, through the same fault API as EWS."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest


def contacts(client, tenant, **options):
    return client.get(f"/users/{tenant.mailboxes[0]}/contacts", **options)


def test_given_a_request_budget_when_spent_then_429_too_many_requests_with_retry_after(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.settings(graph_requests_per_window=3, graph_window_seconds=600)
    client = graph(tenant)
    assert [contacts(client, tenant).status_code for _ in range(3)] == [200, 200, 200]
    throttled = contacts(client, tenant)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert float(throttled.headers["Retry-After"]) > 0
    other_mailbox = sim_tenant()
    assert contacts(graph(other_mailbox), other_mailbox).status_code == 200  # the budget is per app per mailbox


def test_given_more_concurrent_requests_than_allowed_then_the_extra_one_is_429_application_throttled(
        sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.settings(graph_concurrency=2)
    simulator.add_fault("latency", mailbox=tenant.mailboxes[0], operation="list_contacts", seconds=1.5)
    clients = [graph(tenant) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda c: contacts(c, tenant), clients))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 429]
    [throttled] = [a for a in answers if a.status_code == 429]
    assert throttled.json()["error"]["message"] == "Application is over its MailboxConcurrency limit."


def test_given_server_busy_and_503_faults_then_429_and_503_with_retry_after(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    client = graph(tenant)
    simulator.add_fault("server_busy", mailbox=tenant.mailboxes[0], count=1, back_off_ms=2500)
    busy = contacts(client, tenant)
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "2.5"
    simulator.add_fault("http_503", mailbox=tenant.mailboxes[0], count=1)
    unavailable = contacts(client, tenant)
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"]
    assert contacts(client, tenant).status_code == 200


def test_given_a_drop_connection_fault_then_the_client_sees_a_transport_error(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.add_fault("drop_connection", mailbox=tenant.mailboxes[0], count=1)
    with pytest.raises(httpx.TransportError):
        contacts(graph(tenant), tenant)


def test_given_timeout_after_commit_on_create_then_the_contact_exists_though_the_client_saw_no_answer(
        sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.add_fault("timeout_after_commit", mailbox=tenant.mailboxes[0], operation="create_contact", count=1)
    client = graph(tenant)
    with pytest.raises(httpx.TransportError):
        client.post(f"/users/{tenant.mailboxes[0]}/contacts", json={"givenName": "Committed"})
    assert [c["givenName"] for c in contacts(client, tenant).json()["value"]] == ["Committed"]


def test_given_a_token_expired_fault_then_401_invalid_authentication_token(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.add_fault("token_expired", tenant_id=tenant.tenant_id, count=1)
    answer = contacts(graph(tenant), tenant)
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Access token has expired or is not yet valid."


def test_given_a_batch_then_items_run_in_dependency_order_and_dependents_of_a_failure_get_424(sim_tenant, graph):
    tenant = sim_tenant()
    user = f"/users/{tenant.mailboxes[0]}"
    answer = graph(tenant).post("/$batch", json={"requests": [
        {"id": "2", "method": "GET", "url": f"{user}/contacts", "dependsOn": ["1"]},
        {"id": "1", "method": "POST", "url": f"{user}/contacts", "body": {"givenName": "Batched"},
         "headers": {"Content-Type": "application/json"}},
        {"id": "3", "method": "GET", "url": f"{user}/contacts/AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OAB="},
        {"id": "4", "method": "GET", "url": f"{user}/contacts", "dependsOn": ["3"]},
    ]})
    assert answer.status_code == 200
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert by_id["1"]["status"] == 201
    assert [c["givenName"] for c in by_id["2"]["body"]["value"]] == ["Batched"]
    assert by_id["3"]["status"] == 404 and by_id["3"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert by_id["4"]["status"] == 424


def test_given_a_throttled_batch_item_then_only_it_is_429_with_its_own_retry_after(sim_tenant, simulator, graph):
    tenant = sim_tenant()
    simulator.settings(graph_requests_per_window=2)
    user = f"/users/{tenant.mailboxes[0]}"
    answer = graph(tenant).post("/$batch", json={"requests": [
        {"id": str(n), "method": "GET", "url": f"{user}/contacts"} for n in range(1, 4)]})
    statuses = [r["status"] for r in answer.json()["responses"]]
    assert statuses == [200, 200, 429]
    assert float(answer.json()["responses"][2]["headers"]["Retry-After"]) > 0


def test_given_more_than_20_batch_requests_or_a_bad_payload_then_400(sim_tenant, graph):
    tenant = sim_tenant()
    client = graph(tenant)
    items = [{"id": str(n), "method": "GET", "url": f"/users/{tenant.mailboxes[0]}/contacts"} for n in range(21)]
    assert client.post("/$batch", json={"requests": items}).status_code == 400
    assert client.post("/$batch", json={"requests": items[:20]}).status_code == 200
    assert client.post("/$batch", json={"nothing": []}).status_code == 400
    cyclic = [{"id": "1", "method": "GET", "url": "/users/x/contacts", "dependsOn": ["2"]},
              {"id": "2", "method": "GET", "url": "/users/x/contacts", "dependsOn": ["1"]}]
    assert client.post("/$batch", json={"requests": cyclic}).status_code == 400
    unknown_dependency = [{"id": "1", "method": "GET", "url": "/users/x/contacts", "dependsOn": ["9"]}]
    assert client.post("/$batch", json={"requests": unknown_dependency}).status_code == 400
    assert client.post("/$batch", json={"requests": items[:1] * 2}).status_code == 400  # ids must be unique

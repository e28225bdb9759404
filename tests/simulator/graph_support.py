"""Microsoft Graph as the product's Graph backend will call it: MSAL app-only token, httpx over HTTPS, our CA.

    from tests.simulator.graph_support import graph  # noqa: F401  (the fixture)

    def test_something(sim_tenant, graph):
        tenant = sim_tenant()
        client = graph(tenant)                         # httpx.Client, base_url .../v1.0, Bearer Graph token
        answer = client.get(f"/users/{tenant.mailboxes[0]}/contacts")
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msal
import pytest

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def graph_token(tenant: Any, scope: str = GRAPH_SCOPE) -> str:
    """An app-only Graph token from the tenant's token endpoint through MSAL's client-credentials grant."""
    app = msal.ConfidentialClientApplication(tenant.client_id, client_credential=tenant.client_secret,
                                             authority=tenant.authority, instance_discovery=False,
                                             verify=tenant.ca_path)
    result = app.acquire_token_for_client(scopes=[scope])
    assert "access_token" in result, result
    return result["access_token"]


def graph_client(tenant: Any, token: str | None = None, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` on the simulator's Graph root that trusts only the simulator's CA."""
    context = ssl.create_default_context(cafile=tenant.ca_path)
    headers = {"Authorization": f"Bearer {token or graph_token(tenant)}", **options.pop("headers", {})}
    return httpx.Client(base_url=tenant.graph_url, verify=context, headers=headers,
                        timeout=options.pop("timeout", 30.0), **options)


@pytest.fixture
def graph() -> Iterator[Callable[..., httpx.Client]]:
    """A factory ``graph(tenant, token=None, **httpx options)`` of Graph clients, closed after the test."""
    clients: list[httpx.Client] = []

    def make(tenant: Any, token: str | None = None, **options: Any) -> httpx.Client:
        client = graph_client(tenant, token, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

"""The CRM client of the API-edge tests.

Every test here authenticates through ``make_api_client`` alone: a scoped API key (apikeys/) with every
permission, one per client so per-credential limits (rate limits) can be told apart.
"""

import pytest
from rest_framework.test import APIClient

from apikeys.models import ApiKey, Permission
from tests.fixtures.crm import key_client


@pytest.fixture
def make_api_client(db):
    """Factory: a new API client with its own key, reaching every brokerage with every permission."""
    made = []

    def make() -> APIClient:
        _, raw = ApiKey.objects.create_key(name=f"crm-edge-{len(made)}", all_brokerages=True,
                                           permissions=list(Permission.values))
        client = key_client(raw)
        made.append(client)
        return client

    return make


@pytest.fixture
def api_client(make_api_client):
    return make_api_client()

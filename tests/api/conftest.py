"""The CRM client of the API-edge tests.

Every test here authenticates through ``make_api_client`` alone, so the credential can change in one place
(today a DRF token of a user with no other rights, as tests/fixtures/crm.py's ``crm_client``).
"""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture
def make_api_client(db):
    """Factory: a new API client with its own credential, allowed everything on ``mailbox``."""
    made = []

    def make() -> APIClient:
        user = get_user_model().objects.create_user(f"crm-edge-{len(made)}")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        made.append(client)
        return client

    return make


@pytest.fixture
def api_client(make_api_client):
    return make_api_client()

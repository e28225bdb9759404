"""The CRM API publishes its OpenAPI schema to any valid API key, and documents the Api-Key header."""

import pytest
from rest_framework.test import APIClient

from apikeys.models import ApiKey, Permission
from tests.fixtures.crm import key_client

pytestmark = pytest.mark.django_db


def test_schema_refuses_anonymous_clients():
    response = APIClient().get("/api/schema/")
    assert response.status_code == 401


def test_schema_is_served_to_any_valid_key_and_documents_the_api_key_header():
    # Given a CRM client whose key may only read one brokerage's events
    _, raw = ApiKey.objects.create_key(name="Calendar widget", all_brokerages=True, permissions=[Permission.EVENTS_READ])
    # When it asks for the schema
    response = key_client(raw).get("/api/schema/?format=json")
    # Then it gets an OpenAPI document that names the Authorization: Api-Key scheme
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "`Api-Key <key>`: a key issued to the client, scoped to brokerages and permissions.",
    }  # fmt: skip
    assert {"ApiKey": []} in schema["paths"]["/api/mailboxes/{mailbox_id}/contacts/"]["get"]["security"]


def test_schema_refuses_a_revoked_key():
    key, raw = ApiKey.objects.create_key(name="Old CRM", all_brokerages=True, permissions=[Permission.EVENTS_READ])
    key.revoked = True
    key.save()
    response = key_client(raw).get("/api/schema/?format=json")
    assert response.status_code == 401
    assert "This API key has been revoked." in response.content.decode()

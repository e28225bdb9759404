"""The CRM API is token-authenticated and publishes its OpenAPI schema."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_schema_refuses_anonymous_clients():
    response = APIClient().get("/api/schema/")
    assert response.status_code == 401


def test_schema_is_served_to_a_token_holder():
    # Given a CRM client with an API token
    user = get_user_model().objects.create_user("crm-client")
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    # When it asks for the schema
    response = client.get("/api/schema/?format=json")
    # Then it gets an OpenAPI document
    assert response.status_code == 200
    assert b'"openapi"' in response.content

"""Fixtures for the outbox tests: a brokerage with a mailbox, and a token-authenticated CRM API client."""

import datetime as dt
import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from brokerages.models import Brokerage, Mailbox


@pytest.fixture
def brokerage(db):
    return Brokerage.objects.create(
        name="Harbour Realty",
        tenant_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        client_secret="Zx8Q~outbox-test-secret-value",
        client_secret_expires_on=dt.date.today() + dt.timedelta(days=365),
        test_mailbox="test@harbour.example",
        email_domains=["harbour.example"],
        status=Brokerage.Status.ACTIVE,
    )


@pytest.fixture
def mailbox(brokerage):
    return Mailbox.objects.create(brokerage=brokerage, email="agent@harbour.example", display_name="Agent")


@pytest.fixture
def crm_client(db):
    user = get_user_model().objects.create_user("crm")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client

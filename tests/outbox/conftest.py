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


@pytest.fixture
def sim_mailbox(sim_tenant, transactional_db):
    """A mailbox of a brokerage whose Microsoft 365 is a fresh simulator tenant (committed, for real workers)."""
    tenant = sim_tenant(mailboxes=1)
    brokerage = Brokerage.objects.create(
        name="Simulated Realty",
        tenant_id=tenant.tenant_id,
        client_id=tenant.client_id,
        client_secret=tenant.client_secret,
        client_secret_expires_on=dt.date.today() + dt.timedelta(days=180),
        test_mailbox=tenant.mailboxes[0],
        email_domains=[tenant.domain],
        authority_host=tenant.authority.rsplit("/", 1)[0],
        ews_url=tenant.ews_url,
        ca_bundle_path=tenant.ca_path,
        status=Brokerage.Status.ACTIVE,
    )
    return Mailbox.objects.create(brokerage=brokerage, email=tenant.mailboxes[0], display_name="Agent One")

"""Fixtures for the fleet tests: many brokerages and mailboxes, made fast with bulk inserts."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox


@pytest.fixture
def make_brokerage(db):
    def make(name: str = "Realty", *, mailboxes: int = 0, status: str = Brokerage.Status.ACTIVE, cap: int = 10) -> Brokerage:
        domain = f"{uuid.uuid4().hex[:8]}.example"
        brokerage = Brokerage.objects.create(
            name=name, tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), client_secret="Zx8Q~fleet-test-secret",
            client_secret_expires_on=dt.date.today() + dt.timedelta(days=200), test_mailbox=f"test@{domain}",
            email_domains=[domain], status=status, max_mailboxes_in_flight=cap,
        )  # fmt: skip
        due = timezone.now() - dt.timedelta(seconds=1)
        Mailbox.objects.bulk_create(
            Mailbox(brokerage=brokerage, email=f"agent{n}@{domain}", next_sync_at=due) for n in range(mailboxes)
        )
        return brokerage

    return make

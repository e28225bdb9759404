"""Three brokerages A, B, C with one mailbox each (holding a contact, an event and an email), keys, and staff."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apikeys.models import ApiKey, Permission
from brokerages.models import Brokerage, Mailbox
from brokerages.roles import CREDENTIAL_MANAGERS, OPERATORS
from outbox.models import OutgoingEmail
from sync.models import Contact, Event
from tests.fixtures.staff import staff_in

ALL = list(Permission.values)


@dataclass
class Tenant:
    brokerage: Brokerage
    mailbox: Mailbox
    contact: Contact
    event: Event
    email: OutgoingEmail


def make_tenant(letter: str) -> Tenant:
    domain = f"{letter.lower()}-realty.example"
    brokerage = Brokerage.objects.create(
        name=f"{letter} Realty", tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), client_secret="Zx8Q~test-secret-value",
        client_secret_expires_on=dt.date.today() + dt.timedelta(days=365), test_mailbox=f"test@{domain}",
        email_domains=[domain], status=Brokerage.Status.ACTIVE,
    )  # fmt: skip
    mailbox = Mailbox.objects.create(brokerage=brokerage, email=f"agent@{domain}", display_name=f"Agent {letter}")
    start = timezone.now() + dt.timedelta(days=30)
    return Tenant(
        brokerage=brokerage,
        mailbox=mailbox,
        contact=Contact.objects.create(mailbox=mailbox, given_name="Client", surname=letter),
        event=Event.objects.create(mailbox=mailbox, subject=f"Viewing {letter}", start=start, end=start + dt.timedelta(hours=1)),
        email=OutgoingEmail.objects.create(
            mailbox=mailbox, idempotency_key=f"seed-{letter}", to=["buyer@client.example"], subject="Listing"
        ),
    )


@pytest.fixture
def tenants(db) -> dict[str, Tenant]:
    return {letter: make_tenant(letter) for letter in "ABC"}


@pytest.fixture
def make_key(tenants):
    """Factory: (ApiKey, raw key) reaching the named brokerages ("A", "B", ...) or all, with the permissions."""

    def make(scope: str | list[str], permissions=ALL, **fields) -> tuple[ApiKey, str]:
        key, raw = ApiKey.objects.create_key(
            name="Engage CRM", all_brokerages=scope == "all", permissions=list(permissions), **fields
        )
        if scope != "all":
            key.brokerages.set([tenants[letter].brokerage for letter in scope])
        return key, raw

    return make


@pytest.fixture
def operator(db) -> User:
    return staff_in(OPERATORS, "olivia-operator")


@pytest.fixture
def credential_manager(db) -> User:
    return staff_in(CREDENTIAL_MANAGERS, "carl-credentials")


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", password="pw-for-tests")

"""Fixtures for the brokerages tests: brokerages with real encrypted credentials, and the two staff roles."""

from __future__ import annotations

import datetime
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import User
from django.utils import timezone

from brokerages.models import Brokerage
from brokerages.roles import CREDENTIAL_MANAGERS, OPERATORS
from tests.fixtures.staff import staff_in

# What a real Entra ID client secret Value looks like: 40 characters with a "~".
PLAINTEXT_SECRET = "Zx8Q~k3yV4lu3.fr0m-Entra_ID.abcdefghij12"
PLAINTEXT_PENDING_SECRET = "Pq7R~n3xt-s3cr3t.for_rotation.klmnopqrs3"


@pytest.fixture
def make_brokerage(db):
    """A factory of saved brokerages with a client secret, in domain acme-realty.com unless told otherwise."""
    counter = iter(range(1, 10_000))

    def make(**fields) -> Brokerage:
        n = next(counter)
        values = {
            "name": f"Acme Realty {n}",
            "tenant_id": uuid.uuid4(),
            "client_id": uuid.uuid4(),
            "client_secret": PLAINTEXT_SECRET,
            "client_secret_expires_on": timezone.localdate() + datetime.timedelta(days=365),
            "test_mailbox": f"test@acme{n}-realty.com",
            "email_domains": [f"acme{n}-realty.com"],
        }
        values.update(fields)
        return Brokerage.objects.create(**values)

    return make


@pytest.fixture
def operator(db) -> User:
    return staff_in(OPERATORS, "olivia-operator")


@pytest.fixture
def credential_manager(db) -> User:
    return staff_in(CREDENTIAL_MANAGERS, "carl-credentials")


def change_form_data(brokerage: Brokerage, **overrides) -> dict[str, str]:
    """The POST body of the credential manager's change form for brokerage, as a browser sends it."""
    data = {
        "name": brokerage.name,
        "status": brokerage.status,
        "tenant_id": str(brokerage.tenant_id),
        "client_id": str(brokerage.client_id),
        "credential_kind": brokerage.credential_kind,
        "new_client_secret": "",
        "client_secret_expires_on": str(brokerage.client_secret_expires_on or ""),
        "new_pending_client_secret": "",
        "pending_client_secret_expires_on": str(brokerage.pending_client_secret_expires_on or ""),
        "new_certificate": "",
        "test_mailbox": brokerage.test_mailbox,
        "email_domains": ", ".join(brokerage.email_domains),
        "mailbox_backend": brokerage.mailbox_backend,
        "ews_url": brokerage.ews_url,
        "graph_url": brokerage.graph_url,
        "authority_host": brokerage.authority_host,
        "ca_bundle_path": brokerage.ca_bundle_path,
        "sync_interval_seconds": str(brokerage.sync_interval_seconds),
        "max_mailboxes_in_flight": str(brokerage.max_mailboxes_in_flight),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def operator_form_data(brokerage: Brokerage, **overrides) -> dict[str, str]:
    """The POST body of the operator's change form (no credential inputs)."""
    data = {
        "name": brokerage.name,
        "status": brokerage.status,
        "test_mailbox": brokerage.test_mailbox,
        "email_domains": ", ".join(brokerage.email_domains),
        "mailbox_backend": brokerage.mailbox_backend,
        "sync_interval_seconds": str(brokerage.sync_interval_seconds),
        "max_mailboxes_in_flight": str(brokerage.max_mailboxes_in_flight),
    }
    data.update(overrides)
    return data


def certificate_pem(*, days_valid: int = 365) -> str:
    """A PEM bundle (private key, then certificate) as an administrator would export it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Engage Sync app")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now + datetime.timedelta(days=days_valid))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return (key_pem + certificate.public_bytes(serialization.Encoding.PEM)).decode()

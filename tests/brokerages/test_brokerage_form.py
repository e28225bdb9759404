"""The onboarding form catches the usual mistakes with messages a staff member can act on."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from brokerages.forms import SECRET_ID_PASTED_MESSAGE, BrokerageForm
from brokerages.models import Brokerage, CredentialAuditEntry

from .conftest import PLAINTEXT_SECRET, certificate_pem

IN_A_YEAR = timezone.localdate() + datetime.timedelta(days=365)


def new_brokerage_data(**overrides) -> dict[str, str]:
    data = {
        "name": "Harbor Homes",
        "status": "new",
        "tenant_id": "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
        "client_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "credential_kind": "client_secret",
        "new_client_secret": PLAINTEXT_SECRET,
        "client_secret_expires_on": IN_A_YEAR.isoformat(),
        "test_mailbox": "test.user@harborhomes.com",
        "email_domains": "harborhomes.com, HarborHomes.co.uk",
        "mailbox_backend": "ews",
        "ews_url": "https://outlook.office365.com/EWS/Exchange.asmx",
        "authority_host": "https://login.microsoftonline.com",
        "ca_bundle_path": "",
    }
    data.update(overrides)
    return data


def errors_of(data: dict, instance: Brokerage | None = None) -> dict[str, list[str]]:
    form = BrokerageForm(data, instance=instance)
    assert not form.is_valid()
    return {field: list(messages) for field, messages in form.errors.items()}


def test_valid_onboarding_saves_the_brokerage_with_an_encrypted_secret_and_an_audit_entry(db):
    # Given everything the brokerage's administrator sent, typed correctly
    form = BrokerageForm(new_brokerage_data())

    # When the form is saved
    assert form.is_valid(), form.errors
    brokerage = form.save()

    # Then the domains are normalised, the secret stored and the creation audited by field name
    brokerage = Brokerage.objects.get(pk=brokerage.pk)
    assert brokerage.email_domains == ["harborhomes.com", "harborhomes.co.uk"]
    assert brokerage.client_secret.reveal() == PLAINTEXT_SECRET
    entry = CredentialAuditEntry.objects.get(brokerage=brokerage)
    assert entry.action == "created"
    assert {"tenant_id", "client_id", "client_secret", "client_secret_expires_on"} <= set(entry.changes)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("tenant_id", "6f1c2d3e-4b5a-4c7d-8e9f", "That is not a Tenant ID: it should be a GUID"),
        ("tenant_id", "harborhomes.onmicrosoft.com", "Directory (tenant) ID"),
        ("client_id", "0f8fad5b d9cb 469f a165 70867728950e x", "That is not a Client ID: it should be a GUID"),
        ("client_id", "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", "The Client ID equals the Tenant ID"),
    ],
)
def test_malformed_or_swapped_guids_are_explained(db, field, value, expected):
    errors = errors_of(new_brokerage_data(**{field: value}))
    assert any(expected in message for message in errors[field])


def test_secret_id_pasted_into_the_secret_field_is_caught(db):
    # Given the Secret ID (a GUID) pasted where the Value belongs
    errors = errors_of(new_brokerage_data(new_client_secret=str(uuid.uuid4())))

    # Then the message says which column to copy
    assert errors["new_client_secret"] == [SECRET_ID_PASTED_MESSAGE]
    assert "copy the Value column, not the Secret ID" in SECRET_ID_PASTED_MESSAGE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Zx8Q~abc def-ghijklmnopqrstuvwxyz012345", "contains spaces or line breaks"),
        ("short~value", "too short to be a client secret Value"),
    ],
)
def test_mangled_secret_values_are_caught(db, value, expected):
    errors = errors_of(new_brokerage_data(new_client_secret=value))
    assert any(expected in message for message in errors["new_client_secret"])


def test_expiry_date_in_the_past_is_refused(db):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    errors = errors_of(new_brokerage_data(client_secret_expires_on=yesterday.isoformat()))
    assert "is in the past: that secret has already expired" in errors["client_secret_expires_on"][0]


def test_secret_without_its_expiry_date_is_refused(db):
    errors = errors_of(new_brokerage_data(client_secret_expires_on=""))
    assert "Enter the expiry date shown next to the secret" in errors["client_secret_expires_on"][0]


def test_client_secret_brokerage_needs_a_secret(db):
    errors = errors_of(new_brokerage_data(new_client_secret=""))
    assert "Enter the client secret's Value" in errors["new_client_secret"][0]


def test_test_mailbox_outside_the_domains_is_refused(db):
    errors = errors_of(new_brokerage_data(test_mailbox="someone@gmail.com"))
    assert "someone@gmail.com is not in this brokerage's email domains (harborhomes.com, harborhomes.co.uk)" in errors["test_mailbox"][0]


def test_test_mailbox_in_a_subdomain_is_refused(db):
    errors = errors_of(new_brokerage_data(test_mailbox="test@mail.harborhomes.com"))
    assert "test_mailbox" in errors


@pytest.mark.parametrize(
    ("domains", "expected"),
    [
        ("@harborhomes.com", "enter only the part after the @, for example harborhomes.com"),
        ("https://harborhomes.com", "looks like a web address"),
        ("harborhomes", "is not a valid domain name"),
        ("harbor_homes.com", "is not a valid domain name"),
        ("10.0.0.1", "is an IP address"),
        ("", "Enter at least one email domain"),
    ],
)
def test_malformed_domains_are_explained(db, domains, expected):
    errors = errors_of(new_brokerage_data(email_domains=domains))
    assert any(expected in message for message in errors["email_domains"]), errors["email_domains"]


def test_a_domain_already_claimed_by_another_brokerage_is_refused(make_brokerage):
    make_brokerage(name="Seaside Realty", email_domains=["harborhomes.com"], test_mailbox="t@harborhomes.com")
    errors = errors_of(new_brokerage_data())
    assert "harborhomes.com already belongs to the brokerage “Seaside Realty”" in errors["email_domains"][0]


def test_removing_a_domain_that_mailboxes_still_use_is_refused(make_brokerage):
    # Given a brokerage with an agent in its second domain
    brokerage = make_brokerage(email_domains=["a.example.com", "b.example.com"], test_mailbox="t@a.example.com")
    brokerage.mailboxes.create(email="agent@b.example.com")

    # When the second domain is removed, then the form says why it cannot be
    data = new_brokerage_data(
        email_domains="a.example.com", test_mailbox="t@a.example.com", new_client_secret="",
        tenant_id=str(brokerage.tenant_id), client_id=str(brokerage.client_id),
    )  # fmt: skip
    errors = errors_of(data, instance=brokerage)
    assert "1 mailbox(es) of this brokerage would fall outside its domains (for example agent@b.example.com)" in errors["email_domains"][0]


def test_endpoints_must_be_https_and_the_ca_bundle_an_absolute_path(db):
    data = new_brokerage_data(
        ews_url="http://mail.example.com/EWS/Exchange.asmx",
        authority_host="http://login.example.com",
        ca_bundle_path="certs/ca.pem",
    )
    errors = errors_of(data)
    assert "must start with https://" in errors["ews_url"][0]
    assert "must start with https://" in errors["authority_host"][0]
    assert "absolute path" in errors["ca_bundle_path"][0]


def test_the_graph_url_defaults_to_microsoft_graph_and_must_be_https(db):
    # A form without a Graph URL (an EWS brokerage's, say) saves Microsoft Graph's own root
    form = BrokerageForm(new_brokerage_data())
    assert form.is_valid(), form.errors
    assert form.save().graph_url == "https://graph.microsoft.com/v1.0"
    # and one given in plain HTTP is refused like the other endpoints
    errors = errors_of(new_brokerage_data(graph_url="http://graph.example.com/v1.0", mailbox_backend="graph"))
    assert "must start with https://" in errors["graph_url"][0]


def test_certificate_credential_records_thumbprint_and_expiry_and_needs_a_matching_pair(db):
    # Given a certificate brokerage with a valid key+certificate bundle
    pem = certificate_pem()
    form = BrokerageForm(new_brokerage_data(credential_kind="certificate", new_client_secret="",
                                            client_secret_expires_on="", new_certificate=pem))  # fmt: skip
    assert form.is_valid(), form.errors
    brokerage = Brokerage.objects.get(pk=form.save().pk)

    # Then the bundle is stored encrypted and its thumbprint (SHA-1, as Entra ID shows it) is recorded
    assert brokerage.certificate.reveal() == pem
    assert len(brokerage.certificate_thumbprint) == 40
    assert brokerage.certificate_expires_on > timezone.localdate()

    # ... while a certificate without its key, a key of another certificate, or an expired one is refused
    other_key = certificate_pem().split("-----BEGIN CERTIFICATE-----")[0]
    certificate_only = "-----BEGIN CERTIFICATE-----" + pem.split("-----BEGIN CERTIFICATE-----")[1]
    for bundle, expected in [
        (certificate_only, "No readable private key found"),
        (other_key + "-----BEGIN CERTIFICATE-----" + pem.split("-----BEGIN CERTIFICATE-----")[1], "does not belong to the certificate"),
        (certificate_pem(days_valid=-10), "This certificate expired on"),
        ("paste here", "This is not PEM text"),
    ]:
        errors = errors_of(new_brokerage_data(credential_kind="certificate", new_certificate=bundle, name="Other"))
        assert any(expected in message for message in errors["new_certificate"]), errors


def test_editing_without_typing_a_secret_keeps_the_stored_one(make_brokerage):
    # Given a stored brokerage, edited by someone who leaves the (always empty) secret input alone
    brokerage = make_brokerage()
    data = new_brokerage_data(
        name="Renamed", new_client_secret="", tenant_id=str(brokerage.tenant_id), client_id=str(brokerage.client_id),
        email_domains=", ".join(brokerage.email_domains), test_mailbox=brokerage.test_mailbox,
        client_secret_expires_on=brokerage.client_secret_expires_on.isoformat(),
    )  # fmt: skip
    form = BrokerageForm(data, instance=Brokerage.objects.get(pk=brokerage.pk))
    assert form.is_valid(), form.errors
    form.save()

    # Then the secret is unchanged and no credential change was audited
    assert Brokerage.objects.get(pk=brokerage.pk).client_secret.reveal() == PLAINTEXT_SECRET
    assert list(CredentialAuditEntry.objects.filter(brokerage=brokerage).values_list("action", flat=True)) == ["created"]

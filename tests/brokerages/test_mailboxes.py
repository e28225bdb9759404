"""Agents' mailboxes belong to their brokerage's domains, exactly, and are registered once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.urls import reverse

from brokerages.models import Brokerage, Mailbox


@pytest.mark.parametrize(
    ("address", "owned"),
    [
        ("agent@acme-realty.com", True),
        ("Agent.Name@ACME-Realty.COM", True),
        ("agent@acme-realty.com.", False),  # not a well-formed address
        ("agent@mail.acme-realty.com", False),  # a subdomain is another domain
        ("agent@acme-realty.com.evil.org", False),
        ("agent@notacme-realty.com", False),
        ("agent@acme-realty.co", False),
        ("acme-realty.com", False),
        ("agent@evil.org@acme-realty.com", False),
        ("", False),
    ],
)
def test_owns_address_matches_the_exact_domain_only(address, owned):
    brokerage = Brokerage(email_domains=["acme-realty.com", "acme.co.uk"])
    assert brokerage.owns_address(address) is owned


def test_agent_email_outside_the_domains_is_refused(make_brokerage):
    brokerage = make_brokerage(email_domains=["acme-realty.com"], test_mailbox="t@acme-realty.com")
    with pytest.raises(ValidationError) as excinfo:
        Mailbox(brokerage=brokerage, email="agent@gmail.com").full_clean()
    assert excinfo.value.message_dict["email"] == ["agent@gmail.com is not in the brokerage's email domains (acme-realty.com)."]


def test_duplicate_agent_is_refused_whatever_the_letter_case(make_brokerage):
    # Given an agent already registered
    brokerage = make_brokerage(email_domains=["acme-realty.com"], test_mailbox="t@acme-realty.com")
    Mailbox.objects.create(brokerage=brokerage, email="agent@acme-realty.com")

    # When the same address is entered again in other letter case, then it is refused
    with pytest.raises(ValidationError) as excinfo:
        Mailbox(brokerage=brokerage, email="Agent@ACME-realty.com").full_clean()
    assert "already registered" in excinfo.value.message_dict["email"][0]


def test_a_mailbox_added_on_its_own_page_is_validated_against_its_brokerage_domains(make_brokerage, client, db):
    # Given a superuser adding an agent outside the brokerage's domains on the mailbox page
    client.force_login(User.objects.create_superuser("root", password="pw-for-tests"))
    brokerage = make_brokerage(email_domains=["acme-realty.com"], test_mailbox="t@acme-realty.com")
    url = reverse("admin:brokerages_mailbox_add")
    data = {"brokerage": brokerage.pk, "email": "stray@other.com", "is_active": "on", "contacts_enabled": "on"}

    # When it is saved, then it is refused with the reason, naming the domains, and nothing was written
    response = client.post(url, data)
    assert response.status_code == 200
    assert "stray@other.com is not in the brokerage&#x27;s email domains (acme-realty.com)" in response.content.decode()
    assert not Mailbox.objects.exists()

    # ... and with a good address it is saved, address normalised, unticked flags off
    data.update(email="Good.Agent@acme-realty.com", display_name="Good Agent")
    assert client.post(url, data).status_code == 302
    agent = Mailbox.objects.get()
    assert (agent.email, agent.display_name, agent.contacts_enabled, agent.calendar_enabled) == (
        "good.agent@acme-realty.com", "Good Agent", True, False,
    )  # fmt: skip


@pytest.mark.django_db
def test_searching_a_whole_address_lists_that_mailbox_and_a_part_of_one_still_finds_every_match(make_brokerage, client):
    # Given agents whose addresses contain one another
    brokerage = make_brokerage(email_domains=["acme-realty.com"], test_mailbox="t@acme-realty.com")
    ann = Mailbox.objects.create(brokerage=brokerage, email="ann@acme-realty.com")
    joann = Mailbox.objects.create(brokerage=brokerage, email="joann@acme-realty.com")
    client.force_login(User.objects.create_superuser("boss", password="x-long-password"))
    url = reverse("admin:brokerages_mailbox_changelist")

    def found(term: str) -> set[int]:
        return {m.pk for m in client.get(url, {"q": term}).context["cl"].result_list}

    # Then a whole address (any case) is that mailbox; a part of one, or an address nobody has, searches as before
    assert found(" Ann@Acme-Realty.com ") == {ann.pk}
    assert found("ann@acme") == {ann.pk, joann.pk}
    assert found("nobody@acme-realty.com") == set()

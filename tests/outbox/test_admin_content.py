"""Operators see an email's state in the admin, never what it says or to whom; credential managers and
superusers (permission outbox.view_email_content) see both."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from brokerages.roles import CREDENTIAL_MANAGERS, OPERATORS
from outbox.models import OutgoingAttachment, OutgoingEmail

pytestmark = pytest.mark.django_db

SECRETS_OF_THE_CLIENT = ("Offer for 12 Elm St", "buyer.one@client.example", "cc.lawyer@client.example",
                         "hidden.bcc@client.example", "reply.here@client.example", "We can go to 450k",
                         "Ask for Anna", "signed-offer.pdf")  # fmt: skip


@pytest.fixture
def email(mailbox):
    email = OutgoingEmail.objects.create(
        mailbox=mailbox, idempotency_key="offer-1", to=["buyer.one@client.example"], cc=["cc.lawyer@client.example"],
        bcc=["hidden.bcc@client.example"], reply_to=["reply.here@client.example"], subject="Offer for 12 Elm St",
        text_body="We can go to 450k", html_body="<p>Ask for Anna</p>", status=OutgoingEmail.Status.FAILED,
        last_error_class="throttled",
    )
    OutgoingAttachment.objects.create(email=email, filename="signed-offer.pdf", content=b"%PDF", size=4)
    return email


def _staff(group: str | None = None, **fields) -> Client:
    user = User.objects.create_user(f"staff-{group or 'super'}", is_staff=True, **fields)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def _pages(client: Client, email: OutgoingEmail) -> str:
    pages = [reverse("admin:outbox_outgoingemail_changelist"), reverse("admin:outbox_outgoingemail_change", args=[email.pk]),
             reverse("admin:outbox_outgoingemail_history", args=[email.pk])]  # fmt: skip
    responses = [client.get(page) for page in pages]
    assert [response.status_code for response in responses] == [200, 200, 200]
    return "".join(response.content.decode() for response in responses)


def test_an_operator_sees_the_state_but_no_subject_body_recipient_or_attachment_name(email):
    html = _pages(_staff(OPERATORS), email)
    assert str(email.pk) in html and "throttled" in html and "application/octet-stream" in html  # its attachment's type
    assert [text for text in SECRETS_OF_THE_CLIENT if text in html] == []


def test_an_operator_cannot_find_an_email_by_its_subject(email):
    client = _staff(OPERATORS)
    url = reverse("admin:outbox_outgoingemail_changelist")
    assert str(email.pk) not in client.get(url, {"q": "Offer for 12 Elm"}).content.decode()
    assert str(email.pk) in client.get(url, {"q": str(email.pk)}).content.decode()


@pytest.mark.parametrize("who", ["credential manager", "superuser"])
def test_credential_managers_and_superusers_see_the_content(email, who):
    client = _staff(CREDENTIAL_MANAGERS) if who == "credential manager" else _staff(is_superuser=True)
    html = _pages(client, email)
    assert [text for text in SECRETS_OF_THE_CLIENT if text not in html] == []


def test_only_credential_managers_hold_the_content_permission(db):
    holders = Group.objects.filter(permissions__codename="view_email_content").values_list("name", flat=True)
    assert list(holders) == [CREDENTIAL_MANAGERS]


def test_an_emails_name_in_the_admin_says_nothing_of_its_content(email):
    assert str(email) == f"Email {email.pk} [failed]"

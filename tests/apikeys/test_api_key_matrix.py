"""Every key kind, every endpoint, mailboxes of brokerages A, B and C: each call answers exactly the expected status.

A key needs the method's permission (else 403, whatever the mailbox) and must reach the mailbox's brokerage
(else 404, the same as a mailbox that does not exist); an expired or revoked key is 401 everywhere. A refused
request changes nothing: no row written, no email queued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from apikeys.models import Permission
from outbox.models import OutgoingEmail
from sync.models import Contact, Event
from tests.fixtures.crm import key_client

pytestmark = pytest.mark.django_db

READ_ONLY = [Permission.CONTACTS_READ, Permission.EVENTS_READ]
EMAIL_ONLY = [Permission.EMAIL_SEND, Permission.EMAIL_STATUS]
START = "2027-03-27T10:00:00"


@dataclass(frozen=True)
class KeyKind:
    scope: str | list[str]
    permissions: tuple[str, ...] = tuple(Permission.values)
    expired: bool = False
    revoked: bool = False


KEYS = {
    "A": KeyKind(["A"]),
    "A+B": KeyKind(["A", "B"]),
    "all": KeyKind("all"),
    "read-only": KeyKind("all", tuple(READ_ONLY)),
    "email-only": KeyKind(["A"], tuple(EMAIL_ONLY)),
    "expired": KeyKind("all", expired=True),
    "revoked": KeyKind("all", revoked=True),
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {mailbox}, {contact}, {event}, {email} are filled in per tenant
    permission: str
    success: int
    body: dict | None = None


ENDPOINTS = {
    "contacts list": Endpoint("get", "/api/mailboxes/{mailbox}/contacts/", "contacts:read", 200),
    "contact create": Endpoint("post", "/api/mailboxes/{mailbox}/contacts/", "contacts:write", 201, {"given_name": "Ada"}),
    "contact get": Endpoint("get", "/api/mailboxes/{mailbox}/contacts/{contact}/", "contacts:read", 200),
    "contact patch": Endpoint("patch", "/api/mailboxes/{mailbox}/contacts/{contact}/", "contacts:write", 200, {"job_title": "Seller"}),
    "contact delete": Endpoint("delete", "/api/mailboxes/{mailbox}/contacts/{contact}/", "contacts:write", 204),
    "events list": Endpoint("get", "/api/mailboxes/{mailbox}/events/", "events:read", 200),
    "event create": Endpoint("post", "/api/mailboxes/{mailbox}/events/", "events:write", 201,
                             {"subject": "Valuation", "start": START, "end": "2027-03-27T11:00:00"}),
    "event get": Endpoint("get", "/api/mailboxes/{mailbox}/events/{event}/", "events:read", 200),
    "event patch": Endpoint("patch", "/api/mailboxes/{mailbox}/events/{event}/", "events:write", 200, {"location": "12 Elm St"}),
    "event delete": Endpoint("delete", "/api/mailboxes/{mailbox}/events/{event}/", "events:write", 204),
    "email post": Endpoint("post", "/api/mailboxes/{mailbox}/emails/", "email:send", 201,
                           {"idempotency_key": "matrix-1", "to": ["buyer@client.example"], "subject": "New listing"}),
    "emails list": Endpoint("get", "/api/mailboxes/{mailbox}/emails/", "email:status", 200),
    "email get": Endpoint("get", "/api/emails/{email}/", "email:status", 200),
}  # fmt: skip


def expected_status(kind: KeyKind, endpoint: Endpoint, brokerage: str) -> int:
    if kind.expired or kind.revoked:
        return 401
    if endpoint.permission not in kind.permissions:
        return 403
    if kind.scope != "all" and brokerage not in kind.scope:
        return 404
    return endpoint.success


def stored_state() -> tuple:
    """Everything a request could have written: records with their versions and tombstones, and every email."""
    return (
        sorted(Contact.objects.values_list("id", "version", "deleted_at")),
        sorted(Event.objects.values_list("id", "version", "deleted_at")),
        sorted(OutgoingEmail.objects.values_list("id", "status")),
    )


@pytest.mark.parametrize("brokerage", ["A", "B", "C"])
@pytest.mark.parametrize("endpoint_name", list(ENDPOINTS))
@pytest.mark.parametrize("key_name", list(KEYS))
def test_a_key_reaches_exactly_its_brokerages_with_exactly_its_permissions(
    tenants, make_key, django_capture_on_commit_callbacks, key_name, endpoint_name, brokerage
):
    # Given a key of this kind and a mailbox of brokerage A, B or C (with a contact, an event and an email)
    kind, endpoint, tenant = KEYS[key_name], ENDPOINTS[endpoint_name], tenants[brokerage]
    expiry = timezone.now() - dt.timedelta(minutes=1) if kind.expired else None
    _, raw = make_key(kind.scope, kind.permissions, expiry_date=expiry, revoked=kind.revoked)
    path = endpoint.path.format(mailbox=tenant.mailbox.pk, contact=tenant.contact.pk, event=tenant.event.pk, email=tenant.email.pk)
    before = stored_state()

    # When the client calls the endpoint
    with django_capture_on_commit_callbacks() as published:
        response = getattr(key_client(raw), endpoint.method)(path, endpoint.body, format="json")

    # Then it gets exactly the expected status, with a JSON body unless it is a 204
    expected = expected_status(kind, endpoint, brokerage)
    assert response.status_code == expected, response.content
    if expected != 204:
        assert response["Content-Type"] == "application/json"
    if expected >= 400:
        # ... and a refused request wrote nothing and queued nothing (no email row, no send, no sync prompt)
        assert stored_state() == before
        assert published == []
        assert response.json()  # a JSON error body, whatever its shape

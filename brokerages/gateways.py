"""Where a Brokerage row becomes a mailbox gateway: plain connection details from the row, fleet-shared tokens.

The gateway package knows nothing of Django; this module is the one seam between the two.
"""

from __future__ import annotations

import threading

from django.conf import settings

from mailboxes.connection import ClientCertificate, ConnectionDetails
from mailboxes.gateway import MailboxGateway, open_gateway
from mailboxes.tokens import TokenProvider

from .models import Brokerage, Mailbox

_token_provider: TokenProvider | None = None
_token_provider_lock = threading.Lock()


def token_provider() -> TokenProvider:
    """This process's token provider, over the fleet-shared Redis token cache."""
    global _token_provider
    with _token_provider_lock:
        if _token_provider is None:
            _token_provider = TokenProvider.from_redis_url(settings.REDIS_URL)
        return _token_provider


def connection_details(brokerage: Brokerage, *, pending_secret: bool = False) -> ConnectionDetails:
    """The brokerage's connection details; ``pending_secret`` uses the secret entered for rotation instead."""
    certificate = None
    secret = brokerage.pending_client_secret if pending_secret else brokerage.client_secret
    if brokerage.credential_kind == Brokerage.CredentialKind.CERTIFICATE and not pending_secret:
        certificate = ClientCertificate(private_key_pem=brokerage.certificate, thumbprint=brokerage.certificate_thumbprint)
        secret = None
    return ConnectionDetails(
        key=str(brokerage.pk),
        tenant_id=str(brokerage.tenant_id),
        client_id=str(brokerage.client_id),
        client_secret=secret,
        certificate=certificate,
        authority_host=brokerage.authority_host,
        ews_url=brokerage.ews_url,
        ca_bundle_path=brokerage.ca_bundle_path or None,
        allowed_domains=frozenset(brokerage.email_domains or ()),
        backend=brokerage.mailbox_backend,
    )


def gateway_for_brokerage(brokerage: Brokerage, *, pending_secret: bool = False) -> MailboxGateway:
    return open_gateway(connection_details(brokerage, pending_secret=pending_secret), token_provider())


def gateway_for_mailbox(mailbox: Mailbox) -> MailboxGateway:
    """The gateway of the mailbox's own brokerage: credentials are never used across brokerages (invariant 6)."""
    return gateway_for_brokerage(mailbox.brokerage)

"""Where a Brokerage row becomes a mailbox gateway: plain connection details from the row, fleet-shared tokens.

The gateway package knows nothing of Django; this module is the one seam between the two.
"""

from __future__ import annotations

import threading

from django.conf import settings

from mailboxes import ews
from mailboxes.connection import ClientCertificate, ConnectionDetails
from mailboxes.gateway import MailboxGateway, open_gateway
from mailboxes.tokens import RedisTokenStore, TokenProvider

from . import crypto
from .models import Brokerage, Mailbox

_token_provider: TokenProvider | None = None
_token_provider_lock = threading.Lock()


class EncryptedTokenStore:
    """The fleet's Redis token store with every token encrypted under the credential keys (invariant 1).

    An access token opens every mailbox of a brokerage for an hour; in Redis it is ciphertext like the
    secrets in PostgreSQL, so a Redis dump or a stray MONITOR shows nothing usable.
    """

    def __init__(self, inner: RedisTokenStore) -> None:
        self._inner = inner

    def get(self, key: str) -> bytes | None:
        stored = self._inner.get(key)
        if stored is None:
            return None
        try:
            return crypto.decrypt(stored.decode("ascii")).encode()
        except (crypto.InvalidToken, UnicodeDecodeError):
            return None  # written under a key since dropped, or not ours: fetch a new token

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._inner.set(key, crypto.encrypt(value.decode()).encode("ascii"), ttl_seconds)

    def delete_if_equal(self, key: str, value: bytes) -> None:
        stored = self._inner.get(key)
        if stored is not None and self.get(key) == value:
            self._inner.delete_if_equal(key, stored)  # atomic on the ciphertext we compared

    def acquire_lock(self, key: str, ttl_seconds: float) -> str | None:
        return self._inner.acquire_lock(key, ttl_seconds)

    def release_lock(self, key: str, owner: str) -> None:
        self._inner.release_lock(key, owner)

    def count_token_fetch(self, brokerage_key: str) -> None:
        self._inner.count_token_fetch(brokerage_key)


def token_provider() -> TokenProvider:
    """This process's token provider, over the fleet-shared, encrypted Redis token cache."""
    global _token_provider
    with _token_provider_lock:
        if _token_provider is None:
            _token_provider = TokenProvider(EncryptedTokenStore(RedisTokenStore(settings.REDIS_URL)),
                                            http_timeout_seconds=settings.TOKEN_REQUEST_TIMEOUT_SECONDS)
            # Every EWS request of this process is bounded too (a hung call fails as a transient network error).
            ews.REGISTRY.request_timeout = settings.EWS_REQUEST_TIMEOUT_SECONDS
        return _token_provider


def connection_details(
    brokerage: Brokerage, *, pending_secret: bool = False, backend: str | None = None
) -> ConnectionDetails:
    """The brokerage's connection details; ``pending_secret`` uses the secret entered for rotation instead, and
    ``backend`` another backend than the brokerage's (verification probes whether it would work too)."""
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
        graph_url=brokerage.graph_url,
        ca_bundle_path=brokerage.ca_bundle_path or None,
        allowed_domains=frozenset(brokerage.email_domains or ()),
        backend=backend or brokerage.mailbox_backend,
    )


def gateway_for_brokerage(
    brokerage: Brokerage, *, pending_secret: bool = False, backend: str | None = None
) -> MailboxGateway:
    details = connection_details(brokerage, pending_secret=pending_secret, backend=backend)
    return open_gateway(details, token_provider())


def gateway_for_mailbox(mailbox: Mailbox) -> MailboxGateway:
    """The gateway of the mailbox's own brokerage: credentials are never used across brokerages (invariant 6)."""
    return gateway_for_brokerage(mailbox.brokerage)

"""Gateway fixtures: connection details for simulator tenants, a token provider on the real Redis that counts.

``gateway_for`` builds the gateway of the ``backend`` fixture (``ews`` unless a module parametrizes it:
``pytestmark = pytest.mark.parametrize("backend", BACKENDS)`` runs its tests on EWS and on Graph).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from mailboxes.connection import ConnectionDetails
from mailboxes.gateway import MailboxGateway, open_gateway
from mailboxes.secret import Secret
from mailboxes.tokens import RedisTokenStore, TokenProvider


class CountingStore(RedisTokenStore):
    """The real Redis store, counting what the provider asks of it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: Counter[str] = Counter()

    def get(self, key):
        self.calls["get"] += 1
        return super().get(key)

    def set(self, key, value, ttl_seconds):
        self.calls["set"] += 1
        return super().set(key, value, ttl_seconds)

    def acquire_lock(self, key, ttl_seconds):
        self.calls["lock"] += 1
        return super().acquire_lock(key, ttl_seconds)


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")


@pytest.fixture
def token_prefix() -> str:
    """A key prefix of this test alone, so no token cached by another test is ever reused."""
    return f"test-token:{uuid.uuid4().hex[:8]}"


@pytest.fixture
def token_store(redis_url) -> CountingStore:
    return CountingStore(redis_url)


@pytest.fixture
def tokens(token_store, token_prefix) -> TokenProvider:
    return TokenProvider(token_store, key_prefix=token_prefix)


def details_for(tenant, **overrides) -> ConnectionDetails:
    """The connection details staff would enter for a simulator tenant."""
    values = dict(
        key=f"brokerage-{tenant.tenant_id[:8]}",
        tenant_id=tenant.tenant_id,
        client_id=tenant.client_id,
        client_secret=Secret(tenant.client_secret),
        authority_host=tenant.authority.rsplit("/", 1)[0],
        ews_url=tenant.ews_url,
        graph_url=tenant.graph_url,
        ca_bundle_path=tenant.ca_path,
        allowed_domains=frozenset({tenant.domain}),
    )
    values.update(overrides)
    return ConnectionDetails(**values)


BACKENDS = ("ews", "graph")


@pytest.fixture
def backend() -> str:
    return "ews"


@pytest.fixture
def gateway_for(tokens, backend) -> Callable[..., MailboxGateway]:
    def make(tenant, **overrides) -> MailboxGateway:
        return open_gateway(details_for(tenant, **{"backend": backend, **overrides}), tokens)

    return make

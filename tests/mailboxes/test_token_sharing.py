"""The whole fleet asks Entra ID for one token per brokerage, audience and token lifetime (counted at the simulator)."""

from __future__ import annotations

import datetime
import multiprocessing
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mailboxes import errors
from mailboxes.connection import GRAPH_SCOPE, ClientCertificate
from mailboxes.items import Collection
from mailboxes.secret import Secret
from mailboxes.tokens import AccessToken, RedisTokenStore, TokenProvider, _encode
from tests.mailboxes.conftest import details_for
from tests.mailboxes.fleet_worker import reach_mailboxes

WORKERS = 4


def token_requests(simulator, client_id: str) -> int:
    return simulator.stats().get("token_app", {}).get(client_id, 0)


def run_fleet(tenant, redis_url: str, key_prefix: str, backend: str = "ews") -> list[int]:
    plain = {
        "key": "fleet", "tenant_id": tenant.tenant_id, "client_id": tenant.client_id,
        "client_secret": tenant.client_secret, "authority_host": tenant.authority.rsplit("/", 1)[0],
        "ews_url": tenant.ews_url, "graph_url": tenant.graph_url, "ca_bundle_path": tenant.ca_path,
        "allowed_domains": [tenant.domain], "backend": backend,
    }
    start_at = time.time() + 4.0  # enough for every spawned process to import exchangelib first
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        jobs = [pool.apply_async(reach_mailboxes, (plain, tenant.mailboxes, redis_url, key_prefix, start_at))
                for _ in range(WORKERS)]
        return [job.get(timeout=60) for job in jobs]


def test_worker_processes_share_one_token_per_lifetime(simulator, sim_tenant, redis_url, token_prefix):
    # Given a brokerage with several mailboxes and short-lived tokens (12 s, refreshed 1.2 s before expiry)
    simulator.settings(token_lifetime=12)
    tenant = sim_tenant(mailboxes=3)
    # When four worker processes reach every mailbox at the same moment
    assert run_fleet(tenant, redis_url, token_prefix) == [3] * WORKERS
    # Then Entra ID saw exactly one token request
    assert token_requests(simulator, tenant.client_id) == 1
    # And when the fleet works again after that token's lifetime, exactly one more
    time.sleep(12)
    assert run_fleet(tenant, redis_url, token_prefix) == [3] * WORKERS
    assert token_requests(simulator, tenant.client_id) == 2


def test_graph_workers_share_one_graph_token_and_an_exchange_token_is_cached_apart(simulator, sim_tenant, redis_url,
                                                                                 token_prefix, tokens):
    # Given a brokerage on Graph, its fleet of four processes reaching every mailbox at the same moment
    tenant = sim_tenant(mailboxes=3)
    assert run_fleet(tenant, redis_url, token_prefix, backend="graph") == [3] * WORKERS
    # Then Entra ID saw one token request, for Graph's audience, which this process now reuses too
    assert token_requests(simulator, tenant.client_id) == 1
    details = details_for(tenant)
    graph = tokens.get_token(details, scope=GRAPH_SCOPE)
    assert token_requests(simulator, tenant.client_id) == 1 and "Contacts.ReadWrite" in graph.roles()
    # And an Exchange token is its own request under its own key, never the Graph token
    exchange = tokens.get_token(details)
    assert token_requests(simulator, tenant.client_id) == 2
    assert exchange.value.reveal() != graph.value.reveal() and exchange.roles() == {"full_access_as_app"}
    assert tokens.cache_key(details) != tokens.cache_key(details, GRAPH_SCOPE)
    # And both stay cached for every other process (a new provider over the same store asks nobody)
    other = TokenProvider(RedisTokenStore(redis_url), key_prefix=token_prefix)
    assert other.get_token(details, scope=GRAPH_SCOPE).value.reveal() == graph.value.reveal()
    assert other.get_token(details).value.reveal() == exchange.value.reveal()
    assert token_requests(simulator, tenant.client_id) == 2


def test_a_scope_of_no_known_audience_is_refused(sim_tenant, tokens):
    with pytest.raises(ValueError):
        tokens.get_token(details_for(sim_tenant()), scope="https://example.com/.default")


def test_threads_of_one_process_and_repeated_calls_reuse_the_cached_token(simulator, sim_tenant, tokens, token_store):
    # Given one provider and a brokerage
    tenant = sim_tenant()
    details = details_for(tenant)
    # When it is asked for a token many times
    values = {tokens.get_token(details).value.reveal() for _ in range(20)}
    # Then one token was requested and stored once, and the MSAL app was built once
    assert len(values) == 1 and token_requests(simulator, tenant.client_id) == 1
    assert token_store.calls["set"] == 1 and tokens.app_count == 1


def test_a_fresh_token_proves_the_credential_even_when_one_is_cached(simulator, sim_tenant, tokens):
    tenant = sim_tenant()
    details = details_for(tenant)
    tokens.get_token(details)
    tokens.get_token(details, fresh=True)
    assert token_requests(simulator, tenant.client_id) == 2


def test_a_rotated_secret_does_not_reuse_the_old_secrets_token(simulator, sim_tenant, tokens):
    # Given a token cached for the current secret, and a new secret added in Entra ID
    tenant = sim_tenant()
    tokens.get_token(details_for(tenant))
    new = simulator.add_secret(tenant.tenant_id, tenant.client_id, lifetime_days=30)
    # When the pending secret is used
    tokens.get_token(details_for(tenant, client_secret=Secret(new["value"])))
    # Then it asked Entra ID itself (its own cache entry), proving the new secret works
    assert token_requests(simulator, tenant.client_id) == 2


def test_msal_apps_are_bounded_per_process(sim_tenant, token_store, token_prefix):
    provider = TokenProvider(token_store, key_prefix=token_prefix, max_apps=2)
    for _ in range(3):
        provider.get_token(details_for(sim_tenant()))
    assert provider.app_count == 2


def test_a_long_lived_gateway_refreshes_its_token_through_the_provider(simulator, sim_tenant, gateway_for):
    # Given a gateway with pooled sessions, used with a 6-second token
    simulator.settings(token_lifetime=6)
    tenant = sim_tenant()
    gateway = gateway_for(tenant)
    gateway.check_mailbox(tenant.mailboxes[0])
    refused_before = simulator.stats().get("ews_unauthorized", {})
    # When it is used again after that token expired
    time.sleep(6.5)
    gateway.fetch(tenant.mailboxes[0], Collection.CONTACTS, [])
    gateway.check_collection(tenant.mailboxes[0], Collection.CONTACTS)
    # Then its requests carried the provider's new token (one more request at Entra ID, none refused by EWS)
    assert token_requests(simulator, tenant.client_id) == 2
    assert simulator.stats().get("ews_unauthorized", {}) == refused_before


def test_certificate_credentials_get_a_token(simulator, sim_tenant, tokens):
    # Given an app registration with an uploaded certificate instead of a secret
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Engage Sync")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    tenant = sim_tenant()
    simulator.add_certificate(tenant.tenant_id, tenant.client_id, cert_pem)
    certificate = ClientCertificate(Secret(key_pem), cert.fingerprint(hashes.SHA1()).hex())  # noqa: S303 - Entra's thumbprint is SHA-1
    details = details_for(tenant, client_secret=None, certificate=certificate)
    # When a token is requested with it, Then Entra ID issues one with the Exchange role
    assert "full_access_as_app" in tokens.get_token(details, fresh=True).roles()


def test_a_token_exchange_refuses_is_discarded_and_replaced(simulator, sim_tenant, tokens, token_store, gateway_for):
    # Given a shared cache holding a token Exchange will refuse (minted for another audience)
    tenant = sim_tenant()
    details = details_for(tenant)
    wrong = simulator.mint_token(tenant.tenant_id, tenant.client_id, resource="https://graph.microsoft.com")
    token_store.set(tokens.cache_key(details), _encode(AccessToken(Secret(wrong), time.time() + 3000)), 3000)
    gateway = gateway_for(tenant)
    # When the gateway uses it, Then the refusal is classified and the refused token leaves the shared cache
    with pytest.raises(errors.TokenRejected):
        gateway.check_mailbox(tenant.mailboxes[0])
    assert tokens.get_token(details).value.reveal() != wrong
    # And the retry fetches a good token and works
    gateway.check_mailbox(tenant.mailboxes[0])
    assert token_requests(simulator, tenant.client_id) == 1

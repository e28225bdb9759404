"""One credentials/Configuration/Protocol per brokerage per process: using a brokerage again does not grow
exchangelib's process-wide Protocol cache, and evicted brokerages leave it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailboxes import errors
from mailboxes.ews import EwsGateway
from mailboxes.ews_transport import BrokerageRegistry, protocol_cache_size
from mailboxes.items import Collection
from tests.mailboxes.conftest import details_for


def test_using_a_brokerage_repeatedly_keeps_one_protocol(sim_tenant, tokens):
    # Given a brokerage already used once in this process
    tenant = sim_tenant(mailboxes=2)
    EwsGateway(details_for(tenant), tokens).check_mailbox(tenant.mailboxes[0])
    cached = protocol_cache_size()
    # When it is verified and used 30 more times, each time through new gateway and details objects
    for n in range(30):
        gateway = EwsGateway(details_for(tenant), tokens)
        gateway.check_mailbox(tenant.mailboxes[n % 2])
        gateway.check_token()
    # Then exchangelib holds no new Protocol, and every gateway shared the same exchangelib objects
    assert protocol_cache_size() == cached
    assert EwsGateway(details_for(tenant), tokens)._ews is gateway._ews


def test_evicted_brokerages_release_their_protocol(sim_tenant, tokens, monkeypatch):
    # Given a registry that keeps two brokerages per process
    registry = BrokerageRegistry(max_brokerages=2)
    monkeypatch.setattr("mailboxes.ews.REGISTRY", registry)
    before = protocol_cache_size()
    # When five brokerages are used one after another
    for _ in range(5):
        tenant = sim_tenant()
        EwsGateway(details_for(tenant), tokens).check_mailbox(tenant.mailboxes[0])
    # Then only two Protocols remain in exchangelib's cache for them
    assert len(registry) == 2 and protocol_cache_size() == before + 2


def test_a_worker_reuses_a_mailboxs_resolved_folders_across_gateways(simulator, sim_tenant, tokens):
    # Given a mailbox synced once on this worker
    tenant = sim_tenant()
    mailbox = tenant.mailboxes[0]
    list(EwsGateway(details_for(tenant), tokens).read_changes(mailbox, Collection.CONTACTS, None))
    before = simulator.stats()["ews_operation"].get("GetFolder", 0)
    # When it is synced again through new gateway objects
    for _ in range(3):
        list(EwsGateway(details_for(tenant), tokens).read_changes(mailbox, Collection.CONTACTS, None))
    # Then no folder was looked up again
    assert simulator.stats()["ews_operation"].get("GetFolder", 0) == before


def test_every_ews_call_has_a_timeout(simulator, sim_tenant, tokens, monkeypatch):
    # Given a brokerage whose EWS answers after 3 s, and a 1 s HTTP timeout
    monkeypatch.setattr("mailboxes.ews.REGISTRY", BrokerageRegistry(timeout=1.0))
    tenant = sim_tenant()
    gateway = EwsGateway(details_for(tenant), tokens)
    gateway.check_token()
    simulator.add_fault("latency", mailbox=tenant.mailboxes[0], seconds=3, count=1)
    # When it is called, Then it gives up after the timeout with a transient network error
    started = time.monotonic()
    with pytest.raises(errors.TransientNetwork):
        gateway.check_mailbox(tenant.mailboxes[0])
    assert time.monotonic() - started < 2.5


def test_a_brokerage_never_has_more_connections_than_its_pool(simulator, sim_tenant, tokens, monkeypatch):
    # Given a pool of 2 connections per brokerage and EWS answers that each take 0.3 s
    registry = BrokerageRegistry(max_connections=2)
    monkeypatch.setattr("mailboxes.ews.REGISTRY", registry)
    tenant = sim_tenant(mailboxes=3)
    gateway = EwsGateway(details_for(tenant), tokens)
    gateway.check_token()
    simulator.add_fault("latency", tenant_id=tenant.tenant_id, seconds=0.3, count=12)
    # When six threads work on its mailboxes at once
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: gateway.check_collection(tenant.mailboxes[n % 3], Collection.CONTACTS), range(6)))
    elapsed = time.monotonic() - started
    # Then they shared two connections: the 12 slow answers took at least 6 rounds of 0.3 s
    assert gateway._ews.protocol.session_pool_size <= 2
    assert elapsed >= 12 * 0.3 / 2 - 0.1


def test_the_account_cache_is_bounded_across_brokerages_and_forgets_a_closed_one():
    from mailboxes.ews_transport import AccountCache

    cache, built = AccountCache(max_accounts=3), []

    def build(name):
        return lambda: built.append(name) or name

    for owner, address in [("b1", "a"), ("b2", "a"), ("b1", "b"), ("b1", "a"), ("b2", "c")]:
        cache.get(owner, address, build(f"{owner}/{address}"))
    # The same mailbox of the same brokerage was built once; the least recently used one was evicted
    assert built == ["b1/a", "b2/a", "b1/b", "b2/c"]
    cache.get("b2", "a", build("b2/a again"))
    assert built[-1] == "b2/a again"
    cache.drop("b1")
    cache.get("b1", "a", build("b1/a again"))
    assert built[-1] == "b1/a again"

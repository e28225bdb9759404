"""One credentials/Configuration/Protocol per brokerage per process: using a brokerage again does not grow
exchangelib's process-wide Protocol cache, and evicted brokerages leave it."""

from __future__ import annotations

from mailboxes.ews import EwsGateway
from mailboxes.ews_transport import BrokerageRegistry, protocol_cache_size
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

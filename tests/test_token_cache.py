"""The fleet's shared token cache holds ciphertext only: a Redis dump shows no usable access token."""

import pytest
import redis
from django.conf import settings

from brokerages import crypto
from brokerages.gateways import connection_details, gateway_for_brokerage, token_provider
from mailboxes.connection import GRAPH_SCOPE
from tests.fixtures.crm import brokerage_for

pytestmark = pytest.mark.django_db


def test_access_tokens_are_encrypted_in_redis_and_still_shared(sim_tenant):
    # Given a brokerage of a simulator tenant
    tenant = sim_tenant(mailboxes=1)
    brokerage = brokerage_for(tenant, "Cipher Realty")
    # When the gateway reaches a mailbox (a token is fetched and cached for the fleet)
    gateway_for_brokerage(brokerage).check_mailbox(tenant.mailboxes[0])
    details = connection_details(brokerage)
    token = token_provider().get_token(details).value.reveal()
    # Then Redis holds the token only as ciphertext that the credential keys open
    stored = redis.Redis.from_url(settings.REDIS_URL).get(token_provider().cache_key(details))
    assert stored is not None
    assert token.encode() not in stored
    assert token in crypto.decrypt(stored.decode())


def test_a_graph_brokerage_reaches_graph_at_its_url_with_an_encrypted_graph_token(sim_tenant):
    # Given a brokerage on the Graph backend whose Graph URL is the simulator's
    tenant = sim_tenant(mailboxes=1)
    brokerage = brokerage_for(tenant, "Graph Realty", mailbox_backend="graph")
    details = connection_details(brokerage)
    assert details.graph_url == tenant.graph_url and details.backend == "graph"
    # When its gateway reaches a mailbox, Then it went through Graph with a Graph token, ciphertext in Redis
    gateway_for_brokerage(brokerage).check_mailbox(tenant.mailboxes[0])
    token = token_provider().get_token(details, scope=GRAPH_SCOPE).value.reveal()
    stored = redis.Redis.from_url(settings.REDIS_URL).get(token_provider().cache_key(details, GRAPH_SCOPE))
    assert stored is not None and token.encode() not in stored and token in crypto.decrypt(stored.decode())
    assert redis.Redis.from_url(settings.REDIS_URL).get(token_provider().cache_key(details)) is None

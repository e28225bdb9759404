"""The fleet's shared token cache holds ciphertext only: a Redis dump shows no usable access token."""

import pytest
import redis
from django.conf import settings

from brokerages import crypto
from brokerages.gateways import connection_details, gateway_for_brokerage, token_provider
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

"""Per-credential rate limits: over API_RATE_LIMIT a client gets 429 with Retry-After; other clients are untouched."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from engage_sync.api.rates import parse_rate
from sync.models import Contact

pytestmark = pytest.mark.django_db


@override_settings(API_RATE_LIMIT="3/minute")
def test_a_client_over_its_rate_gets_a_json_429_with_retry_after(api_client, mailbox):
    url = f"/api/mailboxes/{mailbox.pk}/contacts/"
    # Given a client that has used its three requests of this minute
    assert [api_client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    # When it asks again
    response = api_client.get(url)
    # Then it is refused with 429, told when to come back, in the API's error shape
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["retry_after"] == retry_after


@override_settings(API_RATE_LIMIT="2/minute")
def test_a_throttled_write_stores_nothing(api_client, mailbox):
    url = f"/api/mailboxes/{mailbox.pk}/contacts/"
    api_client.get(url), api_client.get(url)
    response = api_client.post(url, {"given_name": "Ada"}, format="json")
    assert response.status_code == 429
    assert not Contact.objects.exists()


@override_settings(API_RATE_LIMIT="2/minute")
def test_each_credential_has_its_own_budget(make_api_client, mailbox):
    url = f"/api/mailboxes/{mailbox.pk}/contacts/"
    busy, quiet = make_api_client(), make_api_client()
    assert [busy.get(url).status_code for _ in range(3)] == [200, 200, 429]
    assert quiet.get(url).status_code == 200


@pytest.mark.parametrize(("rate", "parsed"), [("600/minute", (600, 60)), ("20/s", (20, 1)), ("100/10s", (100, 10)),
                                              ("5000/hour", (5000, 3600)), ("1/day", (1, 86400))])  # fmt: skip
def test_rates_are_read_as_documented(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["", "600", "0/minute", "ten/minute", "5/fortnight"])
def test_a_malformed_rate_stops_start_up_naming_the_variable(rate):
    with pytest.raises(ImproperlyConfigured, match="API_RATE_LIMIT"):
        parse_rate(rate)

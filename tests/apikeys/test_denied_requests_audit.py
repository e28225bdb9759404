"""Refused API requests are counted per hour, key and reason (bounded rows), pruned after the retention period."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from apikeys.models import ApiKey, DeniedApiRequests
from tasks import maintenance
from tests.fixtures.crm import key_client

pytestmark = pytest.mark.django_db


def test_each_kind_of_refusal_is_counted_in_one_row_per_hour_however_many_requests(tenants, make_key):
    # Given keys refused for each reason
    a, b = tenants["A"].mailbox.pk, tenants["B"].mailbox.pk
    _, scoped = make_key(["A"], ["contacts:read"])
    expired, expired_raw = make_key(["A"], expiry_date=timezone.now() - dt.timedelta(days=1))
    revoked, revoked_raw = make_key(["A"], revoked=True)

    # When each is used three times where it is refused (and once where it is not)
    for _ in range(3):
        key_client(scoped).get(f"/api/mailboxes/{b}/contacts/")  # another brokerage: 404
        key_client(scoped).post(f"/api/mailboxes/{a}/contacts/", {}, format="json")  # no contacts:write: 403
        key_client(expired_raw).get(f"/api/mailboxes/{a}/contacts/")
        key_client(revoked_raw).get(f"/api/mailboxes/{a}/contacts/")
        key_client("Zzzzzzzz.not-a-key-we-issued-at-all-000000").get(f"/api/mailboxes/{a}/contacts/")
    assert key_client(scoped).get(f"/api/mailboxes/{a}/contacts/").status_code == 200

    # Then there is one row per key and reason, counting three, with the last request's method and path
    rows = {(row.key_prefix, row.reason): row for row in DeniedApiRequests.objects.all()}
    assert {pair: row.count for pair, row in rows.items()} == {
        (scoped[:8], "out_of_scope"): 3, (scoped[:8], "missing_permission"): 3, (expired.prefix, "expired"): 3,
        (revoked.prefix, "revoked"): 3, ("", "invalid_key"): 3,
    }  # fmt: skip
    permission_row = rows[(scoped[:8], "missing_permission")]
    assert (permission_row.last_method, permission_row.last_path) == ("POST", f"/api/mailboxes/{a}/contacts/")
    assert permission_row.api_key == ApiKey.objects.get(prefix=scoped[:8])


@override_settings(API_DENIED_RETENTION_DAYS=30)
def test_tallies_past_the_retention_period_are_pruned_by_the_hourly_task(make_key):
    # Given tallies from 40 days ago and from today
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for hour in (now - dt.timedelta(days=40), now - dt.timedelta(days=40, hours=1), now):
        DeniedApiRequests.objects.create(hour=hour, reason="invalid_key", count=5)

    # When the maintenance task runs, then only the old ones are gone
    assert maintenance.prune_denied_api_requests.apply().get() == 2
    assert list(DeniedApiRequests.objects.values_list("hour", flat=True)) == [now]


def test_last_use_is_written_at_most_once_a_minute(tenants, make_key):
    # Given a key used once
    key, raw = make_key(["A"])
    url = f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/"
    client = key_client(raw)
    client.get(url)
    first_use = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first_use is not None

    # When it is used again within the minute, then nothing is written
    client.get(url)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first_use
    # ... and once the last use is over a minute old, the next use is recorded
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first_use - dt.timedelta(minutes=2))
    client.get(url)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first_use


def test_two_requests_racing_on_a_stale_last_use_write_it_once(make_key):
    # Given two requests that both loaded the key while its last use was an hour old
    key, _ = make_key(["A"])
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - dt.timedelta(hours=1))
    first, second = ApiKey.objects.get(pk=key.pk), ApiKey.objects.get(pk=key.pk)

    # When both record their use, then only the first write lands
    first.note_use()
    second.note_use()
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first.last_used_at


def test_a_refusal_is_logged_with_the_prefix_and_never_the_key(tenants, make_key, caplog):
    _, raw = make_key(["A"], revoked=True)
    key_client(raw).get(f"/api/mailboxes/{tenants['A'].mailbox.pk}/contacts/")
    [record] = [r for r in caplog.records if r.name == "apikeys.audit"]
    assert record.levelname == "WARNING"
    assert raw[:8] in record.getMessage() and "revoked" in record.getMessage()
    assert raw.split(".")[1] not in caplog.text

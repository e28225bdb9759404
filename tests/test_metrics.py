"""The /metrics endpoint: refused without the bearer token, and numbers that match the rows behind them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from brokerages.models import Brokerage, Mailbox
from mailboxes.tokens import TOKENS_FETCHED_KEY, RedisTokenStore
from outbox.models import OutgoingEmail
from scheduling.models import SyncRun

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def brokerage_with(name: str, mailboxes: int, **fields) -> Brokerage:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    brokerage = Brokerage.objects.create(
        name=name, tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), client_secret="Zx8Q~metrics-test-secret",
        test_mailbox=f"test@{domain}", email_domains=[domain], status=fields.pop("status", Brokerage.Status.ACTIVE), **fields,
    )  # fmt: skip
    Mailbox.objects.bulk_create(Mailbox(brokerage=brokerage, email=f"agent{n}@{domain}") for n in range(mailboxes))
    return brokerage


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_are_refused_without_the_right_bearer_token(client, settings):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    # and with no token configured the endpoint does not exist at all
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_metrics_report_runs_lag_overdue_throttles_emails_and_tokens_from_the_rows(client):
    # Given two active brokerages (5-minute interval), one paused, and their mailboxes' schedules
    now = timezone.now()
    busy, calm = brokerage_with("Busy", 4), brokerage_with("Calm", 2)
    paused = brokerage_with("Paused", 1, status=Brokerage.Status.PAUSED)
    b0, b1, b2, b3 = busy.mailboxes.order_by("email")
    c0, c1 = calm.mailboxes.order_by("email")
    Mailbox.objects.update(next_sync_at=now + dt.timedelta(minutes=4))  # on schedule
    Mailbox.objects.filter(pk=b0.pk).update(next_sync_at=now - dt.timedelta(minutes=30))  # overdue, oldest due
    Mailbox.objects.filter(pk=b1.pk).update(next_sync_at=now - dt.timedelta(minutes=10))  # overdue
    Mailbox.objects.filter(pk=b2.pk).update(next_sync_at=now - dt.timedelta(minutes=2))  # due, not yet overdue
    Mailbox.objects.filter(pk=c0.pk).update(next_sync_at=now - dt.timedelta(hours=2),  # leased: syncing, not lag
                                            lease_expires_at=now + dt.timedelta(minutes=5))  # fmt: skip
    Mailbox.objects.filter(brokerage=paused).update(next_sync_at=now - dt.timedelta(hours=5))  # kill switch: ignored
    # ... runs inside the 5-minute window and one outside it
    def run(mailbox, outcome, error_class="", minutes_ago=1):
        SyncRun.objects.create(mailbox=mailbox, brokerage_id=mailbox.brokerage_id, outcome=outcome, error_class=error_class,
                               started_at=now - dt.timedelta(minutes=minutes_ago))  # fmt: skip
    for _ in range(3):
        run(b3, SyncRun.Outcome.OK)
    run(b3, SyncRun.Outcome.FAILED, "server_error")
    run(b2, SyncRun.Outcome.THROTTLED, "throttled")
    run(b2, SyncRun.Outcome.THROTTLED, "throttled")
    run(c1, SyncRun.Outcome.OK)
    run(c1, SyncRun.Outcome.FAILED, "server_error", minutes_ago=20)  # outside the window
    Brokerage.objects.filter(pk=busy.pk).update(cooldown_until=now + dt.timedelta(seconds=90))
    # ... emails in three states
    for status, count in ((OutgoingEmail.Status.QUEUED, 2), (OutgoingEmail.Status.SENT, 3), (OutgoingEmail.Status.FAILED, 1)):
        for n in range(count):
            OutgoingEmail.objects.create(mailbox=c1, idempotency_key=f"{status}-{n}", status=status, to=["x@example.com"])
    # ... and tokens fetched, counted in Redis the way the token provider counts them
    redis.Redis.from_url(settings.REDIS_URL).delete(TOKENS_FETCHED_KEY)
    store = RedisTokenStore(settings.REDIS_URL)
    store.count_token_fetch(str(busy.pk))
    store.count_token_fetch(str(busy.pk))
    store.count_token_fetch(str(calm.pk))

    # When Prometheus scrapes
    metrics = scrape(client)

    # Then every figure matches the rows
    def value(metric, **labels):
        return metrics.get((metric, tuple(sorted(labels.items()))), 0)

    assert value("engage_sync_sync_runs_recent", outcome="ok", error_class="") == 4
    assert value("engage_sync_sync_runs_recent", outcome="failed", error_class="server_error") == 1
    assert value("engage_sync_sync_runs_recent", outcome="throttled", error_class="throttled") == 2
    assert value("engage_sync_throttle_events_recent", brokerage_id=str(busy.pk)) == 2
    assert value("engage_sync_throttle_events_recent", brokerage_id=str(calm.pk)) == 0
    assert value("engage_sync_metrics_window_seconds") == 300
    # Busy is cooling down, so its due mailboxes are held back on purpose: the lag is Calm's (none due) = 0
    assert value("engage_sync_dispatch_lag_seconds") == 0
    assert 85 <= value("engage_sync_brokerage_cooldown_seconds", brokerage_id=str(busy.pk)) <= 90
    assert value("engage_sync_mailboxes_overdue", brokerage_id=str(busy.pk)) == 2
    assert value("engage_sync_mailboxes_overdue", brokerage_id=str(paused.pk)) == 0
    assert value("engage_sync_mailboxes_syncing") == 1
    assert value("engage_sync_brokerages", status="active") == 2 and value("engage_sync_brokerages", status="paused") == 1
    assert value("engage_sync_brokerage_info", brokerage_id=str(paused.pk), name="Paused", status="paused") == 1
    assert [value("engage_sync_outgoing_emails", status=s) for s in ("queued", "sending", "sent", "failed")] == [2, 0, 3, 1]
    assert value("engage_sync_tokens_fetched_total", brokerage_id=str(busy.pk)) == 2
    assert value("engage_sync_tokens_fetched_total", brokerage_id=str(calm.pk)) == 1

    # When the cool-down ends, the lag is the oldest due, unleased mailbox's wait: b0's 30 minutes
    Brokerage.objects.filter(pk=busy.pk).update(cooldown_until=None)
    assert 30 * 60 <= scrape(client)[("engage_sync_dispatch_lag_seconds", ())] < 31 * 60


def test_tokens_fetched_counts_real_token_requests_at_entra_id_not_cache_hits(client, simulator, sim_tenant):
    # Given a brokerage's tenant in the Microsoft 365 simulator and a token provider on the real Redis
    from mailboxes.tokens import TokenProvider
    from tests.mailboxes.conftest import details_for

    brokerage = brokerage_with("Tokens", 0)
    redis.Redis.from_url(settings.REDIS_URL).hdel(TOKENS_FETCHED_KEY, str(brokerage.pk))
    provider = TokenProvider(RedisTokenStore(settings.REDIS_URL), key_prefix=f"test-token:{uuid.uuid4().hex[:8]}")
    details = details_for(sim_tenant(), key=str(brokerage.pk))

    # When workers ask for its token five times (one fetch, four cache hits) and verification forces a fresh one
    for _ in range(5):
        provider.get_token(details)
    provider.get_token(details, fresh=True)

    # Then the metric counts the two requests that reached Entra ID
    assert scrape(client)[("engage_sync_tokens_fetched_total", (("brokerage_id", str(brokerage.pk)),))] == 2

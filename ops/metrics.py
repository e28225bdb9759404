"""Prometheus metrics of the fleet, computed from PostgreSQL (and one Redis hash) at scrape time.

Why not counters incremented in the worker processes: the fleet is many processes on many hosts, so
in-process counters would need prometheus_client's multiprocess mode per host plus a scrape target per
host, and they reset whenever a worker restarts. Every fact we report is already in the shared stores
(sync runs, schedule fields, the outbox), so one scrape of any web process gives the whole fleet, and
losing a worker loses no numbers. The price is a few indexed queries per scrape (see deploy/README.md).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from brokerages.models import Brokerage, Mailbox
from mailboxes.tokens import TOKENS_FETCHED_KEY
from outbox.models import OutgoingEmail
from scheduling.models import SyncRun

from .health import behind_schedule


class FleetCollector:
    """Yields the domain metrics; prometheus_client calls collect() on every scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        window = settings.METRICS_WINDOW_SECONDS
        since = now - timedelta(seconds=window)
        recent = SyncRun.objects.filter(started_at__gte=since).order_by()

        runs = GaugeMetricFamily(
            "engage_sync_sync_runs_recent",
            f"Sync runs started in the last {window} s (METRICS_WINDOW_SECONDS), by outcome and error class.",
            labels=["outcome", "error_class"],
        )
        for row in recent.values("outcome", "error_class").annotate(n=Count("pk")):
            runs.add_metric([row["outcome"], row["error_class"]], row["n"])
        yield runs

        throttles = GaugeMetricFamily(
            "engage_sync_throttle_events_recent",
            f"Sync runs that Microsoft throttled in the last {window} s, by brokerage id.",
            labels=["brokerage_id"],
        )
        for row in recent.filter(outcome=SyncRun.Outcome.THROTTLED).values("brokerage_id").annotate(n=Count("pk")):
            throttles.add_metric([str(row["brokerage_id"])], row["n"])
        yield throttles

        yield GaugeMetricFamily("engage_sync_metrics_window_seconds", "The window of the *_recent gauges.", value=window)

        dispatchable = Q(is_active=True, sync_paused=False, brokerage__status=Brokerage.Status.ACTIVE) & (
            Q(brokerage__cooldown_until__isnull=True) | Q(brokerage__cooldown_until__lte=now)
        )
        unleased = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
        oldest_due = Mailbox.objects.filter(dispatchable & unleased, next_sync_at__lte=now).aggregate(
            oldest=Min("next_sync_at")
        )["oldest"]
        yield GaugeMetricFamily(
            "engage_sync_dispatch_lag_seconds",
            "Now minus the oldest due time of an unleased mailbox of an active brokerage not cooling down (0: none due).",
            value=(now - oldest_due).total_seconds() if oldest_due else 0.0,
        )

        overdue = GaugeMetricFamily(
            "engage_sync_mailboxes_overdue",
            "Mailboxes behind schedule (due more than one sync interval ago and not syncing), by brokerage id.",
            labels=["brokerage_id"],
        )
        for row in Mailbox.objects.filter(behind_schedule(now)).order_by().values("brokerage_id").annotate(n=Count("pk")):
            overdue.add_metric([str(row["brokerage_id"])], row["n"])
        yield overdue

        in_flight = GaugeMetricFamily("engage_sync_mailboxes_syncing", "Mailboxes holding a live sync lease.")
        in_flight.add_metric([], Mailbox.objects.filter(lease_expires_at__gt=now).count())
        yield in_flight

        cooling = GaugeMetricFamily(
            "engage_sync_brokerage_cooldown_seconds", "Seconds left of a brokerage's throttling cool-down.", labels=["brokerage_id"]
        )
        for pk, until in Brokerage.objects.filter(cooldown_until__gt=now).values_list("pk", "cooldown_until"):
            cooling.add_metric([str(pk)], (until - now).total_seconds())
        yield cooling

        statuses = GaugeMetricFamily("engage_sync_brokerages", "Brokerages by status.", labels=["status"])
        names = GaugeMetricFamily(
            "engage_sync_brokerage_info", "1 per brokerage: its name and status, to join on brokerage_id.",
            labels=["brokerage_id", "name", "status"],
        )  # fmt: skip
        for pk, name, status in Brokerage.objects.order_by("pk").values_list("pk", "name", "status"):
            names.add_metric([str(pk), name, status], 1)
        yield names
        counted = dict(Brokerage.objects.order_by().values_list("status").annotate(n=Count("pk")))
        for status in Brokerage.Status.values:
            statuses.add_metric([status], counted.get(status, 0))
        yield statuses

        emails = GaugeMetricFamily("engage_sync_outgoing_emails", "Outgoing emails by status.", labels=["status"])
        # count(*), not count(id): an index-only scan of outbox_due (status first) instead of reading every row.
        counted = dict(OutgoingEmail.objects.order_by().values_list("status").annotate(n=Count("*")))
        for status in OutgoingEmail.Status.values:
            emails.add_metric([status], counted.get(status, 0))
        yield emails

        tokens = CounterMetricFamily(
            "engage_sync_tokens_fetched", "Access tokens fetched from Entra ID, by brokerage id (fleet-wide, kept in Redis).",
            labels=["brokerage_id"],
        )  # fmt: skip
        for brokerage_key, count in _tokens_fetched().items():
            tokens.add_metric([brokerage_key], count)
        yield tokens


def _tokens_fetched() -> dict[str, int]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        return {key.decode(): int(value) for key, value in client.hgetall(TOKENS_FETCHED_KEY).items()}
    finally:
        client.close()


_registry = CollectorRegistry(auto_describe=False)
_registry.register(FleetCollector())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The scrape endpoint: 404 while METRICS_TOKEN is unset, 401 without the right bearer token."""
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404("metrics are off: set METRICS_TOKEN")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)

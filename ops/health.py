"""Per-brokerage sync health, as staff see it on the brokerage pages and ops in the metrics.

"Behind schedule" is defined once, here: an active, unpaused mailbox of an active brokerage whose due time
passed more than one whole sync interval ago and that no live lease is working on. A mailbox backing off
after failures is not behind (its due time is in the future); its failures show in the runs instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import TruncHour
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from scheduling.models import SyncRun

Outcome = SyncRun.Outcome
LIST_WINDOW = timedelta(hours=1)  # the compact list column: cheap enough for a page of brokerages
PAGE_WINDOW = timedelta(hours=24)


def behind_schedule(now: datetime, *, mailbox: str = "", brokerage: str = "brokerage__") -> Q:
    """The condition for "behind schedule", from a Mailbox query (defaults) or from a Brokerage one
    (``mailbox="mailboxes__", brokerage=""``)."""
    one_interval = ExpressionWrapper(F(f"{brokerage}sync_interval_seconds") * Value(timedelta(seconds=1)), output_field=DurationField())
    overdue_since = ExpressionWrapper(Value(now) - one_interval, output_field=DateTimeField())
    return (
        Q(**{f"{mailbox}is_active": True, f"{mailbox}sync_paused": False, f"{brokerage}status": Brokerage.Status.ACTIVE})
        & Q(**{f"{mailbox}next_sync_at__lt": overdue_since})
        & (Q(**{f"{mailbox}lease_expires_at__isnull": True}) | Q(**{f"{mailbox}lease_expires_at__lte": now}))
    )


def annotate_list_health(brokerages: QuerySet[Brokerage], now: datetime | None = None) -> QuerySet[Brokerage]:
    """Add the mailbox part of the list's compact health column: last success and how many are behind.

    Both aggregate over the mailbox join the list already makes (for its mailbox count); the run counts are
    fetched for the page's rows alone by attach_recent_run_counts, since a correlated subquery next to that
    join would be grouped by, and so evaluated once per mailbox.
    """
    now = now or timezone.now()
    return brokerages.annotate(
        health_last_success=Max("mailboxes__last_synced_at"),
        health_behind=Count("mailboxes", filter=behind_schedule(now, mailbox="mailboxes__", brokerage="")),
    )


def attach_recent_run_counts(brokerages: list[Brokerage], now: datetime | None = None) -> None:
    """Set ``health_runs`` and ``health_failed`` (the last hour) on each brokerage: one grouped query."""
    since = (now or timezone.now()) - LIST_WINDOW
    attempted = [Outcome.OK, Outcome.FAILED, Outcome.THROTTLED, Outcome.PAUSED]
    counts = {
        row["brokerage_id"]: row
        for row in SyncRun.objects.filter(brokerage__in=[b.pk for b in brokerages], started_at__gte=since)
        .order_by()
        .values("brokerage_id")
        .annotate(runs=Count("pk", filter=Q(outcome__in=attempted)), failed=Count("pk", filter=Q(outcome=Outcome.FAILED)))
    }
    for brokerage in brokerages:
        row = counts.get(brokerage.pk, {})
        brokerage.health_runs, brokerage.health_failed = row.get("runs", 0), row.get("failed", 0)


@dataclass(frozen=True)
class HourBucket:
    hour: datetime
    ok: int = 0
    failed: int = 0
    throttled: int = 0
    paused: int = 0  # stopped by the mass-deletion guard
    skipped: int = 0  # did nothing: kill switch, inactive, paused or lease lost

    @property
    def attempted(self) -> int:
        """Runs that reached the mailbox (all but the skipped ones)."""
        return self.ok + self.failed + self.throttled + self.paused

    @property
    def total(self) -> int:
        return self.attempted + self.skipped


@dataclass(frozen=True)
class BrokerageHealth:
    """The brokerage page's health box: the last 24 hours of runs and the mailboxes' state now."""

    now: datetime
    last_success_at: datetime | None
    mailboxes: int
    behind_schedule: int
    in_flight: int
    paused_mailboxes: int
    cooldown_until: datetime | None
    hours: list[HourBucket]
    top_errors: list[tuple[str, int]] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return sum(h.total for h in self.hours)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hours)

    @property
    def throttled(self) -> int:
        return sum(h.throttled for h in self.hours)

    @property
    def skipped(self) -> int:
        """Runs that did nothing (kill switch, inactive, paused, lease lost): neither a success nor a failure."""
        return sum(h.skipped for h in self.hours)

    @property
    def failure_rate(self) -> float | None:
        """Failed runs over the runs that reached the mailbox (skipped runs did nothing); None without any."""
        attempted = sum(h.attempted for h in self.hours)
        return self.failed / attempted if attempted else None

    @property
    def cooling_down(self) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > self.now


def brokerage_health(brokerage: Brokerage, now: datetime | None = None) -> BrokerageHealth:
    """Compute the health box of one brokerage: three grouped queries over indexed ranges."""
    now = now or timezone.now()
    first_hour = now.replace(minute=0, second=0, microsecond=0) - (PAGE_WINDOW - timedelta(hours=1))
    runs = SyncRun.objects.filter(brokerage=brokerage, started_at__gte=first_hour)
    counts: dict[datetime, dict[str, int]] = {}
    for row in runs.annotate(hour=TruncHour("started_at")).order_by().values("hour", "outcome").annotate(n=Count("pk")):
        counts.setdefault(row["hour"], {})[row["outcome"]] = row["n"]
    hours = []
    for offset in range(int(PAGE_WINDOW / timedelta(hours=1))):
        hour = first_hour + timedelta(hours=offset)
        seen = counts.get(hour, {})
        hours.append(HourBucket(hour, **{outcome: seen.get(outcome, 0) for outcome in Outcome.values}))
    top_errors = list(
        runs.exclude(error_class="").order_by().values_list("error_class").annotate(n=Count("pk")).order_by("-n")[:5]
    )
    mailboxes = Mailbox.objects.filter(brokerage=brokerage).aggregate(
        total=Count("pk"),
        last_success=Max("last_synced_at"),
        behind=Count("pk", filter=behind_schedule(now)),
        in_flight=Count("pk", filter=Q(lease_expires_at__gt=now)),
        paused=Count("pk", filter=Q(sync_paused=True)),
    )
    return BrokerageHealth(
        now=now,
        last_success_at=mailboxes["last_success"],
        mailboxes=mailboxes["total"],
        behind_schedule=mailboxes["behind"],
        in_flight=mailboxes["in_flight"],
        paused_mailboxes=mailboxes["paused"],
        cooldown_until=brokerage.cooldown_until,
        hours=hours,
        top_errors=top_errors,
    )

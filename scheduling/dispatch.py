"""The dispatcher: lease the mailboxes that are due and publish one sync task each, in bulk.

Fair and bounded: mailboxes are ranked within their brokerage, so each brokerage gets its turn in a batch
and never has more than its cap leased at once; brokerages cooling down from throttling, paused or not
active are skipped. Only one dispatcher runs at a time (a PostgreSQL advisory lock), even if two beat
processes are started by mistake. Leases are committed before anything is published, so a task never
arrives for a lease that does not exist yet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction

from engage_sync.celery import app

log = logging.getLogger(__name__)

SYNC_TASK = "tasks.sync.sync_mailbox"
_DISPATCH_LOCK_ID = 0x454E_4753_4449_5350  # "ENGSDISP": one dispatcher in the whole fleet

# Rank due mailboxes within their brokerage; take each brokerage up to its free capacity, lowest ranks first
# across all brokerages (round robin), then lease them in the same statement.
_LEASE_DUE_SQL = """
WITH in_flight AS (
    SELECT brokerage_id, count(*) AS leased
    FROM brokerages_mailbox
    WHERE lease_expires_at > now()
    GROUP BY brokerage_id
), candidates AS (
    SELECT m.id, m.brokerage_id, m.next_sync_at, m.sync_priority, b.max_mailboxes_in_flight AS cap,
           row_number() OVER (PARTITION BY m.brokerage_id ORDER BY m.sync_priority DESC, m.next_sync_at) AS rank
    FROM brokerages_mailbox m
    JOIN brokerages_brokerage b ON b.id = m.brokerage_id
    WHERE m.next_sync_at <= now()
      AND m.is_active AND NOT m.sync_paused
      AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
      AND b.status = 'active'
      AND (b.cooldown_until IS NULL OR b.cooldown_until <= now())
      AND (%(only)s::bigint IS NULL OR m.id = %(only)s::bigint)
), chosen AS (
    SELECT c.id
    FROM candidates c LEFT JOIN in_flight f ON f.brokerage_id = c.brokerage_id
    WHERE c.rank + coalesce(f.leased, 0) <= c.cap
    ORDER BY c.sync_priority DESC, c.rank, c.next_sync_at
    LIMIT %(batch)s
)
UPDATE brokerages_mailbox m
SET lease_token = gen_random_uuid(), lease_owner = %(owner)s, lease_expires_at = now() + %(lease)s
FROM chosen
WHERE m.id = chosen.id AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
RETURNING m.id, m.lease_token, m.sync_priority
"""


@dataclass(frozen=True)
class Leased:
    mailbox_id: int
    lease_token: str
    priority: int


@dataclass(frozen=True)
class DispatchReport:
    leased: int
    published: int
    seconds: float
    skipped_locked: bool = False


def lease_due(batch: int, owner: str = "dispatcher", *, only_mailbox: int | None = None,
              wait_for_lock: bool = False) -> list[Leased] | None:  # fmt: skip
    """Lease up to ``batch`` due mailboxes in one statement; None when another dispatcher holds the lock.

    ``only_mailbox`` leases that one mailbox if it may sync now (a prompt sync); ``wait_for_lock`` waits for
    a running dispatcher instead of skipping, so the brokerage's cap holds for prompt syncs too.
    """
    lease = timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        if wait_for_lock:
            cursor.execute("SELECT pg_advisory_xact_lock(%s), true", [_DISPATCH_LOCK_ID])
        else:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_DISPATCH_LOCK_ID])
        if not cursor.fetchone()[-1]:
            return None
        cursor.execute(_LEASE_DUE_SQL, {"batch": batch, "owner": owner, "lease": lease, "only": only_mailbox})
        return [Leased(mailbox_id, str(token), priority) for mailbox_id, token, priority in cursor.fetchall()]


def publish(leased: list[Leased]) -> int:
    """Publish one sync task per lease over a single producer connection."""
    if not leased:
        return 0
    with app.producer_or_acquire() as producer:
        for item in leased:
            app.send_task(
                SYNC_TASK, args=[item.mailbox_id, item.lease_token], producer=producer, priority=item.priority
            )
    return len(leased)


def dispatch(*, batch: int | None = None, max_batches: int | None = None) -> DispatchReport:
    """Lease and publish due mailboxes, batch after batch, until none is due (or ``max_batches``)."""
    batch = batch or settings.DISPATCH_BATCH_SIZE
    started = time.monotonic()
    leased_total = published_total = 0
    for _ in range(max_batches or settings.DISPATCH_MAX_BATCHES):
        leased = lease_due(batch)
        if leased is None:
            log.info("dispatch: another dispatcher holds the lock; skipping this tick")
            return DispatchReport(0, 0, time.monotonic() - started, skipped_locked=True)
        leased_total += len(leased)
        published_total += publish(leased)
        if len(leased) < batch:
            break
    report = DispatchReport(leased_total, published_total, time.monotonic() - started)
    if report.leased:
        log.info("dispatch: leased %d mailboxes, published %d tasks in %.2fs", report.leased, report.published, report.seconds)
    return report

"""The dispatcher: lease the mailboxes that are due and publish one sync task each, in bulk.

Fair and bounded: mailboxes are ranked within their brokerage, so each brokerage gets its turn in a batch
and never has more than its cap leased at once; brokerages cooling down from throttling, paused or not
active are skipped. Only one dispatcher runs at a time (a PostgreSQL advisory lock), even if two beat
processes are started by mistake. Leases are committed before anything is published, so a task never
arrives for a lease that does not exist yet.

A prompt sync (scheduling/prompt.py) leases its one mailbox without this lock, under the same rules. What keeps
a brokerage's cap exact between the two is its row lock: each locks the brokerage row before it counts the
brokerage's leases, and neither waits for the other (the dispatcher skips a row a prompt holds, a prompt gives
up on one the dispatcher holds); the brokerage skipped is served by the next tick.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction

from engage_sync.celery import app
from mailboxes.gateway import BACKENDS, capabilities_of

log = logging.getLogger(__name__)

SYNC_TASK = "tasks.sync.sync_mailbox"
_DISPATCH_LOCK_ID = 0x454E_4753_4449_5350  # "ENGSDISP": one dispatcher in the whole fleet

# A brokerage's cap: its own setting, never above what its backend allows at once (Capabilities.concurrency_cap:
# Graph runs 4 concurrent requests per app, for all the tenant's mailboxes; EWS 27 connections). A mailbox's sync
# makes one request at a time, so mailboxes in flight bound requests in flight.
# Both leasing statements compute it as `cap.value`, from a LATERAL over the backends' caps (backend_caps()).


def backend_caps() -> dict[str, list]:
    """The query parameters the leasing statements read: each backend with its declared concurrency cap."""
    return {"cap_backends": list(BACKENDS), "cap_values": [capabilities_of(name).concurrency_cap for name in BACKENDS]}


# Lock order: the brokerage rows, then its mailbox rows (a prompt lease takes them in the same order).
# FOR NO KEY UPDATE, not FOR UPDATE: inserts referencing a brokerage (sync runs, mailboxes) take KEY SHARE on
# it for their foreign key and must not wait for a dispatch.
_LOCK_OPEN_BROKERAGES_SQL = """
SELECT id FROM brokerages_brokerage
WHERE status = 'active' AND (cooldown_until IS NULL OR cooldown_until <= now())
FOR NO KEY UPDATE SKIP LOCKED
"""

# Per open brokerage (active, not cooling down, below its cap, locked above), its most urgent due mailboxes up to its free
# capacity, by an index scan each (mailbox_brokerage_due); then the lowest ranks first across brokerages, so
# a batch serves every brokerage before any gets more (round robin), leased in the same statement.
_LEASE_DUE_SQL = """
WITH in_flight AS MATERIALIZED (  -- once, not once per brokerage row
    SELECT brokerage_id, count(*) AS leased
    FROM brokerages_mailbox
    WHERE lease_expires_at > now()
    GROUP BY brokerage_id
), open_brokerages AS (
    SELECT b.id, cap.value - coalesce(f.leased, 0) AS free
    FROM brokerages_brokerage b LEFT JOIN in_flight f ON f.brokerage_id = b.id
    CROSS JOIN LATERAL (
        SELECT LEAST(b.max_mailboxes_in_flight, coalesce(max(c.cap), 1)) AS value
        FROM unnest(%(cap_backends)s::text[], %(cap_values)s::int[]) AS c(backend, cap)
        WHERE c.backend = b.mailbox_backend
    ) cap
    WHERE b.id = ANY(%(locked)s)
      AND b.status = 'active'
      AND (b.cooldown_until IS NULL OR b.cooldown_until <= now())
      AND cap.value > coalesce(f.leased, 0)
), chosen AS (
    SELECT due.id
    FROM open_brokerages ob
    CROSS JOIN LATERAL (
        SELECT m.id, m.sync_priority, m.next_sync_at,
               row_number() OVER (ORDER BY m.sync_priority DESC, m.next_sync_at) AS rank
        FROM brokerages_mailbox m
        WHERE m.brokerage_id = ob.id
          AND m.is_active AND NOT m.sync_paused
          AND m.next_sync_at <= now()
          AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
        ORDER BY m.sync_priority DESC, m.next_sync_at
        LIMIT ob.free
    ) due
    ORDER BY due.sync_priority DESC, due.rank, due.next_sync_at
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


def lease_due(batch: int, owner: str = "dispatcher") -> list[Leased] | None:
    """Lease up to ``batch`` due mailboxes in one statement; None when another dispatcher holds the lock."""
    lease = timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_DISPATCH_LOCK_ID])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(_LOCK_OPEN_BROKERAGES_SQL)
        locked = [row[0] for row in cursor.fetchall()]
        if not locked:
            return []
        # A statement of its own: its snapshot, taken after the row locks, sees every prompt lease committed
        # before them, so the in-flight counts below are exact.
        cursor.execute(_LEASE_DUE_SQL, {"batch": batch, "owner": owner, "lease": lease, "locked": locked,
                                        **backend_caps()})  # fmt: skip
        return [Leased(mailbox_id, str(token), priority) for mailbox_id, token, priority in cursor.fetchall()]


def publish(leased: list[Leased]) -> int:
    """Publish one sync task per lease over a single producer connection.

    The dispatcher's hot path. Celery's own protocol code (``as_task_v2``) builds one message, and each task
    is that message with its id and arguments filled in, handed to kombu with the queue declared once:
    building every message through ``send_task`` costs ~4x more CPU than publishing it
    (bench/dispatch_bench.py measures the rate against kombu's raw rate).
    """
    if not leased:
        return 0
    queue = app.amqp.queues["sync"]
    template = app.amqp.as_task_v2("template", SYNC_TASK, args=(0, ""), ignore_result=True)
    embed = template.body[2]
    with app.producer_or_acquire() as producer:
        producer.maybe_declare(queue)
        for item in leased:
            task_id = str(uuid.uuid4())
            args = (item.mailbox_id, item.lease_token)
            headers = {**template.headers, "id": task_id, "root_id": task_id, "argsrepr": repr(args)}
            producer.publish(
                (args, {}, embed), exchange=queue.exchange, routing_key=queue.routing_key, headers=headers,
                priority=item.priority, serializer="json", retry=True,
                correlation_id=task_id, reply_to=template.properties.get("reply_to", ""),
            )  # fmt: skip
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

"""Prompt syncs: a CRM-side change gets its mailbox synced within seconds, not at the next interval.

The write itself only marks its mailbox due (one indexed update, in the write's transaction). Once that
commits, the prompt publisher leases that one mailbox and publishes its sync task, without the dispatcher's
advisory lock: a CRM write never waits behind a running dispatch. It leases under the dispatcher's rules
(brokerage active and not cooling down, below its cap; mailbox active, unpaused, due, not leased) and, like
the dispatcher, holds the brokerage's row lock while it counts and leases, so the cap stays exact
(scheduling/dispatch.py). Whatever stops it — the brokerage row locked by a running dispatch for more than
a moment, the cap reached, the broker or the database unreachable — it logs and leaves the mailbox due at
priority 9: beat's next dispatcher tick (every 5 s) sends it. It never raises into the request.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone
from kombu import pools
from psycopg.errors import LockNotAvailable

from brokerages.models import Mailbox
from engage_sync.celery import app

from . import leases
from .dispatch import SYNC_TASK, Leased, backend_caps

log = logging.getLogger(__name__)

PRIORITY_CRM_CHANGE = 9  # of the sync queue's 0-10: ahead of every polling sync
PROMPT_OWNER = "prompt"
# How long a prompt waits for its brokerage's row lock: long enough to queue behind another prompt of the
# brokerage (a few milliseconds each), short enough that a running dispatch never holds up a CRM write.
LOCK_WAIT = "100ms"
# One retry, at once: a broker that refuses twice is down, and the next tick will send the mailbox anyway.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
CONNECT_TIMEOUT_SECONDS = 2  # a black-holed broker costs the request at most this, twice

_LOCK_BROKERAGE_SQL = """
SELECT b.id, cap.value
FROM brokerages_brokerage b JOIN brokerages_mailbox m ON m.brokerage_id = b.id
CROSS JOIN LATERAL (  -- the brokerage's cap within its backend's (scheduling/dispatch.py)
    SELECT LEAST(b.max_mailboxes_in_flight, coalesce(max(c.cap), 1)) AS value
    FROM unnest(%(cap_backends)s::text[], %(cap_values)s::int[]) AS c(backend, cap)
    WHERE c.backend = b.mailbox_backend
) cap
WHERE m.id = %(mailbox)s AND b.status = 'active' AND (b.cooldown_until IS NULL OR b.cooldown_until <= now())
FOR NO KEY UPDATE OF b
"""
# A statement of its own, after the lock: its snapshot sees every lease the dispatcher committed before it.
_LEASE_ONE_SQL = """
UPDATE brokerages_mailbox m
SET lease_token = gen_random_uuid(), lease_owner = %(owner)s, lease_expires_at = now() + %(lease)s
WHERE m.id = %(mailbox)s
  AND m.is_active AND NOT m.sync_paused
  AND m.next_sync_at <= now()
  AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
  AND (SELECT count(*) FROM brokerages_mailbox f
       WHERE f.brokerage_id = %(brokerage)s AND f.lease_expires_at > now()) < %(cap)s
RETURNING m.id, m.lease_token, m.sync_priority
"""


def request_sync(mailbox_id: int) -> None:
    """Mark the mailbox changed on the CRM side and, once this transaction commits, send it (send_prompt).

    If a sync of it is running, that sync's release makes it due at once (its ``dirty_at`` is newer).
    """
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox_id).update(dirty_at=now, sync_priority=PRIORITY_CRM_CHANGE, next_sync_at=now)
    transaction.on_commit(lambda: send_prompt(mailbox_id))


def send_prompt(mailbox_id: int) -> bool:
    """Lease and publish the mailbox's sync now if the rules allow; False when it was left for the next tick."""
    try:
        leased = lease_one(mailbox_id)
    except DatabaseError as error:  # the database itself: the mark is committed, the tick will see it
        log.info("prompt: mailbox %s not leased now (%s); the next dispatcher tick sends it", mailbox_id, error)
        return False
    if leased is None:
        return False
    try:
        _publish(leased)
    except Exception as error:  # the broker is down or refuses: the write is committed, so never a 500
        log.warning("prompt: could not publish the sync of mailbox %s (%s: %s); it stays due for the next tick",
                    mailbox_id, type(error).__name__, error)  # fmt: skip
        try:
            leases.give_back(leased.mailbox_id, leased.lease_token)
        except DatabaseError:  # then the lease simply expires (SYNC_LEASE_SECONDS) and the dispatcher retries
            log.exception("prompt: could not give back the unpublished lease of mailbox %s", mailbox_id)
        return False
    return True


def lease_one(mailbox_id: int) -> Leased | None:
    """Lease this one mailbox under the dispatcher's rules, or None if it may not sync now."""
    lease = timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
            cursor.execute(_LOCK_BROKERAGE_SQL, {"mailbox": mailbox_id, **backend_caps()})
            row = cursor.fetchone()
            if row is None:  # gone, or its brokerage is paused, not active or cooling down
                return None
            brokerage_id, cap = row
            cursor.execute(_LEASE_ONE_SQL, {"mailbox": mailbox_id, "brokerage": brokerage_id, "cap": cap,
                                            "owner": PROMPT_OWNER, "lease": lease})  # fmt: skip
            row = cursor.fetchone()
    except OperationalError as error:
        if not isinstance(error.__cause__, LockNotAvailable):
            raise
        log.info("prompt: mailbox %s's brokerage is being dispatched; the dispatcher's next tick sends it", mailbox_id)
        return None
    return Leased(row[0], str(row[1]), row[2]) if row else None


def _publish(leased: Leased) -> None:
    """One sync task, over a pooled connection to the broker (SYNC_PROMPT_BROKER_URL, else Celery's)."""
    broker = app.connection_for_write(settings.SYNC_PROMPT_BROKER_URL or None, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    # Every pooled connection busy for that long means the broker is stuck: LimitExceeded, and the tick sends it.
    with pools.producers[broker].acquire(block=True, timeout=CONNECT_TIMEOUT_SECONDS) as producer:
        app.send_task(
            SYNC_TASK, args=(leased.mailbox_id, leased.lease_token), priority=leased.priority, producer=producer,
            retry=True, retry_policy=PUBLISH_RETRY,
        )  # fmt: skip


def make_due_now(brokerage_ids: list[int]) -> int:
    """Make every mailbox of these brokerages due now (a resumed brokerage): the next dispatcher tick sends them.

    Mailboxes already overdue keep their due time, so they stay first in line (and "behind" while they are).
    """
    now = timezone.now()
    return Mailbox.objects.filter(brokerage_id__in=brokerage_ids, next_sync_at__gt=now).update(next_sync_at=now)

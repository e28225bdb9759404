"""Housekeeping tasks on the "maintenance" queue."""

import socket

from celery import shared_task
from django.db import connection
from django.utils import timezone

from apikeys import audit as apikey_audit
from ops import retention


@shared_task(ignore_result=False)
def health_check() -> dict:
    """Prove a worker can take a task, reach PostgreSQL and answer; returns who answered and when."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (database_ok,) = cursor.fetchone()
    return {"host": socket.gethostname(), "database": database_ok == 1, "at": timezone.now().isoformat()}


@shared_task
def prune_sync_runs() -> int:
    """Hourly (beat): delete sync runs older than SYNC_RUN_RETENTION_DAYS in batches; returns how many."""
    return retention.prune_sync_runs()


@shared_task
def prune_denied_api_requests() -> int:
    """Hourly (beat): delete refused-request tallies older than API_DENIED_RETENTION_DAYS; returns how many."""
    return apikey_audit.prune_denied()


# Long (a brokerage's every mailbox) and resumable: a worker lost midway gives the message back (acks_late,
# reject on worker lost) and the next delivery carries on from the per-mailbox markers.
@shared_task(acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def move_backend(move_id: int) -> str:
    """Move a brokerage to another mailbox backend (backend_move/moving.py); returns the move's state."""
    from backend_move.moving import run_move

    return run_move(move_id)

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

"""Fixtures shared by the whole suite. The services are real: PostgreSQL, RabbitMQ, Redis."""

import pytest
from celery.contrib.testing.worker import start_worker

from engage_sync.celery import app as celery_app


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker in this process, consuming every queue from the real RabbitMQ broker.

    The worker runs in a thread with its own database connection, so the test needs committed data
    (transactional_db), as production does.
    """
    from celery.contrib.testing.tasks import ping

    # start_worker proves the worker is up with celery.ping, which needs a result despite our default.
    ping.ignore_result = False
    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=True, shutdown_timeout=30) as worker:
        yield worker

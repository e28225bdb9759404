"""The Celery app talks to the real RabbitMQ broker and a real worker, on the queues the design names."""

import pytest
from django.conf import settings

from engage_sync.celery import app
from tasks.maintenance import health_check


def test_every_named_queue_is_declared_and_routed():
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == {"dispatch", "sync", "mail", "verify", "maintenance"}
    assert app.amqp.router.route({}, health_check.name)["queue"].name == "maintenance"


def test_celery_speaks_json_only_and_acks_late():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert settings.CELERY_TASK_IGNORE_RESULT is True


@pytest.mark.worker
def test_task_round_trips_through_rabbitmq_and_a_real_worker(celery_worker):
    # Given a real worker consuming the real broker
    # When a task is published through RabbitMQ
    result = health_check.delay()
    # Then the worker runs it against PostgreSQL and the answer comes back
    answer = result.get(timeout=30)
    assert answer["database"] is True
    assert answer["host"]

"""Nothing is lost through a RabbitMQ or PostgreSQL restart in the middle of the fleet's work (invariant 4).

Each test restarts a service of its own — a RabbitMQ node or a PostgreSQL cluster this module starts on its own
ports and directories (tests/fixtures/private_services.py) — never the machine's, so every other process keeps
its connections. The restart comes while syncs are running and others wait in the queue, and the test checks
that before it pulls the plug.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from brokerages.models import Mailbox
from scheduling import dispatch
from scheduling.models import SyncRun
from sync.models import Contact
from tests.fixtures.crm import brokerage_for
from tests.fixtures.private_services import PrivatePostgres, PrivateRabbitMQ
from tests.fixtures.session_vhost import point_celery_at

pytestmark = pytest.mark.django_db(transaction=True)

MAILBOXES = 12
# Every EWS request of the outage tenant waits this long in the simulator, so a sync spans several seconds and
# the outage lands inside running syncs, not between them.
EWS_LATENCY_SECONDS = 0.4


@pytest.fixture
def private_rabbitmq(session_broker) -> Iterator[PrivateRabbitMQ]:
    """A RabbitMQ node of this test's own; the test process publishes to it, and is pointed back afterwards."""
    node = PrivateRabbitMQ()
    point_celery_at(node.url)
    try:
        yield node
    finally:
        point_celery_at(session_broker.url)
        node.stop()


@pytest.fixture
def private_postgres(transactional_db) -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, migrated, with Django's connection pointed at it for the test."""
    cluster = PrivatePostgres()
    default = connections["default"]
    saved = dict(default.settings_dict)
    try:
        cluster.create_database("engage_restarts")
        default.close()
        default.settings_dict.update(HOST="127.0.0.1", PORT=str(cluster.port), NAME="engage_restarts",
                                     USER="postgres", PASSWORD="")
        call_command("migrate", verbosity=0, interactive=False)
        yield cluster
    finally:
        default.close()
        default.settings_dict.clear()
        default.settings_dict.update(saved)  # pytest-django's flush after the test runs on its own database
        cluster.stop()


def _fleet_of(sim_tenant, simulator, mailboxes: int) -> list[Mailbox]:
    tenant = sim_tenant(mailboxes=mailboxes)
    simulator.add_fault("latency", tenant_id=tenant.tenant_id, seconds=EWS_LATENCY_SECONDS)
    brokerage = brokerage_for(tenant, "Outage Realty", sync_interval_seconds=3600)
    rows = []
    for address in tenant.mailboxes:
        simulator.seed_contacts(address, [{"given_name": "Kept", "surname": address.split("@")[0], "email1": f"k.{address}"}])
        rows.append(Mailbox.objects.create(brokerage=brokerage, email=address, calendar_enabled=False,
                                           next_sync_at=timezone.now() - dt.timedelta(seconds=1)))  # fmt: skip
    return rows


def _synced(mailboxes) -> int:
    return SyncRun.objects.filter(mailbox__in=mailboxes, outcome=SyncRun.Outcome.OK).values("mailbox").distinct().count()


def _work_in_flight(mailboxes, worker, timeout: float = 120) -> tuple[int, int]:
    """Wait until a worker is inside a sync (it confirmed its lease: the owner is the worker, no longer the
    dispatcher) while other leased mailboxes still wait in the queue; return (running, queued). Fails if the fleet
    finished first or never started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leased = Mailbox.objects.filter(pk__in=[m.pk for m in mailboxes], lease_token__isnull=False)
        running = leased.exclude(lease_owner="dispatcher").count()
        queued = leased.filter(lease_owner="dispatcher").count()
        if running and queued:
            return running, queued
        assert _synced(mailboxes) < len(mailboxes), "the fleet finished before the outage could interrupt it"
        time.sleep(0.05)
    raise AssertionError("no sync was running with others queued behind it; the worker's log:\n"
                         + worker.log_path.read_text(errors="replace")[-4000:])


def _until_all_synced(mailboxes, timeout: float = 180) -> None:
    """Tick the dispatcher as beat would until every mailbox has a successful run (tolerating an outage)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            dispatch.dispatch()
            if _synced(mailboxes) == len(mailboxes):
                return
        except Exception:  # the service is down: beat's next tick tries again
            connection.close()
        time.sleep(1)
    raise AssertionError(f"only {_synced(mailboxes)} of {len(mailboxes)} mailboxes were synced")


def _each_contact_once(mailboxes) -> None:
    for mailbox in mailboxes:
        assert list(Contact.objects.filter(mailbox=mailbox, deleted_at__isnull=True).values_list("given_name", flat=True)) == ["Kept"]


def test_a_rabbitmq_restart_mid_run_loses_no_sync(private_rabbitmq, sim_tenant, simulator, worker_process, settings):
    # Given a fleet whose sync tasks wait in our own RabbitMQ node, and a worker taking them, with short leases
    settings.SYNC_LEASE_SECONDS = 5
    mailboxes = _fleet_of(sim_tenant, simulator, MAILBOXES)
    worker = worker_process(queues="sync", extra_env={"SYNC_LEASE_SECONDS": "5",
                                                      "CELERY_BROKER_URL": private_rabbitmq.url})
    dispatch.dispatch()
    running, queued = _work_in_flight(mailboxes, worker)
    # When the broker goes down while syncs run and others are queued, and comes back
    private_rabbitmq.stop_app()
    time.sleep(2)
    private_rabbitmq.start_app()
    # Then the worker reconnects and keeps consuming, durable queues kept what was published, expired leases are
    # dispatched again: every mailbox synced, each contact once
    _until_all_synced(mailboxes)
    _each_contact_once(mailboxes)
    assert running >= 1 and queued >= 1
    assert worker.process.poll() is None, "the worker died instead of reconnecting"
    assert "Connection to broker lost" in worker.log_path.read_text(errors="replace")


def test_a_postgresql_restart_mid_run_loses_no_sync(private_postgres, sim_tenant, simulator, worker_process, settings):
    # Given a fleet on our own PostgreSQL cluster and a worker syncing it, with short leases
    settings.SYNC_LEASE_SECONDS = 5
    mailboxes = _fleet_of(sim_tenant, simulator, MAILBOXES)
    worker = worker_process(queues="sync", extra_env={"SYNC_LEASE_SECONDS": "5",
                                                      "DATABASE_URL": private_postgres.url("engage_restarts")})
    dispatch.dispatch()
    running, queued = _work_in_flight(mailboxes, worker)
    connection.close()
    # When the database restarts (fast: open connections are cut) while syncs run and others are queued
    private_postgres.restart()
    # Then the worker's next statements fail, it carries on with fresh connections, expired leases are dispatched
    # again: every mailbox synced, each contact once
    _until_all_synced(mailboxes)
    _each_contact_once(mailboxes)
    assert running >= 1 and queued >= 1
    assert worker.process.poll() is None, "the worker died instead of reconnecting"
    # and the restart cut a connection the worker was using mid-sync (the server says so on each it ends)
    assert "terminating connection due to administrator command" in worker.log_path.read_text(errors="replace")

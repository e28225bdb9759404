"""Nothing is lost through a RabbitMQ or PostgreSQL restart in the middle of the fleet's work (invariant 4).

These restart the machine's real services, as an outage or a failover would; CI runs the suite serially.
"""

import datetime as dt
import subprocess
import time

import pytest
from django.db import connection
from django.utils import timezone

from brokerages.models import Mailbox
from scheduling import dispatch
from scheduling.models import SyncRun
from sync.models import Contact
from tests.fixtures.crm import brokerage_for

pytestmark = pytest.mark.django_db(transaction=True)


def _fleet_of(sim_tenant, simulator, mailboxes: int) -> list[Mailbox]:
    tenant = sim_tenant(mailboxes=mailboxes)
    brokerage = brokerage_for(tenant, "Outage Realty", sync_interval_seconds=3600)
    rows = []
    for address in tenant.mailboxes:
        simulator.seed_contacts(address, [{"given_name": "Kept", "surname": address.split("@")[0], "email1": f"k.{address}"}])
        rows.append(Mailbox.objects.create(brokerage=brokerage, email=address, calendar_enabled=False,
                                           next_sync_at=timezone.now() - dt.timedelta(seconds=1)))  # fmt: skip
    return rows


def _until_all_synced(mailboxes, timeout: float = 120) -> None:
    """Tick the dispatcher as beat would until every mailbox has a successful run (tolerating an outage)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            dispatch.dispatch()
            if SyncRun.objects.filter(outcome=SyncRun.Outcome.OK).values("mailbox").distinct().count() == len(mailboxes):
                return
        except Exception:  # the service is down: beat's next tick tries again
            connection.close()
        time.sleep(1)
    raise AssertionError("not every mailbox was synced")


def _each_contact_once(mailboxes) -> None:
    for mailbox in mailboxes:
        assert list(Contact.objects.filter(mailbox=mailbox, deleted_at__isnull=True).values_list("given_name", flat=True)) == ["Kept"]


def test_a_rabbitmq_restart_mid_run_loses_no_sync(sim_tenant, simulator, worker_process, settings):
    # Given queued sync tasks and a worker taking them, with short leases
    settings.SYNC_LEASE_SECONDS = 5
    mailboxes = _fleet_of(sim_tenant, simulator, 12)
    worker_process(queues="sync", extra_env={"SYNC_LEASE_SECONDS": "5"})
    dispatch.dispatch()
    # When the broker goes down and comes back while the work is under way
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    time.sleep(2)
    subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    # Then the worker reconnects, durable queues kept what was published, expired leases are dispatched again
    _until_all_synced(mailboxes)
    _each_contact_once(mailboxes)


def test_a_postgresql_restart_mid_run_loses_no_sync(sim_tenant, simulator, worker_process, settings):
    settings.SYNC_LEASE_SECONDS = 5
    mailboxes = _fleet_of(sim_tenant, simulator, 12)
    worker_process(queues="sync", extra_env={"SYNC_LEASE_SECONDS": "5"})
    dispatch.dispatch()
    connection.close()
    version = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True, check=True).stdout.split()[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"], check=True, timeout=120)
    _until_all_synced(mailboxes)
    _each_contact_once(mailboxes)

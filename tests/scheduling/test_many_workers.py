"""Several worker 'hosts' drain one broker; one is SIGKILLed mid-run; every mailbox is synced, none twice.

Workers share nothing but PostgreSQL, RabbitMQ and Redis (each is its own OS process with its own host
name), which is all that separates workers on different machines.
"""

import datetime as dt
import time

import pytest
from django.utils import timezone

from brokerages.models import Mailbox
from scheduling import dispatch
from scheduling.models import SyncRun
from sync.models import Contact
from tests.fixtures.crm import brokerage_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(sim_tenant, simulator, worker_process, settings):
    # Given 24 mailboxes in 3 brokerages, each mailbox holding 3 contacts, all due, with short leases
    settings.SYNC_LEASE_SECONDS = 5
    mailboxes = []
    for n in range(3):
        tenant = sim_tenant(mailboxes=8)
        brokerage = brokerage_for(tenant, f"Fleet {n}", max_mailboxes_in_flight=8, sync_interval_seconds=3600)
        for address in tenant.mailboxes:
            simulator.seed_contacts(address, [{"given_name": f"Client{i}", "surname": address.split("@")[0],
                                               "email1": f"c{i}.{address}"} for i in range(3)])  # fmt: skip
            mailboxes.append(Mailbox.objects.create(brokerage=brokerage, email=address, calendar_enabled=False))
    Mailbox.objects.update(next_sync_at=timezone.now() - dt.timedelta(seconds=1))
    short = {"SYNC_LEASE_SECONDS": "5"}
    hosts = [worker_process(queues="sync", extra_env=short) for _ in range(3)]
    # When the dispatcher fans them out and one host dies while the others work
    dispatch.dispatch()
    deadline = time.monotonic() + 30
    while b"sync_mailbox" not in hosts[0].log_path.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the doomed host holds work
    hosts[0].kill()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done = SyncRun.objects.filter(outcome=SyncRun.Outcome.OK).values("mailbox").distinct().count()
        if done == len(mailboxes):
            break
        dispatch.dispatch()  # beat's tick: re-dispatches mailboxes whose lease died with the killed host
        time.sleep(0.5)
    # Then every mailbox was synced, and each contact exists once in the CRM
    assert SyncRun.objects.filter(outcome=SyncRun.Outcome.OK).values("mailbox").distinct().count() == len(mailboxes)
    for mailbox in mailboxes:
        names = sorted(Contact.objects.filter(mailbox=mailbox, deleted_at__isnull=True).values_list("given_name", flat=True))
        assert names == ["Client0", "Client1", "Client2"], mailbox.email

"""The fleet end to end: beat's dispatcher, the real broker, real workers, the engine and the simulator.

Each test drives the dispatcher as beat would (dispatch.dispatch() is what its tick runs).
"""

import datetime as dt
import time

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from brokerages.models import Brokerage, Mailbox
from engage_sync.celery import app
from scheduling import dispatch
from scheduling.models import SyncRun
from tasks.sync import sync_mailbox
from tests.fixtures.broker import queue_is_empty, wait_for
from tests.fixtures.crm import BACKENDS, brokerage_for

pytestmark = pytest.mark.django_db(transaction=True)


def _brokerage_of(tenant, name: str, backend: str = "ews") -> Brokerage:
    brokerage = brokerage_for(tenant, name, sync_interval_seconds=3600, mailbox_backend=backend)
    Mailbox.objects.bulk_create(
        Mailbox(brokerage=brokerage, email=address, next_sync_at=timezone.now() - dt.timedelta(seconds=1))
        for address in tenant.mailboxes
    )
    return brokerage


def _runs(brokerage, outcome=None):
    runs = SyncRun.objects.filter(brokerage=brokerage)
    return runs.filter(outcome=outcome) if outcome else runs


def test_the_dispatcher_is_one_beat_entry_on_the_dispatch_queue():
    entry = PeriodicTask.objects.get(name="Sync: dispatch due mailboxes")
    assert (entry.task, entry.queue, entry.enabled) == ("tasks.dispatch.dispatch_due_syncs", "dispatch", True)
    assert (entry.interval.every, entry.interval.period, entry.expire_seconds) == (5, "seconds", 5)
    app.loader.import_default_modules()
    assert all(name in app.tasks for name in PeriodicTask.objects.values_list("task", flat=True))


def test_schedules_staff_edited_are_kept_and_missing_ones_come_back():
    from scheduling.beat import install_schedules

    PeriodicTask.objects.filter(name="Sync: dispatch due mailboxes").update(enabled=False)
    PeriodicTask.objects.filter(name="Outbox: publish due emails").delete()
    install_schedules()
    assert not PeriodicTask.objects.get(name="Sync: dispatch due mailboxes").enabled
    assert PeriodicTask.objects.filter(name="Outbox: publish due emails").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_duplicate_delivery_of_a_sync_task_does_nothing(sim_tenant, simulator, celery_worker, backend):
    # Given a leased mailbox whose sync task is delivered twice (broker redelivery, a duplicate publish)
    brokerage = _brokerage_of(sim_tenant(mailboxes=1), "Twice Realty", backend)
    (leased,) = dispatch.lease_due(10)
    sync_mailbox.delay(leased.mailbox_id, leased.lease_token)
    wait_for(lambda: _runs(brokerage, SyncRun.Outcome.OK).exists(), "the first delivery's sync")
    after_first = _requests(simulator, [Mailbox.objects.get(pk=leased.mailbox_id).email], backend)
    sync_mailbox.delay(leased.mailbox_id, leased.lease_token)
    # Then the second finds its lease gone (released by the first) and touches neither the row nor the mailbox
    wait_for(queue_is_empty, "the second delivery to be taken")
    time.sleep(1)
    assert _runs(brokerage).get().outcome == SyncRun.Outcome.OK
    assert _requests(simulator, [Mailbox.objects.get(pk=leased.mailbox_id).email], backend) == after_first


def _requests(simulator, addresses, backend: str = "ews") -> int:
    """Requests the simulator has answered for these mailboxes on the backend (its ``ews_`` or ``graph_mailbox``)."""
    per_mailbox = simulator.stats().get(f"{backend}_mailbox", {})
    return sum(per_mailbox.get(address.lower(), 0) for address in addresses)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_throttled_brokerage_cools_down_while_the_others_keep_their_schedule(sim_tenant, simulator, celery_worker,
                                                                              backend):
    # Given two brokerages, one of which Microsoft is about to throttle (EWS ErrorServerBusy with BackOffMilliseconds,
    # Graph 429 with Retry-After: back off 3 s)
    throttled_tenant, calm_tenant = sim_tenant(mailboxes=2), sim_tenant(mailboxes=2)
    throttled = _brokerage_of(throttled_tenant, "Busy Realty", backend)
    calm = _brokerage_of(calm_tenant, "Calm Realty", backend)
    simulator.add_fault("server_busy", tenant_id=throttled_tenant.tenant_id, back_off_ms=3000, count=1)
    # When beat dispatches them all
    dispatch.dispatch()
    wait_for(lambda: _runs(throttled, SyncRun.Outcome.THROTTLED).exists(), "the throttled run")
    wait_for(lambda: _runs(calm, SyncRun.Outcome.OK).count() == 2, "the calm brokerage's syncs")
    # Then only the throttled brokerage cools down, and the dispatcher leaves it alone meanwhile
    throttled.refresh_from_db()
    calm.refresh_from_db()
    assert throttled.cooldown_until > timezone.now() and calm.cooldown_until is None
    Mailbox.objects.filter(brokerage=calm).update(next_sync_at=timezone.now())  # calm is due again
    Mailbox.objects.filter(brokerage=throttled, lease_token__isnull=True).update(next_sync_at=timezone.now())
    leased = {Mailbox.objects.get(pk=item.mailbox_id).brokerage_id for item in dispatch.lease_due(100) or []}
    assert leased == {calm.pk}
    # And no worker sent it a request during the cool-down, even for tasks queued before it began
    cooled_until = throttled.cooldown_until
    wait_for(lambda: timezone.now() > cooled_until, "the cool-down to pass", 10)
    assert not _runs(throttled).filter(started_at__gt=_first_throttle(throttled), started_at__lt=cooled_until).exclude(
        outcome=SyncRun.Outcome.SKIPPED).exists()
    # And once it has passed, every one of its mailboxes catches up
    Mailbox.objects.filter(brokerage=throttled).update(next_sync_at=timezone.now())

    def caught_up():
        dispatch.dispatch()
        synced = _runs(throttled, SyncRun.Outcome.OK).filter(started_at__gt=cooled_until)
        return synced.values("mailbox").distinct().count() == 2

    wait_for(caught_up, "the catch-up")


def _first_throttle(brokerage):
    return _runs(brokerage, SyncRun.Outcome.THROTTLED).earliest("started_at").started_at


def test_the_kill_switch_stops_queued_work_within_one_dispatch_cycle(sim_tenant, simulator, worker_process):
    # Given a brokerage whose sync tasks are queued while no worker is running
    tenant = sim_tenant(mailboxes=3)
    brokerage = _brokerage_of(tenant, "Runaway Realty")
    app.control.purge()
    assert dispatch.dispatch().published == 3
    requests_before = _requests(simulator, tenant.mailboxes)
    # When staff pull the kill switch, and only then a worker starts on the queued tasks
    Brokerage.objects.filter(pk=brokerage.pk).update(status=Brokerage.Status.PAUSED)
    worker_process(queues="sync")
    # Then every queued task does nothing: no sync recorded as done, no request reaches the mailboxes
    wait_for(lambda: queue_is_empty() and not Mailbox.objects.filter(brokerage=brokerage, lease_token__isnull=False).exists(),
              "the queued tasks to be consumed")  # fmt: skip
    assert not _runs(brokerage, SyncRun.Outcome.OK).exists()
    assert _requests(simulator, tenant.mailboxes) == requests_before
    # And the next dispatch cycle publishes nothing for it
    Mailbox.objects.filter(brokerage=brokerage).update(next_sync_at=timezone.now())
    assert dispatch.dispatch().published == 0


"""Due verification runs are published from PostgreSQL by beat's sweep, not held back by Celery countdowns: the
sweep publishes each due run once (two sweeps racing included), leaves runs not yet due, republishes a run whose
message was lost once it is stale, and a due daily run goes end to end through a real worker."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from brokerages import verification
from brokerages.models import Brokerage, VerificationRun
from engage_sync.celery import app as celery_app
from tasks import verify as verify_tasks
from tests.fixtures.broker import take_from_queue, wait_for

from .verification_support import sim_brokerage, wait_for_run

SWEEP_TASK = "tasks.verify.publish_due_verifications"


@pytest.fixture
def verify_queue():
    """The real broker's verify queue, empty at the start and at the end of the test."""
    queue = next(q for q in celery_app.conf.task_queues if q.name == "verify")

    def purge() -> None:
        with celery_app.connection_for_write() as conn:
            bound = queue(conn.default_channel)
            bound.declare()
            bound.purge()

    purge()
    yield queue
    purge()


def published(expect: int) -> list[tuple[str, object, list[int]]]:
    """(task name, ETA header, args) of every message now on the verify queue; asks for one more than expected."""
    messages = take_from_queue("verify", expect=expect + 1, timeout=2.0 if expect else 1.0)
    return [(m.headers["task"], m.headers.get("eta"), m.decode()[0]) for m in messages]


def ago(seconds: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(seconds=seconds)


@pytest.mark.django_db
def test_the_sweep_publishes_due_runs_once_without_eta_and_leaves_runs_not_yet_due(make_brokerage, verify_queue):
    # Given five active brokerages whose daily runs are queued over an hour, two of them due by now
    for _ in range(5):
        make_brokerage(status="active")
    verification.request_daily_reverification(spread_seconds=3600)
    runs = list(VerificationRun.objects.order_by("due_at"))
    due, later = runs[:2], runs[2:]
    VerificationRun.objects.filter(pk__in=[r.pk for r in due]).update(due_at=ago(1))

    # When beat's sweep runs, and runs again
    assert verification.publish_due_runs() == 2
    assert verification.publish_due_runs() == 0

    # Then exactly the due runs are on the broker, once each, ids only, to be run now (no ETA)
    assert sorted(published(expect=2)) == sorted((verification.VERIFY_TASK, None, [r.brokerage_id, r.pk]) for r in due)
    assert VerificationRun.objects.filter(pk__in=[r.pk for r in due], published_at__isnull=False).count() == 2
    # ... and the others wait in PostgreSQL, unpublished, for their due time
    assert VerificationRun.objects.filter(pk__in=[r.pk for r in later], published_at__isnull=True).count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_publish_each_due_run_exactly_once(make_brokerage, verify_queue):
    # Given 40 active brokerages whose daily runs are all due
    for _ in range(40):
        make_brokerage(status="active")
    verification.request_daily_reverification(spread_seconds=600)
    VerificationRun.objects.update(due_at=ago(1))
    expected = sorted([r.brokerage_id, r.pk] for r in VerificationRun.objects.all())

    # When two sweeps run at the same moment (two beats started by mistake), each on its own connection
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            counts.append(verification.publish_due_runs())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then between them they published every run exactly once
    assert len(counts) == 2 and sum(counts) == 40
    messages = published(expect=40)
    assert sorted(args for _, _, args in messages) == expected
    assert {eta for _, eta, _ in messages} == {None}


@pytest.mark.django_db
def test_a_run_whose_message_was_lost_is_published_again_once_stale(make_brokerage, verify_queue):
    # Given a staff click whose message the broker lost (a restart) after it was published
    brokerage = make_brokerage(status="active")
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    assert run.published_at is not None

    # When the sweep runs while the run is not yet stale
    almost_stale = ago(verification.STALE_RUN.total_seconds() - 60)
    VerificationRun.objects.filter(pk=run.pk).update(published_at=almost_stale)
    assert verification.publish_due_runs() == 0

    # Then nothing is published; once it is stale, the sweep publishes it once more (and only once)
    VerificationRun.objects.filter(pk=run.pk).update(published_at=ago(verification.STALE_RUN.total_seconds() + 1))
    assert verification.publish_due_runs() == 1
    assert verification.publish_due_runs() == 0
    assert published(expect=1) == [(verification.VERIFY_TASK, None, [brokerage.pk, run.pk])]


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_published_again_and_taken_over(simulator, sim_tenant, verify_queue):
    # Given a run left "running" long ago by a worker that died (its message acknowledged or lost with it)
    brokerage = sim_brokerage(simulator, sim_tenant(), status=Brokerage.Status.ACTIVE)
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.DAILY, due_at=ago(3600))
    stale = ago(verification.STALE_RUN.total_seconds() + 1)
    running = VerificationRun.Status.RUNNING
    VerificationRun.objects.filter(pk=run.pk).update(status=running, started_at=stale, published_at=stale)
    run.steps.create(position=1, name="credentials", label="Credentials entered", outcome="ok")
    # ... while a run that started recently is left to its worker
    other = sim_brokerage(simulator, sim_tenant(), status=Brokerage.Status.ACTIVE)
    busy = verification.request_verification(other, reason=VerificationRun.Reason.DAILY, due_at=ago(3600))
    VerificationRun.objects.filter(pk=busy.pk).update(status=running, started_at=ago(5), published_at=stale)

    # When the sweep runs
    assert verification.publish_due_runs() == 1

    # Then the dead worker's run is published again, and its delivery takes the run over and finishes it
    [(task, eta, args)] = published(expect=1)
    assert (task, eta, args) == (verification.VERIFY_TASK, None, [brokerage.pk, run.pk])
    verify_tasks.verify_brokerage(*args)
    run.refresh_from_db()
    assert run.status == VerificationRun.Status.VERIFIED
    assert list(run.steps.values_list("position", flat=True)) == list(range(1, verification.STEPS_PER_RUN + 1))


@pytest.mark.django_db(transaction=True)
def test_a_due_daily_run_is_published_by_the_beat_sweep_and_verified_by_a_real_worker(
    simulator, sim_tenant, verify_queue, celery_worker
):
    # Given an active brokerage whose daily run is queued, due later in the window
    brokerage = sim_brokerage(simulator, sim_tenant(), status=Brokerage.Status.ACTIVE)
    assert verification.request_daily_reverification(spread_seconds=3600) == 1
    run = brokerage.verification_runs.get()

    # When beat's sweep runs before it is due
    assert verification.publish_due_runs() == 0

    # Then the run waits, unpublished
    run.refresh_from_db()
    assert (run.status, run.published_at) == (VerificationRun.Status.QUEUED, None)

    # When its due time has come and beat's sweep task goes through the broker to the worker
    VerificationRun.objects.filter(pk=run.pk).update(due_at=ago(1))
    celery_app.send_task(SWEEP_TASK)

    # Then the worker published it and ran it against the simulator: verified, the brokerage still active
    finished = wait_for_run(brokerage)
    brokerage.refresh_from_db()
    assert finished.pk == run.pk
    assert finished.status == VerificationRun.Status.VERIFIED, list(finished.steps.values_list("name", "outcome"))
    assert finished.published_at is not None and finished.started_at >= finished.published_at
    assert brokerage.status == Brokerage.Status.ACTIVE
    assert brokerage.verified_at is not None and brokerage.verified_at >= finished.started_at
    # ... and a later sweep publishes it no more
    wait_for(lambda: verification.publish_due_runs() == 0, "a sweep with nothing to publish", timeout=5)
    assert brokerage.verification_runs.count() == 1

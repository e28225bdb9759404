"""Verification runs under redelivery: a duplicate task does nothing twice, a run whose worker died is taken
over, repeated clicks queue one run, and a delayed daily run never holds up a staff click."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from brokerages import verification
from brokerages.models import VerificationRun
from tasks import verify as verify_tasks

from .verification_support import sim_brokerage

pytestmark = pytest.mark.django_db


def test_a_duplicate_delivery_of_the_task_runs_nothing_twice(simulator, sim_tenant):
    # Given a run that has been executed
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant)
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    verify_tasks.verify_brokerage(brokerage.pk, run.pk)
    before = simulator.stats()

    # When the broker delivers the same task again (and one naming the wrong brokerage arrives)
    verify_tasks.verify_brokerage(brokerage.pk, run.pk)
    verify_tasks.verify_brokerage(brokerage.pk + 1000, run.pk)

    # Then nothing ran again: no request, the steps recorded once
    assert simulator.stats() == before
    assert run.steps.count() == verification.STEPS_PER_RUN


def test_a_run_whose_worker_died_is_taken_over_when_redelivered(simulator, sim_tenant):
    # Given a run left "running" with one step recorded by a worker that was killed long ago
    brokerage = sim_brokerage(simulator, sim_tenant())
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    long_ago = timezone.now() - verification.STALE_RUN - datetime.timedelta(seconds=1)
    VerificationRun.objects.filter(pk=run.pk).update(status=VerificationRun.Status.RUNNING, started_at=long_ago)
    run.steps.create(position=1, name="credentials", label="Credentials entered", outcome="ok")

    # When the task is redelivered
    assert verification.execute(run.pk) is not None

    # Then the run starts afresh and finishes, each step recorded once
    run.refresh_from_db()
    assert run.status == VerificationRun.Status.VERIFIED
    assert list(run.steps.values_list("position", flat=True)) == list(range(1, verification.STEPS_PER_RUN + 1))


def test_a_run_another_worker_is_running_is_left_to_it(simulator, sim_tenant):
    brokerage = sim_brokerage(simulator, sim_tenant())
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    VerificationRun.objects.filter(pk=run.pk).update(status=VerificationRun.Status.RUNNING, started_at=timezone.now())
    assert verification.execute(run.pk) is None
    assert run.steps.count() == 0


def test_repeated_clicks_queue_one_run_and_a_delayed_daily_run_does_not_hold_up_a_click(make_brokerage):
    # Given a brokerage with a daily run queued, due an hour from now (its slice of the spread)
    brokerage = make_brokerage(status="active")
    due_at = timezone.now() + datetime.timedelta(hours=1)
    daily = verification.request_verification(brokerage, reason=VerificationRun.Reason.DAILY, due_at=due_at)

    # When staff click Verify twice
    first = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    second = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)

    # Then one manual run is queued beside the daily one, due (and published) now
    assert first.pk == second.pk != daily.pk
    assert brokerage.verification_runs.count() == 2
    first.refresh_from_db()
    assert first.due_at <= timezone.now() and first.published_at is not None

"""A verification that fails transiently (throttled, the network, a Microsoft 5xx) resumes by itself, as its remedy
says: retried on its own due time with a growing wait, staff mailed only once the retries are used up, and kept in
the daily re-verification after that; a permanent failure is never retried (it waits for a person)."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from brokerages import verification
from brokerages.models import Brokerage, VerificationRun
from mailboxes import errors

from .verification_support import sim_brokerage

pytestmark = pytest.mark.django_db


def _verify(brokerage: Brokerage, **fields) -> VerificationRun:
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL, **fields)
    verification.execute(run.pk)
    run.refresh_from_db()
    return run


def _queued(brokerage: Brokerage) -> list[VerificationRun]:
    return list(brokerage.verification_runs.filter(status=VerificationRun.Status.QUEUED))


def test_a_throttled_verification_is_retried_on_its_own_due_time_and_then_verifies(simulator, sim_tenant, admin_client):
    # Given a brokerage being onboarded whose tenant throttles the first check (Microsoft asks for 90 s)
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant)
    simulator.add_fault("server_busy", mailbox=tenant.mailboxes[0], back_off_ms=90000, count=1)
    # When it is verified
    before = timezone.now()
    run = _verify(brokerage)
    # Then the run failed transiently, and a retry of the same check is queued for after Microsoft's back-off
    assert (run.status, run.error_kind) == ("failed", errors.Throttled.kind)
    (retry,) = _queued(brokerage)
    assert (retry.reason, retry.attempt, retry.published_at) == (run.reason, 2, None)
    assert retry.due_at - before >= datetime.timedelta(seconds=90)
    # And the brokerage page shows the failure, saying when it is checked again
    html = admin_client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    box = html.split('id="verification"')[1].split("</form>")[0]
    assert "Cannot be verified" in box and "(step: mailbox)" in box and "checked again automatically" in box
    # And the sweep leaves it until it is due
    assert verification.publish_due_runs() == 0
    # When it is due (as time would make it) and runs
    VerificationRun.objects.filter(pk=retry.pk).update(due_at=timezone.now())
    assert verification.publish_due_runs() == 1
    verification.execute(retry.pk)
    # Then the brokerage is verified, with nothing more queued
    brokerage.refresh_from_db()
    assert brokerage.status == Brokerage.Status.VERIFIED
    assert _queued(brokerage) == []


def test_a_transient_failure_of_an_active_brokerage_mails_staff_only_once_its_retries_are_used_up(
    simulator, sim_tenant, settings
):
    # Given an active brokerage whose tenant keeps dropping the connection, and one retry allowed
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    settings.VERIFY_TRANSIENT_RETRIES = 1
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, status=Brokerage.Status.ACTIVE)
    simulator.add_fault("drop_connection", mailbox=tenant.mailboxes[0])
    # When it is verified, then retried
    first = _verify(brokerage)
    (retry,) = _queued(brokerage)
    # Then the first failure is retried a minute or so later, silently
    assert (first.error_kind, retry.attempt) == (errors.TransientNetwork.kind, 2)
    assert datetime.timedelta(seconds=60) <= retry.due_at - first.finished_at <= datetime.timedelta(seconds=75)
    assert mail.outbox == []
    verification.execute(retry.pk)
    # And the retry's failure, the last allowed, is mailed to staff and queues nothing more
    retry.refresh_from_db()
    assert retry.status == VerificationRun.Status.FAILED and _queued(brokerage) == []
    [alert] = mail.outbox
    assert errors.TransientNetwork.title in alert.subject


def test_a_permanent_failure_is_not_retried(simulator, sim_tenant):
    # Given a brokerage whose admin consent is missing
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant)
    simulator.update_app(tenant.tenant_id, tenant.client_id, consented=False)
    # When it is verified
    run = _verify(brokerage)
    # Then it fails for good: nothing is queued, the remedy waits for a person
    assert run.error_kind == errors.ConsentMissing.kind
    assert _queued(brokerage) == []


def test_the_daily_run_retries_a_brokerage_left_unverified_by_a_transient_failure_but_not_a_permanent_one(
    simulator, sim_tenant, settings
):
    # Given two brokerages left Cannot be verified, one by throttling (no retries left), one by missing consent
    settings.VERIFY_TRANSIENT_RETRIES = 0
    throttled_tenant, refused_tenant = sim_tenant(), sim_tenant()
    throttled = sim_brokerage(simulator, throttled_tenant)
    refused = sim_brokerage(simulator, refused_tenant)
    simulator.add_fault("server_busy", mailbox=throttled_tenant.mailboxes[0], count=1)
    simulator.update_app(refused_tenant.tenant_id, refused_tenant.client_id, consented=False)
    _verify(throttled)
    _verify(refused)
    for brokerage in (throttled, refused):
        brokerage.refresh_from_db()
        assert brokerage.status == Brokerage.Status.CANNOT_BE_VERIFIED and _queued(brokerage) == []
    # When the daily re-verification is requested
    verification.request_daily_reverification(spread_seconds=0)
    # Then the throttled one is checked again and the refused one is not
    assert [run.reason for run in _queued(throttled)] == [VerificationRun.Reason.DAILY]
    assert _queued(refused) == []

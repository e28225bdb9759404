"""Staying verified: the daily re-verification of active and verified brokerages (due times spread out, never
flipping an active brokerage's status), staff alerts when one fails, and secret-expiry warnings at 30, 14, 7 and
1 days."""

from __future__ import annotations

import datetime
import importlib

import pytest
from celery.signals import before_task_publish
from django.apps import apps as django_apps
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from brokerages import secret_expiry, verification
from brokerages.models import Brokerage, SecretExpiryWarning, VerificationRun
from mailboxes import errors
from tasks import verify as verify_tasks

from .verification_support import sim_brokerage

pytestmark = pytest.mark.django_db


def in_days(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


def test_daily_reverification_queues_one_run_per_active_or_verified_brokerage_due_across_the_window(
    make_brokerage, django_capture_on_commit_callbacks
):
    # Given brokerages in every status
    statuses = ["active", "verified", "new", "paused", "cannot_be_verified", "disabled", "active"]
    brokerages = {make_brokerage(status=status).pk: status for status in statuses}
    published = []

    def remember(sender=None, **kwargs):
        published.append(sender)

    # When the daily task runs (over a 600 s window)
    before_task_publish.connect(remember, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            started = timezone.now()
            queued = verification.request_daily_reverification(spread_seconds=600)
    finally:
        before_task_publish.disconnect(remember)

    # Then exactly the active and verified ones got a daily run, and nothing was published (no ETA message)
    runs = list(VerificationRun.objects.filter(reason=VerificationRun.Reason.DAILY).order_by("brokerage_id"))
    assert queued == 3 == len(runs)
    assert {brokerages[r.brokerage_id] for r in runs} == {"active", "verified"}
    assert published == []
    assert all(r.status == VerificationRun.Status.QUEUED and r.published_at is None for r in runs)
    # ... each due at a random moment in its own third of the window, so none clump together
    for slot, run in enumerate(runs):
        offset = (run.due_at - started).total_seconds()
        assert slot * 200 - 1 <= offset <= (slot + 1) * 200 + 1

    # When the daily task runs again the same night (a re-run)
    assert verification.request_daily_reverification(spread_seconds=600) == 3

    # Then it reuses the queued runs: nothing is queued twice
    assert VerificationRun.objects.filter(reason=VerificationRun.Reason.DAILY).count() == 3


def test_an_active_brokerage_stays_active_when_re_verified_and_verified_at_is_stamped(simulator, sim_tenant):
    # Given an active brokerage
    brokerage = sim_brokerage(simulator, sim_tenant(), status=Brokerage.Status.ACTIVE)

    # When the daily re-verification of it runs
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.DAILY)
    verify_tasks.verify_brokerage(brokerage.pk, run.pk)

    # Then it verified, and the brokerage is still active (syncs untouched), with verified_at stamped
    run.refresh_from_db()
    brokerage.refresh_from_db()
    assert run.status == VerificationRun.Status.VERIFIED
    assert brokerage.status == Brokerage.Status.ACTIVE
    assert brokerage.verified_at is not None and brokerage.verified_at >= run.started_at


def test_a_failed_re_verification_keeps_an_active_brokerage_active_and_mails_staff_the_remedy(
    simulator, sim_tenant, settings, admin_client
):
    # Given an active brokerage whose administrator has since revoked the admin consent
    settings.STAFF_ALERT_EMAILS = ["ops@example.com", "oncall@example.com"]
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, status=Brokerage.Status.ACTIVE)
    simulator.update_app(tenant.tenant_id, tenant.client_id, consented=False)

    # When the daily re-verification runs
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.DAILY)
    verify_tasks.verify_brokerage(brokerage.pk, run.pk)

    # Then the failure is recorded, the brokerage stays active, and staff got one mail with class and remedy
    run.refresh_from_db()
    brokerage.refresh_from_db()
    assert (run.status, run.failed_step, run.error_kind) == ("failed", "token", errors.ConsentMissing.kind)
    assert brokerage.status == Brokerage.Status.ACTIVE
    [alert] = mail.outbox
    assert alert.to == ["ops@example.com", "oncall@example.com"]
    assert brokerage.name in alert.subject and errors.ConsentMissing.title in alert.subject
    assert errors.ConsentMissing.remedy in alert.body
    assert reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]) in alert.body
    assert tenant.client_secret not in alert.body
    # ... and the page shows it, though the status badge still says Active
    html = admin_client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    assert "Cannot be verified" in html.split('id="verification"')[1]


def test_expiry_warnings_at_30_14_7_and_1_days_are_mailed_once_each(make_brokerage, settings):
    # Given a brokerage whose secret expires in 40 days, and staff to warn
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    expires_on = in_days(40)
    brokerage = make_brokerage(client_secret_expires_on=expires_on, status="active")
    make_brokerage(client_secret_expires_on=in_days(300))  # far off: never warned

    # When the daily check runs every day (twice a day, as a retried task might) until well past the expiry
    for day in range(0, 46):
        for _ in range(2):
            secret_expiry.send_due_warnings(today=timezone.localdate() + datetime.timedelta(days=day))

    # Then four mails went out, at 30, 14, 7 and 1 days before, one each
    subjects = [message.subject for message in mail.outbox]
    assert subjects == [
        f"[Engage Sync] {brokerage.name}: client secret expires in {days} day(s)" for days in (30, 14, 7, 1)
    ]
    assert all(message.to == ["ops@example.com"] for message in mail.outbox)
    assert "Verify and promote the next secret" in mail.outbox[0].body
    warnings = SecretExpiryWarning.objects.filter(brokerage=brokerage)
    assert sorted(warnings.values_list("threshold_days", flat=True)) == [1, 7, 14, 30]
    assert all(w.expires_on == expires_on for w in warnings)


def test_a_new_secret_gets_its_own_warnings_and_the_list_says_which_was_mailed(make_brokerage, settings, client, operator):
    # Given a brokerage warned about its secret expiring in 10 days
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    brokerage = make_brokerage(client_secret_expires_on=in_days(10), status="active")
    assert verify_tasks.warn_expiring_secrets() == 1  # the 14-day warning (30 was already passed)
    assert verify_tasks.warn_expiring_secrets() == 0

    # Then the list shows the warning next to the expiry
    client.force_login(operator)
    html = client.get(reverse("admin:brokerages_brokerage_changelist")).content.decode()
    assert "in 10 day(s); 14-day warning mailed" in html

    # When a new secret expiring in 5 days is entered (say a short-lived one), it is warned about afresh
    brokerage.client_secret_expires_on = in_days(5)
    brokerage.save()
    assert verify_tasks.warn_expiring_secrets() == 1
    assert mail.outbox[-1].subject.endswith("expires in 5 day(s)")


def test_no_recipients_configured_sends_nothing_but_records_the_warning(make_brokerage, settings, caplog):
    # Given no staff addresses configured
    settings.STAFF_ALERT_EMAILS = []
    make_brokerage(client_secret_expires_on=in_days(3))

    # When the check runs, nothing is mailed and the log says why
    [warning] = secret_expiry.send_due_warnings()
    assert mail.outbox == [] and warning.recipients == []
    assert "No STAFF_ALERT_EMAILS configured" in caplog.text


def test_the_daily_schedules_are_created_for_beat_and_staff_edits_survive_a_rerun():
    # Given the schedule migration's function (run by migrate), run on the live app registry
    migration = importlib.import_module("brokerages.migrations.0005_verification_schedules")
    migration.create_schedules(django_apps, None)
    PeriodicTask.objects.filter(task="tasks.verify.warn_expiring_secrets").update(enabled=False)

    # When it runs again
    migration.create_schedules(django_apps, None)

    # Then both daily tasks are scheduled once, on the verify queue, and the staff edit was kept
    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="tasks.verify.")}
    sweep = tasks.pop("tasks.verify.publish_due_verifications")  # the due-run sweep (scheduling/beat.py)
    assert set(tasks) == {"tasks.verify.reverify_brokerages", "tasks.verify.warn_expiring_secrets"}
    assert all(t.queue == "verify" and t.crontab is not None for t in tasks.values())
    assert sweep.queue == "verify" and sweep.interval is not None
    assert tasks["tasks.verify.reverify_brokerages"].crontab.hour == "2"
    assert tasks["tasks.verify.warn_expiring_secrets"].enabled is False

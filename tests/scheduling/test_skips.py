"""Truthful health: a sync that did nothing (kill switch, mailbox inactive) is recorded as a skip, never as a
success or a failure, and a resumed brokerage's mailboxes go out at the dispatcher's next tick."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from engage_sync.celery import app
from ops.health import brokerage_health
from scheduling import dispatch
from scheduling.models import SyncRun
from scheduling.runs import EngineResult, run_sync
from tests.scheduling.staff_fixtures import operator  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

LAST_SUCCESS = timezone.now() - dt.timedelta(hours=2)


def _brokerage_with_history(make_brokerage, mailboxes: int) -> Brokerage:
    """A brokerage whose mailboxes last synced two hours ago and have failed twice since, all due now."""
    brokerage = make_brokerage("Harbor Homes", mailboxes=mailboxes)
    Mailbox.objects.filter(brokerage=brokerage).update(last_synced_at=LAST_SUCCESS, consecutive_failures=2)
    return brokerage


def _act(client, action: str, brokerage: Brokerage) -> str:
    response = client.post(reverse("admin:brokerages_brokerage_changelist"),
                           {"action": action, "_selected_action": [brokerage.pk]}, follow=True)  # fmt: skip
    return " ".join(str(m) for m in response.context["messages"])


def _run(leased, engine_calls: list) -> str:
    return run_sync(leased.mailbox_id, leased.lease_token, engine=lambda *a: engine_calls.append(a) or EngineResult(),
                    gateway_for=lambda mailbox: None, task_id=f"queued-{leased.mailbox_id}")  # fmt: skip


def test_queued_syncs_of_a_paused_brokerage_are_skips_and_resuming_sends_them_at_the_next_tick(
    client, operator, make_brokerage, settings,  # noqa: F811 (the fixture)
):
    # Given a brokerage with history whose three mailboxes are leased, their sync tasks queued
    brokerage = _brokerage_with_history(make_brokerage, mailboxes=3)
    queued = dispatch.lease_due(batch=10)
    assert len(queued) == 3
    client.force_login(operator)

    # When the operator pulls the kill switch, and then the queued tasks arrive
    assert "1 brokerage(s) now paused" in _act(client, "pause_brokerages", brokerage)
    engine_calls: list = []
    outcomes = [_run(leased, engine_calls) for leased in queued]

    # Then each did nothing and says so: a skip, not a success nor a failure
    assert outcomes == [SyncRun.Outcome.SKIPPED] * 3 and engine_calls == []
    rows = Mailbox.objects.filter(brokerage=brokerage)
    assert {(m.last_synced_at, m.consecutive_failures, m.lease_token) for m in rows} == {(LAST_SUCCESS, 2, None)}
    runs = SyncRun.objects.filter(brokerage=brokerage)
    assert [run.outcome for run in runs] == [SyncRun.Outcome.SKIPPED] * 3
    assert all("paused (kill switch)" in run.error_message and "Resume the brokerage" in run.remedy for run in runs)
    assert all(run.error_class == "" for run in runs)  # no error class: not a failure in the error counts
    # ... and health shows the truth: last success unchanged, no failure, three skips
    health = brokerage_health(brokerage)
    assert (health.last_success_at, health.failed, health.skipped, health.failure_rate) == (LAST_SUCCESS, 0, 3, None)
    page = client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    assert '<td class="skipped">3 (did nothing' in page and "outcome__exact=skipped" in page
    settings.METRICS_TOKEN = "skips-metrics-token"
    scraped = client.get("/metrics", HTTP_AUTHORIZATION="Bearer skips-metrics-token").content.decode()
    assert 'engage_sync_sync_runs_recent{error_class="",outcome="skipped"} 3.0' in scraped
    assert 'outcome="ok"' not in scraped and 'outcome="failed"' not in scraped

    # When it is resumed, with one mailbox's next due time still an interval away
    later = Mailbox.objects.filter(brokerage=brokerage).order_by("email").first()
    Mailbox.objects.filter(pk=later.pk).update(next_sync_at=timezone.now() + dt.timedelta(minutes=5))
    assert "due now and dispatched at the dispatcher's next tick" in _act(client, "resume_brokerages", brokerage)

    # Then the dispatcher's next tick (one call) leases and publishes every one of them
    app.control.purge()
    report = dispatch.dispatch()
    app.control.purge()
    assert (report.leased, report.published) == (3, 3)
    assert not Mailbox.objects.filter(brokerage=brokerage, lease_token__isnull=True).exists()


def test_a_sync_of_a_mailbox_deactivated_after_it_was_queued_is_a_skip(make_brokerage):
    # Given a leased mailbox with history, deactivated by staff before its queued task arrives
    brokerage = _brokerage_with_history(make_brokerage, mailboxes=1)
    (leased,) = dispatch.lease_due(batch=10)
    Mailbox.objects.filter(pk=leased.mailbox_id).update(is_active=False)
    # When the task arrives
    engine_calls: list = []
    assert _run(leased, engine_calls) == SyncRun.Outcome.SKIPPED
    # Then nothing ran, the mailbox's health is as it was, and the skip is recorded with its remedy
    assert engine_calls == []
    mailbox = Mailbox.objects.get(pk=leased.mailbox_id)
    assert (mailbox.last_synced_at, mailbox.consecutive_failures, mailbox.lease_token) == (LAST_SUCCESS, 2, None)
    run = SyncRun.objects.get(brokerage=brokerage)
    assert (run.outcome, run.error_message, run.remedy) == (
        SyncRun.Outcome.SKIPPED, "Skipped: the mailbox is not active.", "Activate the mailbox if it should sync.")
    # And once it is active again it is still due: the next tick takes it
    Mailbox.objects.filter(pk=leased.mailbox_id).update(is_active=True)
    assert [item.mailbox_id for item in dispatch.lease_due(batch=10)] == [leased.mailbox_id]


def test_a_sync_stopped_by_the_kill_switch_midway_gives_its_lease_back(make_brokerage):
    # Given a sync running on a leased mailbox with history
    brokerage = _brokerage_with_history(make_brokerage, mailboxes=1)
    (leased,) = dispatch.lease_due(batch=10)

    def engine_paused_midway(mailbox, gateway, keep_lease):
        Brokerage.objects.filter(pk=brokerage.pk).update(status=Brokerage.Status.PAUSED)  # the kill switch, now
        keep_lease()  # the engine's next lease check
        raise AssertionError("keep_lease should have stopped the sync")

    # When the kill switch is pulled while it works
    outcome = run_sync(leased.mailbox_id, leased.lease_token, engine=engine_paused_midway, gateway_for=lambda m: None)
    # Then it stops as a skip, its lease given back (not held until it expires), health untouched
    assert outcome == SyncRun.Outcome.SKIPPED
    mailbox = Mailbox.objects.get(pk=leased.mailbox_id)
    assert (mailbox.last_synced_at, mailbox.consecutive_failures, mailbox.lease_token) == (LAST_SUCCESS, 2, None)
    assert "paused (kill switch)" in SyncRun.objects.get(brokerage=brokerage).error_message
    # And once resumed, the next tick leases it again
    Brokerage.objects.filter(pk=brokerage.pk).update(status=Brokerage.Status.ACTIVE)
    assert [item.mailbox_id for item in dispatch.lease_due(batch=10)] == [leased.mailbox_id]

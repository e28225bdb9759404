"""Per-brokerage health on the brokerage pages, and the kill switch that stops a brokerage's queued work."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from ops.health import brokerage_health
from scheduling import dispatch
from scheduling.models import SyncRun
from scheduling.runs import EngineResult, run_sync
from tests.scheduling.staff_fixtures import first_mailbox, operator, record_run, superuser  # noqa: F401


def seed_day(brokerage: Brokerage, record_run) -> None:
    """Three OK runs an hour ago, one failed and two throttled 5 hours ago, one OK run 30 hours ago (outside)."""
    mailbox = first_mailbox(brokerage)
    for _ in range(3):
        record_run(mailbox, ago=dt.timedelta(minutes=61))
    record_run(mailbox, SyncRun.Outcome.FAILED, error_class="ews_disabled", ago=dt.timedelta(hours=5))
    for _ in range(2):
        record_run(mailbox, SyncRun.Outcome.THROTTLED, error_class="throttled", ago=dt.timedelta(hours=5))
    record_run(mailbox, ago=dt.timedelta(hours=30))
    Mailbox.objects.filter(pk=mailbox.pk).update(last_synced_at=timezone.now() - dt.timedelta(minutes=61))


@pytest.mark.django_db
def test_health_counts_the_last_24_hours_by_hour(make_brokerage, record_run):
    brokerage = make_brokerage(mailboxes=3)
    seed_day(brokerage, record_run)
    Mailbox.objects.filter(pk__in=brokerage.mailboxes.order_by("email").values("pk")[1:2]).update(
        next_sync_at=timezone.now() - dt.timedelta(minutes=30)
    )

    health = brokerage_health(brokerage)

    assert len(health.hours) == 24
    assert (health.runs, health.failed, health.throttled) == (6, 1, 2)
    assert health.failure_rate == pytest.approx(1 / 6)
    assert health.behind_schedule == 1
    assert health.top_errors == [("throttled", 2), ("ews_disabled", 1)]
    assert sum(h.ok for h in health.hours) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["superuser", "operator"])
def test_brokerage_page_shows_health_figures_and_the_24_hour_chart(who, request, client, make_brokerage, record_run):
    # Given a brokerage with a day of runs and a cool-down in force
    brokerage = make_brokerage("Harbor Homes", mailboxes=2)
    seed_day(brokerage, record_run)
    Brokerage.objects.filter(pk=brokerage.pk).update(cooldown_until=timezone.now() + dt.timedelta(minutes=3))
    Mailbox.objects.filter(pk=brokerage.mailboxes.order_by("email").last().pk).update(
        next_sync_at=timezone.now() - dt.timedelta(minutes=30)
    )
    client.force_login(request.getfixturevalue(who))

    # When staff open its page
    response = client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk]))

    # Then the health box says what happened and draws it, server-side
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-behind="1" data-failed="1" data-throttled="2"' in html
    assert "16.7 % — 1 failed of 6 runs" in html
    assert "Microsoft asked us to slow down" in html
    assert '<svg class="sync-chart"' in html
    assert html.count('class="bar-ok"') == 1 and html.count('class="bar-throttled"') == 1 and html.count('class="bar-failed"') == 1
    assert "2 throttled" in html  # the tooltip of the bar 5 hours ago
    assert f"?brokerage__id__exact={brokerage.pk}&amp;outcome__exact=failed" in html
    panel = html[html.index('class="sync-health"'):html.index("All sync runs of this brokerage")]
    assert "<script" not in panel and "src=" not in panel  # no JS, nothing fetched from the network
    # ... and every link in it opens a filtered list (an unknown lookup would bounce to "?e=1")
    links = re.findall(r'href="([^"]+)"', panel)
    assert len(links) == 6  # failed runs, throttled runs, behind mailboxes, two error classes, all runs
    # ... the top errors by their human title with the staff remedy, the raw code as a detail
    assert "<strong>EWS is switched off for this tenant or app</strong></a> \u00d7 1" in panel
    assert "Set-OrganizationConfig -EwsEnabled $true" in panel and "ews_disabled</code>" in panel
    for link in links:
        followed = client.get(link.replace("&amp;", "&"))
        assert followed.status_code == 200 and "e=1" not in followed.request["QUERY_STRING"], link


@pytest.mark.django_db
def test_brokerage_list_has_a_compact_health_column(client, operator, make_brokerage, record_run):
    healthy, failing = make_brokerage("Healthy", mailboxes=1), make_brokerage("Failing", mailboxes=1)
    record_run(first_mailbox(healthy))
    Mailbox.objects.filter(brokerage=healthy).update(last_synced_at=timezone.now() - dt.timedelta(minutes=2))
    record_run(first_mailbox(failing), SyncRun.Outcome.FAILED, error_class="server_error")
    client.force_login(operator)

    html = client.get(reverse("admin:brokerages_brokerage_changelist")).content.decode()
    text = re.sub(r"<[^>]+>", "", html)  # the cell's parts are spans that wrap between them

    assert "synced 2\xa0minutes ago · 0/1 failed (1 h) · 0 behind" in text
    assert "never synced · 1/1 failed (1 h) · 0 behind" in text


@pytest.mark.django_db(transaction=True)
def test_kill_switch_pauses_the_brokerage_and_its_queued_sync_then_does_nothing(client, operator, make_brokerage):
    # Given a mailbox leased and its sync task queued
    brokerage = make_brokerage("Noisy", mailboxes=1)
    (leased,) = dispatch.lease_due(batch=10)
    client.force_login(operator)

    # When the operator pulls the kill switch
    response = client.post(reverse("admin:brokerages_brokerage_changelist"),
                           {"action": "pause_brokerages", "_selected_action": [brokerage.pk]}, follow=True)  # fmt: skip
    said = " ".join(str(m) for m in response.context["messages"])

    # Then it is paused, staff are told what happens to queued work, and the queued task does nothing
    assert "1 brokerage(s) now paused" in said and "already queued do nothing" in said
    engine_calls = []
    outcome = run_sync(leased.mailbox_id, leased.lease_token, engine=lambda *a: engine_calls.append(a) or EngineResult(),
                       gateway_for=lambda mailbox: None, task_id="queued-before-the-switch")  # fmt: skip
    assert outcome == SyncRun.Outcome.SKIPPED and engine_calls == []
    assert dispatch.lease_due(batch=10) == []  # and the dispatcher sends nothing more

    # When it is resumed, the dispatcher leases its due mailbox again
    Mailbox.objects.update(next_sync_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.post(reverse("admin:brokerages_brokerage_changelist"),
                           {"action": "resume_brokerages", "_selected_action": [brokerage.pk]}, follow=True)  # fmt: skip
    assert "dispatched at the dispatcher's next tick" in " ".join(str(m) for m in response.context["messages"])
    assert [item.mailbox_id for item in dispatch.lease_due(batch=10)] == [leased.mailbox_id]

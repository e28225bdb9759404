"""Staff find failed syncs: the sync-run list renders for both kinds of staff, filters and searches, stays read-only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from engage_sync.admin_paging import CappedCountPaginator
from scheduling.models import SyncRun
from tests.scheduling.staff_fixtures import first_mailbox, operator, record_run, superuser  # noqa: F401

pytestmark = pytest.mark.django_db
LIST_URL = "admin:scheduling_syncrun_changelist"


def listed(client, **params) -> list[int]:
    response = client.get(reverse(LIST_URL), params)
    assert response.status_code == 200
    return sorted(run.pk for run in response.context["cl"].result_list)


@pytest.mark.parametrize("who", ["superuser", "operator"])
def test_run_list_shows_mailbox_brokerage_outcome_counts_and_error_title(who, request, client, make_brokerage, record_run):
    # Given a failed run and an OK one
    brokerage = make_brokerage("Harbor Homes", mailboxes=1)
    mailbox = first_mailbox(brokerage)
    record_run(mailbox, SyncRun.Outcome.FAILED, error_class="consent_missing", duration_ms=2500, error_message="Admin consent is missing")
    record_run(mailbox, SyncRun.Outcome.OK, pulled=7, pushed=3, conflicts=1, duration_ms=420)
    client.force_login(request.getfixturevalue(who))

    # When staff open the list
    html = client.get(reverse(LIST_URL)).content.decode()

    # Then each run shows what happened, with a coloured outcome badge
    assert mailbox.email in html and "Harbor Homes" in html
    assert 'class="outcome-failed"' in html and 'class="outcome-ok"' in html
    assert "Admin consent for full_access_as_app is missing" in html  # the human title first
    assert '<code class="error-code"' in html and "consent_missing" in html  # the raw code as a detail
    assert "↓7 ↑3 ⚡1" in html


def test_filters_narrow_runs_by_brokerage_outcome_error_class_and_time(client, superuser, make_brokerage, record_run):
    # Given runs of two brokerages, of several outcomes and ages
    harbor, other = make_brokerage("Harbor", mailboxes=1), make_brokerage("Other", mailboxes=1)
    recent_failure = record_run(first_mailbox(harbor), SyncRun.Outcome.FAILED, error_class="invalid_secret", ago=dt.timedelta(minutes=5))
    throttled = record_run(first_mailbox(harbor), SyncRun.Outcome.THROTTLED, error_class="throttled", ago=dt.timedelta(hours=3))
    old_ok = record_run(first_mailbox(harbor), ago=dt.timedelta(days=3))
    others = record_run(first_mailbox(other), ago=dt.timedelta(minutes=2))
    client.force_login(superuser)

    # Then each filter keeps exactly the matching runs
    assert listed(client, brokerage__id__exact=harbor.pk) == sorted([recent_failure.pk, throttled.pk, old_ok.pk])
    assert listed(client, outcome__exact="throttled") == [throttled.pk]
    assert listed(client, error_class="invalid_secret") == [recent_failure.pk]
    assert listed(client, started="1h") == sorted([recent_failure.pk, others.pk])
    assert listed(client, started="24h") == sorted([recent_failure.pk, throttled.pk, others.pk])
    assert listed(client, started="7d", brokerage__id__exact=harbor.pk, outcome__exact="ok") == [old_ok.pk]
    # ... and the error-class choices come from the gateway's taxonomy, not from a scan of the table
    html = client.get(reverse(LIST_URL)).content.decode()
    assert "?error_class=ews_disabled" in html
    # ... each choice named by its title, the code only in the link
    assert 'title="EWS is switched off for this tenant or app"' in html or ">EWS is switched off for this tenant or app<" in html


def test_search_finds_runs_by_exact_email_address_prefix_or_task_id(client, operator, make_brokerage, record_run):
    brokerage = make_brokerage(mailboxes=2)
    ann, bob = brokerage.mailboxes.order_by("email")
    ann_run, bob_run = record_run(ann), record_run(bob)
    client.force_login(operator)

    assert listed(client, q=ann.email.upper()) == [ann_run.pk]
    assert listed(client, q=ann.email.split("@")[0]) == [ann_run.pk]
    assert listed(client, q=bob_run.task_id) == [bob_run.pk]
    assert listed(client, q="nobody@nowhere.example") == []


def test_runs_are_a_record_nobody_adds_changes_or_deletes(client, superuser, make_brokerage, record_run):
    run = record_run(first_mailbox(make_brokerage(mailboxes=1)), SyncRun.Outcome.FAILED, error_class="ews_disabled",
                     remedy="Allow the app ID in EwsAllowedAppIDs")  # fmt: skip
    client.force_login(superuser)

    detail = client.get(reverse("admin:scheduling_syncrun_change", args=[run.pk]))
    assert detail.status_code == 200 and "Allow the app ID in EwsAllowedAppIDs" in detail.content.decode()
    assert "EWS is switched off for this tenant or app" in detail.content.decode()
    assert client.get(reverse("admin:scheduling_syncrun_add")).status_code == 403
    assert client.post(reverse("admin:scheduling_syncrun_delete", args=[run.pk]), {"post": "yes"}).status_code == 403
    assert client.post(reverse("admin:scheduling_syncrun_change", args=[run.pk]), {"outcome": "ok"}).status_code == 403
    assert SyncRun.objects.get(pk=run.pk).outcome == SyncRun.Outcome.FAILED


def test_a_huge_filtered_list_counts_no_further_than_the_cap(monkeypatch, make_brokerage, record_run):
    # Given more runs than the cap allows to count
    monkeypatch.setattr("engage_sync.admin_paging.COUNT_CAP", 5)
    mailbox = first_mailbox(make_brokerage(mailboxes=1))
    for minutes in range(9):
        record_run(mailbox, SyncRun.Outcome.FAILED, ago=dt.timedelta(minutes=minutes + 1))
    # When a filtered list is paginated
    paginator = CappedCountPaginator(SyncRun.objects.filter(outcome="failed").order_by("-started_at"), 2)
    # Then the count stops just past the cap, and the pages still hold the newest runs first
    assert paginator.count == 6
    assert [run.started_at for run in paginator.page(1)] == sorted((r.started_at for r in SyncRun.objects.all()), reverse=True)[:2]

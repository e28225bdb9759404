"""Staff act on mailboxes: see each one's schedule, find those behind, sync now (really published), pause, resume."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from engage_sync.celery import app as celery_app
from scheduling.prompt import PRIORITY_CRM_CHANGE
from tests.fixtures.broker import take_from_queue
from tests.scheduling.staff_fixtures import operator, record_run, superuser  # noqa: F401

LIST_URL = "admin:brokerages_mailbox_changelist"


def act(client, action: str, mailboxes) -> str:
    response = client.post(reverse(LIST_URL), {"action": action, "_selected_action": [m.pk for m in mailboxes]}, follow=True)
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["superuser", "operator"])
def test_mailbox_list_shows_next_sync_last_synced_failures_and_pause_reason(who, request, client, make_brokerage, record_run):
    brokerage = make_brokerage(mailboxes=2)
    failing, paused = brokerage.mailboxes.order_by("email")
    Mailbox.objects.filter(pk=failing.pk).update(consecutive_failures=4, next_sync_at=timezone.now() + dt.timedelta(minutes=8),
                                                 last_synced_at=timezone.now() - dt.timedelta(hours=2))  # fmt: skip
    Mailbox.objects.filter(pk=paused.pk).update(sync_paused=True, sync_paused_reason="Mass-deletion guard: 95% of contacts vanished")
    record_run(failing, "failed", error_class="consent_missing")
    client.force_login(request.getfixturevalue(who))

    html = client.get(reverse(LIST_URL)).content.decode()

    assert "in 7\xa0minutes" in html or "in 8\xa0minutes" in html
    # failures with the latest error's human title, not its code
    assert "<strong>4</strong> · Admin consent for full_access_as_app is missing" in html
    assert "Mass-deletion guard: 95% of contacts vanished" in html


@pytest.mark.django_db
def test_behind_schedule_filter_lists_mailboxes_overdue_by_a_whole_interval(client, operator, make_brokerage):
    # Given a 5-minute brokerage with one mailbox 20 minutes overdue, one just due, one overdue but syncing,
    # one overdue but paused, and an overdue mailbox of a paused brokerage
    brokerage = make_brokerage(mailboxes=4)
    late, _just_due, syncing, paused = brokerage.mailboxes.order_by("email")
    now = timezone.now()
    Mailbox.objects.filter(pk__in=[late.pk, syncing.pk, paused.pk]).update(next_sync_at=now - dt.timedelta(minutes=20))
    Mailbox.objects.filter(pk=syncing.pk).update(lease_expires_at=now + dt.timedelta(minutes=5))
    Mailbox.objects.filter(pk=paused.pk).update(sync_paused=True)
    stopped = make_brokerage("Stopped", mailboxes=1, status=Brokerage.Status.PAUSED)
    Mailbox.objects.filter(brokerage=stopped).update(next_sync_at=now - dt.timedelta(hours=3))
    client.force_login(operator)

    # When staff filter on "behind schedule"
    found = client.get(reverse(LIST_URL), {"sync_schedule": "behind"}).context["cl"].result_list

    # Then only the mailbox the dispatcher should long have sent is listed
    assert [m.pk for m in found] == [late.pk]
    syncing_now = client.get(reverse(LIST_URL), {"sync_schedule": "syncing"}).context["cl"].result_list
    assert [m.pk for m in syncing_now] == [syncing.pk]


@pytest.mark.django_db(transaction=True)
def test_sync_now_puts_a_high_priority_sync_task_on_the_real_sync_queue(client, operator, make_brokerage):
    # Given two mailboxes not due for an hour, and a paused one
    celery_app.control.purge()
    brokerage = make_brokerage(mailboxes=3)
    first, second, paused = brokerage.mailboxes.order_by("email")
    Mailbox.objects.update(next_sync_at=timezone.now() + dt.timedelta(hours=1))
    Mailbox.objects.filter(pk=paused.pk).update(sync_paused=True)
    client.force_login(operator)

    # When the operator chooses "Sync now" for all three
    message = act(client, "sync_now", [first, second, paused])

    # Then the two are leased and their sync tasks wait on RabbitMQ's sync queue, at the CRM-change priority
    assert "2 mailbox(es) queued to sync now; 1 skipped" in message
    messages = take_from_queue("sync", expect=3, timeout=5)
    assert sorted(m.decode()[0][0] for m in messages) == sorted([first.pk, second.pk])
    assert {m.properties.get("priority") for m in messages} == {PRIORITY_CRM_CHANGE}
    leases = dict(Mailbox.objects.values_list("pk", "lease_token"))
    assert {m.decode()[0][1] for m in messages} == {str(leases[first.pk]), str(leases[second.pk])}
    assert leases[paused.pk] is None


@pytest.mark.django_db
def test_pause_and_resume_sync_change_the_rows_and_say_so(client, operator, make_brokerage):
    brokerage = make_brokerage(mailboxes=2)
    one, two = brokerage.mailboxes.order_by("email")
    Mailbox.objects.update(next_sync_at=timezone.now() + dt.timedelta(hours=1))
    client.force_login(operator)

    assert "2 mailbox(es) paused" in act(client, "pause_sync", [one, two])
    one.refresh_from_db()
    assert one.sync_paused and "Paused by olivia-operator" in one.sync_paused_reason

    assert "1 mailbox(es) resumed" in act(client, "resume_sync", [one])
    one.refresh_from_db()
    two.refresh_from_db()
    assert not one.sync_paused and one.sync_paused_reason == "" and one.next_sync_at <= timezone.now()
    assert two.sync_paused


@pytest.mark.django_db
def test_mailbox_page_shows_its_schedule_read_only_and_links_to_its_runs(client, operator, make_brokerage):
    mailbox = make_brokerage(mailboxes=1).mailboxes.get()
    Mailbox.objects.filter(pk=mailbox.pk).update(consecutive_failures=2)
    client.force_login(operator)

    html = client.get(reverse("admin:brokerages_mailbox_change", args=[mailbox.pk])).content.decode()

    assert '<div class="readonly">2</div>' in html  # consecutive failures, not an input
    assert 'name="consecutive_failures"' not in html and 'name="next_sync_at"' not in html
    assert f"/admin/scheduling/syncrun/?q={mailbox.email}" in html


@pytest.mark.django_db
def test_a_paused_mailbox_page_explains_the_pause_and_what_to_do_not_in_an_input(client, operator, make_brokerage):
    # Given a mailbox the mass-deletion guard paused
    mailbox = make_brokerage(mailboxes=1).mailboxes.get()
    reason = "Mass-deletion guard: the mailbox side lost 212 of 230 linked items (more than 50%, at least 25)"
    Mailbox.objects.filter(pk=mailbox.pk).update(sync_paused=True, sync_paused_reason=reason)
    client.force_login(operator)

    # When staff open it
    html = client.get(reverse("admin:brokerages_mailbox_change", args=[mailbox.pk])).content.decode()

    # Then the whole reason reads as text with the remedy, and there is no app sidebar taking the width
    assert f"<p><strong>{reason}</strong></p>" in html
    assert "confirm the deletion in Sync → Folder states" in html
    assert 'name="sync_paused_reason"' not in html
    assert 'id="nav-sidebar"' not in html


@pytest.mark.django_db
def test_a_failing_mailbox_page_shows_its_latest_error_by_title_with_the_remedy(client, operator, make_brokerage, record_run):
    mailbox = make_brokerage(mailboxes=1).mailboxes.get()
    Mailbox.objects.filter(pk=mailbox.pk).update(consecutive_failures=3)
    record_run(mailbox, "failed", error_class="mailbox_not_found", ago=dt.timedelta(minutes=1))
    client.force_login(operator)

    html = client.get(reverse("admin:brokerages_mailbox_change", args=[mailbox.pk])).content.decode()

    assert "<strong>The mailbox does not exist in this tenant</strong>" in html
    assert "Check the spelling, that the user has an Exchange Online licence" in html
    assert "mailbox_not_found</code>" in html


@pytest.mark.django_db
def test_the_mailbox_list_filters_by_state_switches_and_latest_error(client, operator, make_brokerage, record_run):
    # Given mailboxes in each state, one without calendar, two failing with different errors
    brokerage = make_brokerage(mailboxes=6)
    active, failing_a, failing_b, paused, inactive, no_calendar = brokerage.mailboxes.order_by("email")
    Mailbox.objects.filter(pk__in=[failing_a.pk, failing_b.pk]).update(consecutive_failures=2)
    record_run(failing_a, "failed", error_class="ews_disabled", ago=dt.timedelta(minutes=30))
    record_run(failing_a, "failed", error_class="mailbox_not_found", ago=dt.timedelta(minutes=5))  # the latest
    record_run(failing_b, "failed", error_class="ews_disabled", ago=dt.timedelta(minutes=5))
    Mailbox.objects.filter(pk=paused.pk).update(sync_paused=True)
    Mailbox.objects.filter(pk=inactive.pk).update(is_active=False)
    Mailbox.objects.filter(pk=no_calendar.pk).update(calendar_enabled=False)
    client.force_login(operator)

    def listed(**params) -> set[int]:
        response = client.get(reverse(LIST_URL), {"brokerage__id__exact": brokerage.pk, **params})
        assert response.status_code == 200 and "e=1" not in response.request["QUERY_STRING"]
        return {m.pk for m in response.context["cl"].result_list}

    # Then each filter keeps exactly its mailboxes
    assert listed(state="active") == {active.pk, no_calendar.pk}
    assert listed(state="failing") == {failing_a.pk, failing_b.pk}
    assert listed(state="paused") == {paused.pk}
    assert listed(state="inactive") == {inactive.pk}
    assert listed(calendar_enabled__exact="0") == {no_calendar.pk}
    assert listed(error_class="ews_disabled") == {failing_b.pk}
    assert listed(error_class="mailbox_not_found") == {failing_a.pk}
    # ... and the error filter's choices are the titles
    html = client.get(reverse(LIST_URL)).content.decode()
    assert ">The mailbox does not exist in this tenant</a>" in html


@pytest.mark.django_db
def test_the_brokerage_filter_lists_a_bounded_number_of_brokerages_and_still_selects_any(client, operator, make_brokerage):
    # Given 30 brokerages, the last by name with a mailbox
    for n in range(29):
        make_brokerage(f"Realty {n:02}")
    last = make_brokerage("Zeta Homes", mailboxes=1)
    client.force_login(operator)

    # When the list is opened, then the filter offers 25 of them, not all 30
    html = client.get(reverse(LIST_URL)).content.decode()
    assert "brokerage (first 25 by name; others from their page)" in html
    assert "Realty 24" in html and "Realty 25" not in html

    # ... and a link from Zeta's page still selects Zeta, shown as chosen
    response = client.get(reverse(LIST_URL), {"brokerage__id__exact": last.pk})
    assert [m.brokerage_id for m in response.context["cl"].result_list] == [last.pk]
    assert f'href="?brokerage__id__exact={last.pk}"' in response.content.decode()  # a choice of the filter

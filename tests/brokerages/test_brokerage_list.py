"""The brokerage list answers the operator's questions: which status, whose secret expires soon, where is X."""

from __future__ import annotations

import datetime

from django.urls import reverse
from django.utils import timezone

from brokerages.models import Mailbox


def in_days(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


def test_list_flags_secrets_expiring_within_30_days_and_filters_them(client, operator, make_brokerage):
    # Given one secret expiring in 10 days, one expired, one in 200 days
    soon = make_brokerage(name="Soon Realty", client_secret_expires_on=in_days(10), status="active")
    expired = make_brokerage(name="Late Realty", client_secret_expires_on=in_days(-3))
    later = make_brokerage(name="Calm Realty", client_secret_expires_on=in_days(200))
    client.force_login(operator)
    url = reverse("admin:brokerages_brokerage_changelist")

    # When the operator opens the list
    html = client.get(url).content.decode()

    # Then the two urgent ones carry a warning and the status shows as a coloured badge
    assert html.count("⚠") == 2
    assert "in 10 day(s)" in html
    assert "EXPIRED 3 day(s) ago" in html
    assert "(in 200 days)" in html
    assert 'style="background:#15803d' in html  # active, green
    # ... and the expiry filter narrows the list
    filtered = client.get(url, {"secret_expiry": "soon"}).context["cl"].result_list
    assert [b.pk for b in filtered] == [soon.pk]
    filtered = client.get(url, {"secret_expiry": "expired"}).context["cl"].result_list
    assert [b.pk for b in filtered] == [expired.pk]
    filtered = client.get(url, {"status__exact": "active"}).context["cl"].result_list
    assert [b.pk for b in filtered] == [soon.pk]
    assert later.pk not in [b.pk for b in client.get(url, {"secret_expiry": "soon"}).context["cl"].result_list]


def test_search_finds_a_brokerage_by_name_tenant_id_domain_or_agent_email(client, operator, make_brokerage):
    # Given two brokerages, one with an agent
    target = make_brokerage(name="Harbor Homes", email_domains=["harborhomes.com"], test_mailbox="t@harborhomes.com")
    make_brokerage(name="Other Realty")
    Mailbox.objects.create(brokerage=target, email="ann.agent@harborhomes.com")
    client.force_login(operator)
    url = reverse("admin:brokerages_brokerage_changelist")

    # Then each way of searching finds exactly it
    for term in ["harbor", str(target.tenant_id)[:13].upper(), "harborhomes.com", "@HarborHomes.com", "ann.agent"]:
        found = client.get(url, {"q": term}).context["cl"].result_list
        assert [b.pk for b in found] == [target.pk], term


def test_operator_pauses_active_brokerages_in_bulk_and_each_status_change_is_stamped(client, operator, make_brokerage):
    # Given an active and a new brokerage
    active = make_brokerage(status="active")
    fresh = make_brokerage(status="new")
    stamped_before = active.status_changed_at
    client.force_login(operator)

    # When the operator runs "pause" on both
    response = client.post(
        reverse("admin:brokerages_brokerage_changelist"),
        {"action": "pause_brokerages", "_selected_action": [active.pk, fresh.pk]},
        follow=True,
    )

    # Then only the active one is paused, with a new status timestamp, and the message says what happened
    active.refresh_from_db()
    fresh.refresh_from_db()
    assert (active.status, fresh.status) == ("paused", "new")
    assert active.status_changed_at > stamped_before
    assert "1 brokerage(s) now paused; 1 skipped (not active)." in response.content.decode()

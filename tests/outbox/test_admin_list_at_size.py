"""The outgoing-email list stays usable on a big outbox: filters by brokerage and by error with bounded choices
(no DISTINCT over the table, no sidebar of every brokerage), newest first, and a count that stops at a cap."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from brokerages import admin_filters
from brokerages.models import Brokerage, Mailbox
from ops import error_titles
from outbox.models import OutgoingEmail

pytestmark = pytest.mark.django_db
URL = reverse("admin:outbox_outgoingemail_changelist")


def _brokerage(n: int) -> Brokerage:
    return Brokerage.objects.create(
        name=f"Realty {n:02}", tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), client_secret="Zx8Q~list-test-secret",
        test_mailbox=f"test@realty{n}.example", email_domains=[f"realty{n}.example"], status=Brokerage.Status.ACTIVE,
    )  # fmt: skip


def _email(brokerage: Brokerage, key: str, **fields) -> OutgoingEmail:
    mailbox, _ = Mailbox.objects.get_or_create(brokerage=brokerage, email=f"agent@{brokerage.email_domains[0]}")
    return OutgoingEmail.objects.create(mailbox=mailbox, idempotency_key=key, to=["client@example.com"], subject=key,
                                        text_body="", html_body="", **fields)  # fmt: skip


@pytest.fixture
def superuser_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="x-long-password"))
    return client


def test_given_emails_of_two_brokerages_when_filtered_by_one_then_only_its_emails_are_listed(superuser_client):
    first, second = _brokerage(1), _brokerage(2)
    mine, theirs = _email(first, "mine"), _email(second, "theirs")
    html = superuser_client.get(URL, {"mailbox__brokerage__id__exact": first.pk}).content.decode()
    assert str(mine.pk) in html and str(theirs.pk) not in html


def test_given_more_brokerages_than_shown_when_listing_then_the_sidebar_is_bounded_and_keeps_the_chosen_one(superuser_client):
    brokerages = [_brokerage(n) for n in range(admin_filters.SHOWN + 5)]
    last = brokerages[-1]  # beyond the first SHOWN by name
    _email(last, "late")
    html = superuser_client.get(URL, {"mailbox__brokerage__id__exact": last.pk}).content.decode()
    assert f"first {admin_filters.SHOWN} by name" in html
    listed = set(re.findall(r"mailbox__brokerage__id__exact=(\d+)", html))
    assert len(listed) == admin_filters.SHOWN + 1 and str(last.pk) in listed  # the first SHOWN, plus the chosen


def test_given_a_failed_email_when_filtered_by_its_error_then_the_filter_shows_the_errors_title(superuser_client):
    failed = _email(_brokerage(1), "failed", status=OutgoingEmail.Status.FAILED, last_error_class="throttled")
    other = _email(_brokerage(2), "other", status=OutgoingEmail.Status.SENT)
    html = superuser_client.get(URL, {"last_error_class": "throttled"}).content.decode()
    assert str(failed.pk) in html and str(other.pk) not in html
    assert error_titles.describe("throttled").title in html


def test_given_emails_of_different_days_when_listing_then_the_newest_comes_first(superuser_client):
    brokerage = _brokerage(1)
    old, new = _email(brokerage, "old"), _email(brokerage, "new")
    OutgoingEmail.objects.filter(pk=old.pk).update(created_at=new.created_at - dt.timedelta(days=3))
    html = superuser_client.get(URL).content.decode()
    assert html.index(str(new.pk)) < html.index(str(old.pk))


def test_given_emails_of_two_agents_when_searching_one_address_in_any_case_then_only_that_agents_emails_are_listed(
    superuser_client,
):
    mine, theirs = _email(_brokerage(1), "mine"), _email(_brokerage(2), "theirs")
    html = superuser_client.get(URL, {"q": " Agent@Realty1.example "}).content.decode()
    assert str(mine.pk) in html and str(theirs.pk) not in html

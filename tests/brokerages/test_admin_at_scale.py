"""The admin at a real brokerage's size: 5,000 agents' mailboxes in one brokerage.

Its page renders and saves within Django's request limits (no inline of every mailbox), every bulk action on
all 5,000 is one UPDATE, and a 5,000-row CSV import reports its bad rows and imports the rest.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from scheduling.prompt import PRIORITY_CRM_CHANGE

from .conftest import change_form_data

AGENTS = 5_000
NEW_SECRET = "Nw9S~brand.new-secret_value-0123456789ab"
LIST_URL = "/admin/brokerages/mailbox/"


@pytest.fixture
def big_brokerage(make_brokerage) -> Brokerage:
    brokerage = make_brokerage(status=Brokerage.Status.ACTIVE)
    domain = brokerage.email_domains[0]
    Mailbox.objects.bulk_create(
        (Mailbox(brokerage=brokerage, email=f"agent{n:04}@{domain}", next_sync_at=timezone.now() + dt.timedelta(hours=1))
         for n in range(AGENTS)),
        batch_size=1_000,
    )  # fmt: skip
    return brokerage


def updates_of_mailboxes(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "brokerages_mailbox"')]


def test_the_page_of_a_brokerage_with_5000_mailboxes_renders_and_a_credential_change_saves(client, credential_manager, big_brokerage):
    # Given a credential manager on the page of a brokerage with 5,000 agents
    client.force_login(credential_manager)
    url = reverse("admin:brokerages_brokerage_change", args=[big_brokerage.pk])
    Mailbox.objects.filter(pk__in=big_brokerage.mailboxes.order_by("email").values("pk")[:3]).update(sync_paused=True)

    # When they open it, then it shows the mailboxes as counts by state with links, not 5,000 rows of inputs
    html = client.get(url).content.decode()
    assert f"<strong>{AGENTS} mailbox(es)</strong>" in html
    assert "4997 active</a>" in html and "3 paused</a>" in html and "0 failing</a>" in html
    assert f"?brokerage__id__exact={big_brokerage.pk}&amp;state=paused" in html
    assert 'name="mailboxes-0-email"' not in html

    # When they rotate the secret, the POST stays far inside DATA_UPLOAD_MAX_NUMBER_FIELDS and is saved
    data = change_form_data(big_brokerage, new_client_secret=NEW_SECRET)
    assert len(data) < 100
    response = client.post(url, data)
    assert response.status_code == 302
    assert Brokerage.objects.get(pk=big_brokerage.pk).client_secret.reveal() == NEW_SECRET


@pytest.mark.parametrize(
    ("action", "changed"),
    [
        ("pause_sync", {"sync_paused": True}),
        ("deactivate", {"is_active": False}),
        ("contacts_off", {"contacts_enabled": False}),
        ("calendar_off", {"calendar_enabled": False}),
        ("email_off", {"email_enabled": False}),
        ("sync_now", {"sync_priority": PRIORITY_CRM_CHANGE}),
    ],
)
def test_a_bulk_action_on_all_5000_mailboxes_is_one_update(action, changed, client, operator, big_brokerage):
    # Given an operator who filtered the list to the brokerage and chose "select all 5,000"
    client.force_login(operator)
    one = big_brokerage.mailboxes.first()
    url = f"{LIST_URL}?brokerage__id__exact={big_brokerage.pk}"
    post = {"action": action, "select_across": "1", "index": "0", "_selected_action": [one.pk]}

    # When the action runs
    with CaptureQueriesContext(connection) as captured:
        response = client.post(url, post, follow=False)

    # Then every mailbox changed, in one UPDATE statement and a bounded number of queries in all
    assert response.status_code == 302
    assert big_brokerage.mailboxes.filter(**changed).count() == AGENTS
    assert len(updates_of_mailboxes(captured)) == 1
    assert len(captured.captured_queries) < 20


def test_each_switch_back_is_one_update_too_and_says_how_many(client, operator, big_brokerage):
    client.force_login(operator)
    url = f"{LIST_URL}?brokerage__id__exact={big_brokerage.pk}"
    post = {"select_across": "1", "index": "0", "_selected_action": [big_brokerage.mailboxes.first().pk]}
    for off, on, field in (("pause_sync", "resume_sync", "sync_paused"), ("deactivate", "activate", "is_active"),
                           ("contacts_off", "contacts_on", "contacts_enabled"), ("calendar_off", "calendar_on", "calendar_enabled"),
                           ("email_off", "email_on", "email_enabled")):  # fmt: skip
        client.post(url, {**post, "action": off})

        with CaptureQueriesContext(connection) as captured:
            response = client.post(url, {**post, "action": on}, follow=True)

        assert len(updates_of_mailboxes(captured)) == 1, on
        assert "5000 mailbox(es)" in " ".join(str(m) for m in response.context["messages"]), on
        expected = field != "sync_paused"
        assert big_brokerage.mailboxes.filter(**{field: expected}).count() == AGENTS, on


def test_sync_now_on_5000_marks_them_due_for_the_dispatcher_instead_of_publishing_5000_tasks(client, operator, big_brokerage):
    client.force_login(operator)
    url = f"{LIST_URL}?brokerage__id__exact={big_brokerage.pk}"

    response = client.post(url, {"action": "sync_now", "select_across": "1", "index": "0",
                                 "_selected_action": [big_brokerage.mailboxes.first().pk]}, follow=True)  # fmt: skip

    message = " ".join(str(m) for m in response.context["messages"])
    assert "5000 mailbox(es) marked to sync at the dispatcher's next tick" in message
    assert big_brokerage.mailboxes.filter(next_sync_at__lte=timezone.now(), lease_token=None).count() == AGENTS


def test_a_5000_row_import_with_20_bad_rows_reports_them_and_imports_the_rest(client, operator, make_brokerage):
    # Given a CSV of 5,000 agents, 20 of them bad in the usual ways
    brokerage = make_brokerage()
    domain = brokerage.email_domains[0]
    lines = ["email,display_name,calendar_enabled"]
    bad_lines = set()
    for n in range(AGENTS):
        if n % 250 == 7:  # 20 bad rows, spread through the file
            kind = (n // 250) % 4
            lines.append([f"agent{n}@gmail.com,Outside,", "not an address,Broken,", f"agent{n}@{domain},Bad flag,maybe",
                          f"agent{n - 1}@{domain},Duplicate,"][kind])  # fmt: skip
            bad_lines.add(n + 2)
        else:
            lines.append(f"agent{n}@{domain},Agent {n},{'no' if n % 2 else 'yes'}")
    content = ("\n".join(lines) + "\n").encode()
    client.force_login(operator)

    # When it is uploaded
    url = reverse("admin:brokerages_brokerage_import_mailboxes", args=[brokerage.pk])
    with CaptureQueriesContext(connection) as captured:
        response = client.post(url, {"file": SimpleUploadedFile("agents.csv", content, content_type="text/csv")})

    # Then it took a handful of statements (batches of 1,000), not one or more per row
    assert len(captured.captured_queries) < 40
    # ... the 4,980 good rows are in, and the summary and the table list exactly the 20 bad lines with reasons
    assert response.status_code == 200
    assert brokerage.mailboxes.count() == AGENTS - 20
    assert brokerage.mailboxes.filter(calendar_enabled=False).count() > 2_000
    report = response.context["report"]
    assert (len(report.imported), len(report.updated), len(report.errors)) == (AGENTS - 20, 0, 20)
    assert {error.line for error in report.errors} == bad_lines
    assert all(error.reason for error in report.errors)
    assert "5000 row(s): 4980 created, 0 updated, 0 unchanged, 20 refused" in response.content.decode()


def test_export_streams_the_filtered_list_as_csv_that_imports_back(client, operator, big_brokerage):
    # Given 3 paused mailboxes among the 5,000
    client.force_login(operator)
    Mailbox.objects.filter(pk__in=big_brokerage.mailboxes.order_by("email").values("pk")[:3]).update(
        sync_paused=True, sync_paused_reason="Paused by ops for a migration"
    )

    # When the list filtered to them is exported
    export = reverse("admin:brokerages_mailbox_export")
    response = client.get(export, {"brokerage__id__exact": big_brokerage.pk, "state": "paused"})

    # Then it is a streamed CSV of just those rows, the import's columns first, then their state
    assert response.status_code == 200 and response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    assert rows[0]["state"] == "paused" and rows[0]["sync_paused_reason"] == "Paused by ops for a migration"
    assert rows[0]["contacts_enabled"] == "yes" and rows[0]["brokerage"] == big_brokerage.name

    # ... and the whole list exports all 5,000, which import back: edited rows updated, the rest unchanged
    everything = b"".join(client.get(export, {"brokerage__id__exact": big_brokerage.pk}).streaming_content).decode("utf-8-sig")
    assert everything.count("\n") == AGENTS + 1
    edited = everything.replace(f"agent0001@{big_brokerage.email_domains[0]},,yes,yes,yes,yes",
                                f"agent0001@{big_brokerage.email_domains[0]},Agent One,yes,yes,no,yes")  # fmt: skip
    url = reverse("admin:brokerages_brokerage_import_mailboxes", args=[big_brokerage.pk])
    again = client.post(url, {"file": SimpleUploadedFile("m.csv", edited.encode(), content_type="text/csv")}, follow=True)
    assert "0 mailbox(es) created, 1 updated, 4999 unchanged, 0 row(s) refused." in " ".join(
        str(m) for m in again.context["messages"]
    )
    assert big_brokerage.mailboxes.count() == AGENTS
    one = big_brokerage.mailboxes.get(email=f"agent0001@{big_brokerage.email_domains[0]}")
    assert (one.display_name, one.calendar_enabled) == ("Agent One", False)

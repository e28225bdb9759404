"""Bulk import of agents from CSV: good rows in, every bad row reported with its reason, nothing half-written."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from brokerages import mailbox_import
from brokerages.models import Brokerage, Mailbox


@pytest.fixture
def brokerage(make_brokerage):
    return make_brokerage(email_domains=["acme-realty.com", "acme.co.uk"], test_mailbox="t@acme-realty.com")


def upload(client, brokerage, text: str | bytes, name: str = "agents.csv"):
    content = text.encode() if isinstance(text, str) else text
    url = reverse("admin:brokerages_brokerage_import_mailboxes", args=[brokerage.pk])
    return client.post(url, {"file": SimpleUploadedFile(name, content, content_type="text/csv")})


CSV_WITH_BAD_ROWS = (
    "\ufeffEmail,display_name,contacts_enabled,calendar_enabled,email_enabled\n"  # Excel's BOM and capitalised header
    "ann@acme-realty.com,Ann Agent,yes,no,1\n"
    "BOB@Acme.co.uk,Bob Broker,,,\n"
    "carl@gmail.com,Carl Outside,,,\n"  # outside the domains
    "ann@ACME-realty.com,Ann Again,,,\n"  # duplicate in the file
    "existing@acme-realty.com,Already There,,no,\n"  # already registered here: updated
    "elsewhere@acme-realty.com,Elsewhere,,,\n"  # registered to another brokerage
    "not-an-address,Nobody,,,\n"  # malformed
    "dora@acme-realty.com,Dora,maybe,,\n"  # bad flag
    "erin@acme-realty.com,Erin,,,\n"
    ",,,,\n"  # blank line: skipped, not an error
)


def test_csv_with_bad_rows_imports_the_good_ones_and_reports_each_bad_one(client, operator, brokerage):
    # Given an operator and a CSV mixing good and bad rows, one address already registered here, one elsewhere
    Mailbox.objects.create(brokerage=brokerage, email="existing@acme-realty.com")
    other = Brokerage.objects.create(name="Other Realty", tenant_id=brokerage.tenant_id, client_id=brokerage.client_id,
                                     test_mailbox="t@other-realty.com", email_domains=["other-realty.com"])  # fmt: skip
    Mailbox.objects.create(brokerage=other, email="elsewhere@acme-realty.com")
    client.force_login(operator)

    # When it is uploaded on the brokerage's import page
    response = upload(client, brokerage, CSV_WITH_BAD_ROWS)

    # Then the good rows are in, with their flags
    assert response.status_code == 200
    imported = {m.email: m for m in Mailbox.objects.filter(brokerage=brokerage)}
    assert set(imported) == {"ann@acme-realty.com", "bob@acme.co.uk", "erin@acme-realty.com", "existing@acme-realty.com"}
    ann = imported["ann@acme-realty.com"]
    assert (ann.display_name, ann.contacts_enabled, ann.calendar_enabled, ann.email_enabled, ann.is_active) == (
        "Ann Agent", True, False, True, True,
    )  # fmt: skip
    # ... every bad row is listed with its line and reason, and none of them was written
    html = response.content.decode()
    assert "3 created, 1 updated, 0 unchanged, 5 refused" in html
    existing = imported["existing@acme-realty.com"]
    assert (existing.display_name, existing.calendar_enabled, existing.contacts_enabled) == ("Already There", False, True)
    for expected in [
        "<td>4</td><td>carl@gmail.com</td><td>carl@gmail.com is outside the brokerage&#x27;s domains (acme-realty.com, acme.co.uk).",
        "<td>5</td><td>ann@acme-realty.com</td><td>Duplicate of line 2 in this file.",
        "<td>7</td><td>elsewhere@acme-realty.com</td><td>Already exists in another brokerage (“Other Realty”).",
        "<td>8</td><td>not-an-address</td><td>“not-an-address” is not a valid email address.",
        "<td>9</td><td>dora@acme-realty.com</td><td>contacts_enabled must be yes or no",
    ]:
        assert expected in html
    assert not Mailbox.objects.filter(email__in=["carl@gmail.com", "dora@acme-realty.com"]).exists()


def test_import_of_a_clean_file_returns_to_the_brokerage_page(client, operator, brokerage):
    client.force_login(operator)
    response = upload(client, brokerage, "email\nzed@acme-realty.com\n")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])
    assert Mailbox.objects.filter(brokerage=brokerage).count() == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name,phone\nAnn,123\n", "must be a header with an “email” column"),
        ("email,department\nann@acme-realty.com,sales\n", "Unknown column(s): department"),
        (b"email\n\xff\xfeann@acme-realty.com\n", "save it as “CSV UTF-8”"),
        (b"email\n" + b"x@acme-realty.com\n" * 70_000, "larger than 1 MB"),
        ("email\n" + "".join(f"a{n}@acme-realty.com\n" for n in range(mailbox_import.MAX_ROWS + 1)), "more than 5000 rows"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_whole_with_the_reason(client, operator, brokerage, content, expected):
    client.force_login(operator)
    response = upload(client, brokerage, content)
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not Mailbox.objects.exists()


def test_row_with_too_many_values_is_reported_not_guessed(brokerage):
    report = mailbox_import.import_mailboxes(brokerage, b"email,display_name\nann@acme-realty.com,Agent, Ann\n")
    assert report.imported == []
    assert report.errors[0].reason == "More values than columns; check for an unquoted comma."


def test_someone_without_the_add_mailbox_permission_cannot_import(client, brokerage, django_user_model):
    # Given a staff user who may only view brokerages
    viewer = django_user_model.objects.create_user("vic-viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_brokerage"))
    client.force_login(viewer)

    # Then the import is forbidden
    assert upload(client, brokerage, "email\nann@acme-realty.com\n").status_code == 403
    assert not Mailbox.objects.exists()


def test_an_address_too_long_for_the_column_is_a_row_error_not_a_crash(brokerage):
    long_address = "a" * 64 + "." + "b" * 64 + "." + "c" * 64 + "." + "d" * 50 + "@acme-realty.com"
    report = mailbox_import.import_mailboxes(brokerage, f"email\n{long_address}\nok@acme-realty.com\n".encode())
    assert report.imported == ["ok@acme-realty.com"]
    assert report.errors[0].line == 2

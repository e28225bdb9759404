"""Every error class staff can meet has a human title and a remedy; the raw code stays a secondary detail."""

from __future__ import annotations

import inspect

import pytest

import brokerages.verification  # noqa: F401  (defines CredentialsMissing, a class of the taxonomy too)
from mailboxes import errors
from ops import error_titles

TAXONOMY = [
    cls for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.GatewayError) and isinstance(cls.__dict__.get("kind"), str)
]  # fmt: skip


def test_the_taxonomy_is_read_whole():
    assert len(TAXONOMY) >= 20
    assert {cls.kind for cls in TAXONOMY} <= set(error_titles.all_codes())
    assert {"internal_error", "credentials_missing"} <= set(error_titles.all_codes())


@pytest.mark.parametrize("cls", TAXONOMY, ids=lambda cls: cls.kind)
def test_every_error_class_in_the_taxonomy_has_a_human_title_and_a_staff_remedy(cls):
    described = error_titles.describe(cls.kind)
    assert described.title != cls.kind and " " in described.title  # words, not a code
    assert len(described.remedy) > 20


def test_a_list_cell_shows_the_title_first_and_the_code_as_a_detail():
    html = error_titles.title_with_code("mailbox_not_found")
    assert html.startswith("The mailbox does not exist in this tenant ")
    assert '<code class="error-code"' in html and "mailbox_not_found</code>" in html
    assert error_titles.title_with_code("") == "—"


def test_an_unknown_code_from_an_old_row_is_shown_as_itself_readably():
    described = error_titles.describe("some_retired_class")
    assert (described.title, described.remedy) == ("Some retired class", "")


@pytest.mark.django_db
def test_verification_runs_are_filtered_by_error_title(client, django_user_model):
    from brokerages.models import Brokerage, VerificationRun

    brokerage = Brokerage.objects.create(name="Harbor", tenant_id="6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
                                         client_id="0f8fad5b-d9cb-469f-a165-70867728950e", test_mailbox="t@harbor.com",
                                         email_domains=["harbor.com"])  # fmt: skip
    failed = VerificationRun.objects.create(brokerage=brokerage, reason="manual", status="failed", error_kind="consent_missing")
    VerificationRun.objects.create(brokerage=brokerage, reason="manual", status="verified")
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))

    response = client.get("/admin/brokerages/verificationrun/", {"error_kind": "consent_missing"})

    assert [run.pk for run in response.context["cl"].result_list] == [failed.pk]
    assert ">Admin consent for full_access_as_app is missing</a>" in response.content.decode()

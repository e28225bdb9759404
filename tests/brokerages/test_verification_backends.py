"""The verdict per backend: which backends the brokerage's tenant lets the app use, and what to do about the others
(real MSAL, the simulator over HTTPS; the brokerage's backend verified in full, the other probed)."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.urls import reverse
from django.utils.html import escape

from brokerages import verification
from brokerages.models import Brokerage, VerificationRun
from mailboxes import errors
from mailboxes.graph.classify import GraphConsentMissing

from .verification_support import sim_brokerage, wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)


def verify(brokerage: Brokerage) -> VerificationRun:
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    verification.execute(run.pk)
    run.refresh_from_db()
    return run


def verification_box(admin_client, brokerage: Brokerage) -> str:
    html = admin_client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    return html.split('id="verification"')[1].split("</form>")[0]


def test_a_tenant_with_ews_switched_off_verifies_on_graph_only_and_says_so(
    simulator, sim_tenant, celery_worker, admin_client
):
    # Given a Microsoft 365 tenant that has switched EWS off, and its brokerage on Graph
    tenant = sim_tenant()
    simulator.update_tenant(tenant.tenant_id, ews_enabled=False)
    brokerage = sim_brokerage(simulator, tenant, mailbox_backend="graph")

    # When staff verify it and a real worker runs the check
    admin_client.post(reverse("admin:brokerages_brokerage_verify", args=[brokerage.pk]))
    run = wait_for_run(brokerage)

    # Then it is verified on Graph, and the verdict says Graph is usable and EWS is not, with EWS's remedy
    brokerage.refresh_from_db()
    assert run.status == VerificationRun.Status.VERIFIED, list(run.steps.values_list("name", "outcome", "detail"))
    assert brokerage.status == Brokerage.Status.VERIFIED
    assert run.usable_backends == ["Microsoft Graph"]
    assert run.verdict_of("ews") == {
        "backend": "ews", "usable": False, "checked": "token and test mailbox only", "failed_step": "mailbox",
        "error_kind": errors.EwsDisabled.kind, "error_title": errors.EwsDisabled.title,
        "error_remedy": errors.EwsDisabled.remedy,
    }  # fmt: skip
    assert "EwsAllowedAppIDs" in errors.EwsDisabled.remedy and "Microsoft Graph" in errors.EwsDisabled.remedy
    # ... and the brokerage page says so
    box = verification_box(admin_client, brokerage)
    assert "<strong>Backends this brokerage can use:</strong>\n            Microsoft Graph</p>" in box
    assert 'data-backend="graph" data-usable="yes"' in box and 'data-backend="ews" data-usable="no"' in box
    assert escape(errors.EwsDisabled.remedy) in box


def test_an_ews_brokerage_whose_app_is_not_on_ews_allowed_app_ids_fails_and_learns_that_graph_works(
    simulator, sim_tenant, admin_client
):
    # Given a tenant whose EWS allow-list (EwsAllowedAppIDs) names another app only, and its brokerage on EWS
    tenant = sim_tenant()
    simulator.update_tenant(tenant.tenant_id, ews_allowed_app_ids=[str(uuid.uuid4())])
    brokerage = sim_brokerage(simulator, tenant, mailbox_backend="ews")

    # When it is verified
    run = verify(brokerage)

    # Then it cannot be verified on EWS, with the allow-list remedy, and the verdict names Graph as usable
    assert (run.status, run.failed_step, run.error_kind) == (VerificationRun.Status.FAILED, "mailbox", "ews_disabled")
    assert "EwsAllowedAppIDs" in run.error_remedy
    assert run.usable_backends == ["Microsoft Graph"]
    assert run.verdict_of("graph") == {"backend": "graph", "usable": True, "checked": "token and test mailbox only"}
    box = verification_box(admin_client, brokerage)
    assert "Cannot be verified" in box and "Microsoft Graph</p>" in box
    assert 'data-backend="graph" data-usable="yes"' in box
    # ... and once it has a history, each past run there says which backends were usable
    verify(brokerage)
    history = verification_box(admin_client, brokerage).split("Verification history")[1]
    assert history.count("usable: Microsoft Graph</span>") == 2


def test_a_graph_app_missing_mail_send_is_told_which_permission_needs_admin_consent(simulator, sim_tenant, admin_client):
    # Given a brokerage on Graph whose app has every permission but Mail.Send
    tenant = sim_tenant()
    simulator.update_app(tenant.tenant_id, tenant.client_id, graph_roles={"Mail.Send": None})
    brokerage = sim_brokerage(simulator, tenant, mailbox_backend="graph")

    # When it is verified
    run = verify(brokerage)

    # Then it fails at the token step, and the verdict names Mail.Send and admin consent, not the granted ones
    assert (run.failed_step, run.error_kind) == ("token", errors.ConsentMissing.kind)
    assert "Mail.Send" in run.error_title and "Mail.Send" in run.error_remedy
    assert "Grant admin consent" in run.error_remedy and "Contacts.ReadWrite" not in run.error_remedy
    assert run.error_remedy == GraphConsentMissing(missing=["Mail.Send"]).remedy
    assert "Mail.Send" in run.steps.get(backend="graph", name="token").detail
    # ... while EWS, whose permission is consented, would work
    assert run.usable_backends == ["Exchange Web Services (EWS)"]
    assert escape(run.error_remedy) in verification_box(admin_client, brokerage)


def test_an_access_policy_excluding_the_test_mailbox_gets_the_scope_remedy(simulator, sim_tenant):
    # Given a brokerage on Graph whose app an access policy (RBAC for Applications scope) limits to another mailbox
    tenant = sim_tenant()
    in_scope = simulator.create_mailboxes(tenant.tenant_id, [f"in-scope@{tenant.domain}"])[0]
    simulator.set_mailbox_scope(tenant.tenant_id, tenant.client_id, [in_scope])
    brokerage = sim_brokerage(simulator, tenant, mailbox_backend="graph")

    # When it is verified
    run = verify(brokerage)

    # Then its token is fine and the test mailbox is out of the app's scope, with what the administrator must do
    assert (run.failed_step, run.error_kind) == ("mailbox", errors.MailboxOutOfScope.kind)
    assert "Test-ApplicationAccessPolicy" in run.error_remedy and "management scope" in run.error_remedy
    assert run.verdict_of("graph")["usable"] is False


def test_without_credentials_neither_backend_is_checked(simulator, sim_tenant, admin_client):
    # Given a brokerage whose next secret is checked, but none is entered
    brokerage = sim_brokerage(simulator, sim_tenant(), mailbox_backend="graph", status=Brokerage.Status.VERIFIED)
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL, pending_secret=True)
    verification.execute(run.pk)
    run.refresh_from_db()

    # Then the verdict tries no backend: both "not checked", their steps skipped
    assert [(v["backend"], v["usable"]) for v in run.backends] == [("graph", None), ("ews", None)]
    assert set(run.steps.exclude(backend="").values_list("outcome", flat=True)) == {"skipped"}
    assert run.usable_backends == []


def test_the_staff_mail_about_an_active_ews_brokerage_losing_ews_names_graph_as_usable(simulator, sim_tenant, settings):
    # Given an active brokerage on EWS whose tenant has just switched EWS off
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, mailbox_backend="ews", status=Brokerage.Status.ACTIVE)
    simulator.update_tenant(tenant.tenant_id, ews_enabled=False)

    # When it is re-verified
    verify(brokerage)

    # Then staff are mailed the EWS remedy and that the tenant lets the app use Microsoft Graph
    [alert] = mail.outbox
    assert errors.EwsDisabled.title in alert.subject and "EwsAllowedAppIDs" in alert.body
    assert "Backends its tenant lets the app use: Microsoft Graph\n" in alert.body

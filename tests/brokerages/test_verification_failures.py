"""Each way onboarding goes wrong, produced by its real condition at the simulator (real MSAL, real exchangelib or
httpx over HTTPS), ends *Cannot be verified* at the right step, with its class and remedy on the brokerage page, on
each backend the condition applies to."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from django.utils.html import escape

from brokerages import verification
from brokerages.models import Brokerage, VerificationRun
from mailboxes import errors
from mailboxes.graph.classify import GRAPH_ROLES, GraphConsentMissing, GraphMailboxOutOfScope

from .verification_support import sim_brokerage

pytestmark = pytest.mark.django_db


def wrong_secret(simulator, tenant, other):
    return {"client_secret": tenant.client_secret[:-4] + "abcd"}


def expired_secret(simulator, tenant, other):
    simulator.expire_secret(tenant.tenant_id, tenant.client_id, tenant.secret_key_id)
    return {}


def unknown_app(simulator, tenant, other):
    return {"client_id": str(uuid.uuid4())}


def unknown_tenant(simulator, tenant, other):
    return {"tenant_id": str(uuid.uuid4())}


def no_consent(simulator, tenant, other):
    # Neither full_access_as_app nor any Graph permission consented: the permissions were added, never granted.
    simulator.update_app(tenant.tenant_id, tenant.client_id, consented=False,
                         graph_roles=dict.fromkeys(GRAPH_ROLES, False))  # fmt: skip
    return {}


def mail_send_not_granted(simulator, tenant, other):
    simulator.update_app(tenant.tenant_id, tenant.client_id, graph_roles={"Mail.Send": None})
    return {}


def mailbox_outside_the_apps_scope(simulator, tenant, other):
    # An application access policy (RBAC for Applications scope) naming another of the tenant's mailboxes only.
    agent = simulator.create_mailboxes(tenant.tenant_id, [f"agent-in-scope@{tenant.domain}"])[0]
    simulator.set_mailbox_scope(tenant.tenant_id, tenant.client_id, [agent])
    return {}


def mailbox_missing(simulator, tenant, other):
    return {"test_mailbox": f"nobody@{tenant.domain}"}


def mailbox_in_another_tenant(simulator, tenant, other):
    # The brokerage's domain list wrongly includes another tenant's domain, whose mailbox is the test mailbox.
    return {"email_domains": [tenant.domain, other.domain], "test_mailbox": other.mailboxes[0]}


def ews_switched_off(simulator, tenant, other):
    simulator.update_tenant(tenant.tenant_id, ews_enabled=False)
    return {}


def throttled(simulator, tenant, other):
    simulator.add_fault("server_busy", mailbox=tenant.mailboxes[0], back_off_ms=30000, count=1)
    return {}


EWS, GRAPH = "ews", "graph"
FAILURES = [
    # (backend, condition, failing step, expected class, or an instance where the remedy depends on the case)
    *((backend, condition, "token", expected) for backend in (EWS, GRAPH) for condition, expected in (
        (wrong_secret, errors.InvalidSecret),
        (expired_secret, errors.ExpiredSecret),
        (unknown_app, errors.AppNotInTenant),
        (unknown_tenant, errors.TenantNotFound),
    )),
    (EWS, no_consent, "token", errors.ConsentMissing),
    (GRAPH, no_consent, "token", GraphConsentMissing(missing=GRAPH_ROLES)),
    (GRAPH, mail_send_not_granted, "token", GraphConsentMissing(missing=["Mail.Send"])),
    (EWS, mailbox_missing, "mailbox", errors.MailboxNotFound),
    (GRAPH, mailbox_missing, "mailbox", errors.MailboxNotFound),
    (EWS, mailbox_in_another_tenant, "mailbox", errors.MailboxOutOfScope),
    # Graph looks the address up in the token's tenant only: another tenant's mailbox is not found there.
    (GRAPH, mailbox_in_another_tenant, "mailbox", errors.MailboxNotFound),
    (GRAPH, mailbox_outside_the_apps_scope, "mailbox", GraphMailboxOutOfScope),
    # The EWS switch does not touch Graph: a Graph brokerage verifies there (test_verification_backends.py).
    (EWS, ews_switched_off, "mailbox", errors.EwsDisabled),
    (EWS, throttled, "mailbox", errors.Throttled),
    (GRAPH, throttled, "mailbox", errors.Throttled),
]  # fmt: skip


@pytest.mark.parametrize(
    ("backend", "condition", "failing_step", "expected"), FAILURES,
    ids=[f"{backend}-{condition.__name__}" for backend, condition, _, _ in FAILURES],
)  # fmt: skip
def test_each_failure_ends_cannot_be_verified_with_its_step_class_and_remedy_on_the_page(
    simulator, sim_tenant, admin_client, backend, condition, failing_step, expected
):
    # Given a brokerage on the backend whose tenant has the condition
    tenant, other = sim_tenant(), sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, mailbox_backend=backend, **condition(simulator, tenant, other))

    # When its credentials are verified
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    verification.execute(run.pk)

    # Then the run failed at the expected step, with the class and its remedy, and later steps were skipped
    run.refresh_from_db()
    brokerage.refresh_from_db()
    assert run.status == VerificationRun.Status.FAILED
    assert brokerage.status == Brokerage.Status.CANNOT_BE_VERIFIED
    assert (run.failed_step, run.error_kind, run.error_remedy) == (failing_step, expected.kind, expected.remedy)
    # (the steps before any backend and those of the brokerage's own; the other backend is only probed)
    outcomes = [(s.name, s.outcome) for s in run.steps.all() if s.backend in ("", backend)]
    failed_at = [name for name, _ in outcomes].index(failing_step)
    assert all(outcome == "ok" for _, outcome in outcomes[:failed_at])
    assert outcomes[failed_at][1] == "failed"
    assert all(outcome == "skipped" for _, outcome in outcomes[failed_at + 1 :])
    # ... and the brokerage page shows it prominently: outcome, class, step and what to do
    html = admin_client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    box = html.split('id="verification"')[1].split("</form>")[0]
    assert "Cannot be verified" in box
    assert escape(expected.title) in box and f"<code>{expected.kind}</code>" in box
    assert f"(step: {failing_step})" in box
    assert escape(expected.remedy) in box
    assert f'data-step="{failing_step}" data-outcome="failed" data-backend="{backend}"' in box
    # ... and the verdict says this backend is not usable, with the same remedy
    assert run.backends[0] == {
        "backend": backend, "usable": False, "checked": "in full", "failed_step": failing_step, "error_kind": expected.kind,
        "error_title": expected.title, "error_remedy": expected.remedy,
    }  # fmt: skip
    assert f'data-backend="{backend}" data-usable="no"' in box


def test_test_mailbox_outside_the_domains_is_refused_with_zero_requests_at_the_simulator(
    simulator, sim_tenant, admin_client
):
    # Given a brokerage whose test mailbox is outside its domains (saved without the form's check)
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, test_mailbox="someone@not-this-brokerage.example")
    before = simulator.stats()

    # When it is verified
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    verification.execute(run.pk)

    # Then it is refused at the domain step and nothing at all reached the simulator (no token, no EWS)
    assert simulator.stats() == before
    run.refresh_from_db()
    assert (run.failed_step, run.error_kind) == ("domain", errors.MailboxNotAllowed.kind)
    assert [s.outcome for s in run.steps.all()][:3] == ["ok", "failed", "skipped"]
    html = admin_client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    assert escape(errors.MailboxNotAllowed.remedy) in html


def test_a_next_secret_check_without_a_next_secret_fails_at_the_credentials_step_without_changing_status(
    simulator, sim_tenant
):
    # Given a verified brokerage with no next secret entered
    brokerage = sim_brokerage(simulator, sim_tenant(), status=Brokerage.Status.VERIFIED)

    # When its next secret is verified
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL, pending_secret=True)
    verification.execute(run.pk)

    # Then the run says no credential is entered, and the brokerage keeps its status
    run.refresh_from_db()
    brokerage.refresh_from_db()
    assert (run.failed_step, run.error_kind) == ("credentials", verification.CredentialsMissing.kind)
    assert brokerage.status == Brokerage.Status.VERIFIED

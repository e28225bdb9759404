"""Each way onboarding goes wrong, produced by its real condition at the simulator (real MSAL, real exchangelib),
ends *Cannot be verified* at the right step, with its class and remedy on the brokerage page."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from django.utils.html import escape

from brokerages import verification
from brokerages.models import Brokerage, VerificationRun
from mailboxes import errors

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
    simulator.update_app(tenant.tenant_id, tenant.client_id, consented=False)
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


@pytest.mark.parametrize(
    ("condition", "failing_step", "expected"),
    [
        (wrong_secret, "token", errors.InvalidSecret),
        (expired_secret, "token", errors.ExpiredSecret),
        (unknown_app, "token", errors.AppNotInTenant),
        (unknown_tenant, "token", errors.TenantNotFound),
        (no_consent, "token", errors.ConsentMissing),
        (mailbox_missing, "mailbox", errors.MailboxNotFound),
        (mailbox_in_another_tenant, "mailbox", errors.MailboxOutOfScope),
        (ews_switched_off, "mailbox", errors.EwsDisabled),
        (throttled, "mailbox", errors.Throttled),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_each_failure_ends_cannot_be_verified_with_its_step_class_and_remedy_on_the_page(
    simulator, sim_tenant, admin_client, condition, failing_step, expected
):
    # Given a brokerage whose tenant has the condition
    tenant, other = sim_tenant(), sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, **condition(simulator, tenant, other))

    # When its credentials are verified
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL)
    verification.execute(run.pk)

    # Then the run failed at the expected step, with the class and its remedy, and later steps were skipped
    run.refresh_from_db()
    brokerage.refresh_from_db()
    assert run.status == VerificationRun.Status.FAILED
    assert brokerage.status == Brokerage.Status.CANNOT_BE_VERIFIED
    assert (run.failed_step, run.error_kind, run.error_remedy) == (failing_step, expected.kind, expected.remedy)
    outcomes = [(s.name, s.outcome) for s in run.steps.all()]
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
    assert f'data-step="{failing_step}" data-outcome="failed"' in box


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

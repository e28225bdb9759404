"""Zero-gap secret rotation: the next secret is verified with a fresh token of its own, then swapped in (audited);
the current secret keeps working until that moment, and a next secret that fails changes nothing."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from brokerages import verification
from brokerages.gateways import gateway_for_brokerage
from brokerages.models import Brokerage, CredentialAuditEntry, VerificationRun
from mailboxes import errors

from .verification_support import sim_brokerage

pytestmark = pytest.mark.django_db

NEXT_EXPIRY = timezone.localdate() + datetime.timedelta(days=700)


def enter_next_secret(brokerage: Brokerage, value: str) -> Brokerage:
    brokerage.pending_client_secret = value
    brokerage.pending_client_secret_expires_on = NEXT_EXPIRY
    brokerage.save()
    return Brokerage.objects.get(pk=brokerage.pk)


def test_next_secret_is_verified_then_promoted_and_the_old_one_was_used_until_then(
    simulator, sim_tenant, admin_client, admin_user, django_capture_on_commit_callbacks
):
    # Given an active brokerage and a second secret its administrator created, entered as the next secret
    tenant = sim_tenant()
    new_secret = simulator.add_secret(tenant.tenant_id, tenant.client_id, lifetime_days=700)
    brokerage = enter_next_secret(sim_brokerage(simulator, tenant, status=Brokerage.Status.ACTIVE), new_secret["value"])

    # When staff run "Verify and promote the next secret" (the task is published after commit)
    with django_capture_on_commit_callbacks(execute=False) as published:
        admin_client.post(
            reverse("admin:brokerages_brokerage_changelist"),
            {"action": "verify_and_promote_next_secret", "_selected_action": [brokerage.pk]},
        )
    run = brokerage.verification_runs.get()
    assert run.pending_secret and len(published) == 1

    # Then until the run promotes it, the current secret is the old one, and it works
    current = Brokerage.objects.get(pk=brokerage.pk)
    assert current.client_secret.reveal() == tenant.client_secret
    assert gateway_for_brokerage(current).check_token(fresh=True).has_mailbox_access
    verification.execute(run.pk)

    # ... after it, the next secret is the current one, the slot is empty, and the swap is audited to the user
    run.refresh_from_db()
    promoted = Brokerage.objects.get(pk=brokerage.pk)
    assert run.status == VerificationRun.Status.VERIFIED and run.promoted
    assert run.steps.get(name="credentials").detail == "using the next client secret"
    assert promoted.client_secret.reveal() == new_secret["value"]
    assert promoted.client_secret_expires_on == NEXT_EXPIRY
    assert promoted.pending_client_secret is None
    assert promoted.status == Brokerage.Status.ACTIVE  # syncs never stopped
    swap = CredentialAuditEntry.objects.filter(brokerage=brokerage).first()
    assert swap.changes["client_secret"] == "changed" and swap.changes["pending_client_secret"] == "cleared"
    assert swap.actor == admin_user
    # ... and with the old secret deleted in Entra ID, the brokerage keeps working on the new one
    simulator.delete_secret(tenant.tenant_id, tenant.client_id, tenant.secret_key_id)
    assert gateway_for_brokerage(promoted).check_token(fresh=True).has_mailbox_access


def test_a_next_secret_that_fails_is_not_promoted_and_the_current_one_keeps_working(
    simulator, sim_tenant, settings
):
    # Given an active brokerage whose next secret was mistyped, and staff to alert
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    tenant = sim_tenant()
    brokerage = enter_next_secret(
        sim_brokerage(simulator, tenant, status=Brokerage.Status.ACTIVE), tenant.client_secret[:-4] + "zzzz"
    )

    # When the next secret is verified
    run = verification.request_verification(brokerage, reason=VerificationRun.Reason.MANUAL, pending_secret=True)
    verification.execute(run.pk)

    # Then it failed at the token step, nothing was swapped, the status is untouched and the current secret works
    run.refresh_from_db()
    after = Brokerage.objects.get(pk=brokerage.pk)
    assert (run.failed_step, run.error_kind, run.promoted) == ("token", errors.InvalidSecret.kind, False)
    assert after.client_secret.reveal() == tenant.client_secret
    assert after.pending_client_secret.reveal() == tenant.client_secret[:-4] + "zzzz"
    assert after.status == Brokerage.Status.ACTIVE
    assert gateway_for_brokerage(after).check_token(fresh=True).has_mailbox_access
    # ... and staff were told what to do, without the secret
    [alert] = mail.outbox
    assert "next client secret" in alert.body.lower() and errors.InvalidSecret.remedy in alert.body
    assert tenant.client_secret[:-4] not in alert.body + alert.subject


def test_only_credential_managers_may_promote_a_next_secret(operator, credential_manager, make_brokerage, client):
    # Given a brokerage with a next secret
    make_brokerage(pending_client_secret="Pq7R~n3xt-s3cr3t.for_rotation.klmnopqrs3")
    url = reverse("admin:brokerages_brokerage_changelist")

    def actions_of(user) -> set[str]:
        client.force_login(user)
        return {name for name, _ in client.get(url).context["action_form"].fields["action"].choices}

    # Then operators may verify but not promote; credential managers may do both
    assert "verify_credentials" in actions_of(operator)
    assert "verify_and_promote_next_secret" not in actions_of(operator)
    assert {"verify_credentials", "verify_and_promote_next_secret"} <= actions_of(credential_manager)

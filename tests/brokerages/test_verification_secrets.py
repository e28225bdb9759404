"""Invariant 1 for verification: no secret or token in any log line, printed output, task message,
verification record, staff mail or admin page, across good, failing and rotating runs on a real worker."""

from __future__ import annotations

import logging

import pytest
from celery.signals import before_task_publish
from django.core import mail
from django.urls import reverse

from brokerages.gateways import connection_details, token_provider
from brokerages.models import Brokerage, CredentialAuditEntry, VerificationRun, VerificationStep

from .verification_support import sim_brokerage, wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_secret_or_token_in_logs_task_messages_records_mails_or_pages(
    simulator, sim_tenant, celery_worker, admin_client, caplog, capsys, settings
):
    # Given three brokerages: a good one (with a next secret to promote), one with a wrong secret, staff to alert
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    good_tenant, bad_tenant = sim_tenant(), sim_tenant()
    next_secret = simulator.add_secret(good_tenant.tenant_id, good_tenant.client_id, lifetime_days=700)["value"]
    wrong_secret = bad_tenant.client_secret[:-6] + "Wr0ng~"
    good = sim_brokerage(simulator, good_tenant, pending_client_secret=next_secret, status=Brokerage.Status.ACTIVE)
    bad = sim_brokerage(simulator, bad_tenant, client_secret=wrong_secret, status=Brokerage.Status.ACTIVE)
    secrets = [good_tenant.client_secret, next_secret, bad_tenant.client_secret, wrong_secret]
    messages = []

    def remember(sender=None, body=None, headers=None, **kwargs):
        messages.append(f"{sender} {body!r} {headers!r}")

    # When staff verify both, with a test message, then promote the next secret, everything logged at DEBUG
    before_task_publish.connect(remember, weak=False)
    try:
        with caplog.at_level(logging.DEBUG):
            changelist = reverse("admin:brokerages_brokerage_changelist")
            admin_client.post(changelist, {"action": "verify_credentials_with_test_message",
                                           "_selected_action": [good.pk, bad.pk]})  # fmt: skip
            first_good, first_bad = wait_for_run(good), wait_for_run(bad)
            admin_client.post(changelist, {"action": "verify_and_promote_next_secret", "_selected_action": [good.pk]})
            promotion = wait_for_run(good, after=first_good.pk)
            token = token_provider().get_token(connection_details(Brokerage.objects.get(pk=good.pk))).value.reveal()
            pages = [
                admin_client.get(reverse("admin:brokerages_brokerage_change", args=[good.pk])),
                admin_client.get(reverse("admin:brokerages_brokerage_change", args=[bad.pk])),
                admin_client.get(changelist),
                admin_client.get(reverse("admin:brokerages_verificationrun_changelist")),
                admin_client.get(reverse("admin:brokerages_verificationrun_change", args=[first_bad.pk])),
                admin_client.get(reverse("admin:brokerages_verificationrun_change", args=[promotion.pk])),
            ]
    finally:
        before_task_publish.disconnect(remember)

    # Then the runs did what they should (so the scan covers real traffic: tokens, EWS, a send, a failure)
    assert (first_good.status, first_bad.status, promotion.status) == ("verified", "failed", "verified")
    assert promotion.promoted and first_bad.error_kind == "invalid_secret"
    assert len(messages) == 3 and len(mail.outbox) == 1  # three tasks; one alert (the active brokerage that failed)
    # ... and no secret, nor the token, appears anywhere
    printed = capsys.readouterr()
    records = repr(list(VerificationRun.objects.values())) + repr(list(VerificationStep.objects.values()))
    records += repr(list(CredentialAuditEntry.objects.values()))
    texts = {
        "log lines": caplog.text + "".join(repr(r.args) for r in caplog.records),
        "printed output": printed.out + printed.err,
        "task messages": "".join(messages),
        "verification records": records,
        "staff mail": "".join(m.subject + m.body for m in mail.outbox),
        "admin pages": "".join(page.content.decode() for page in pages),
    }
    assert all(page.status_code == 200 for page in pages)
    assert len(caplog.records) > 20 and token.count(".") == 2
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret in the {where}"
        assert token not in text and token.split(".")[2][:20] not in text, f"the token in the {where}"

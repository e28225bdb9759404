"""A good brokerage verifies end to end on either backend: staff click, the task crosses RabbitMQ, a real worker runs
every step against the simulator (real MSAL; exchangelib or httpx over HTTPS), and the brokerage page shows the
result, with the other backend probed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from brokerages.models import Brokerage, VerificationRun

from .verification_support import sim_brokerage, wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)

ALL_STEPS = ["credentials", "domain", "token", "mailbox", "contacts", "calendar", "contact", "event", "message"]
PROBED_STEPS = ["token", "mailbox"]
BACKENDS = ["ews", "graph"]
# What the token step names for each backend: the application permissions it needs.
ROLES = {"ews": ["full_access_as_app"], "graph": ["Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_good_brokerage_verifies_through_the_admin_action_and_a_real_worker(
    simulator, sim_tenant, celery_worker, admin_client, backend
):
    # Given a new brokerage entered with its tenant's real credentials, on the backend
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, mailbox_backend=backend)
    other = next(b for b in BACKENDS if b != backend)
    assert brokerage.status == Brokerage.Status.NEW

    # When staff run the "Verify credentials" action on it
    response = admin_client.post(
        reverse("admin:brokerages_brokerage_changelist"),
        {"action": "verify_credentials", "_selected_action": [brokerage.pk]},
        follow=True,
    )
    assert "Verification queued for 1 brokerage(s)" in response.content.decode()
    run = wait_for_run(brokerage)

    # Then the worker verified it: every step ran in order, timed, the optional message skipped, and the other
    # backend was probed for its token and the test mailbox
    brokerage.refresh_from_db()
    assert run.status == VerificationRun.Status.VERIFIED, list(run.steps.values_list("name", "outcome", "detail"))
    assert brokerage.status == Brokerage.Status.VERIFIED and brokerage.verified_at is not None
    steps = list(run.steps.all())
    assert [(s.backend, s.name) for s in steps] == [
        ("", "credentials"), ("", "domain"), *((backend, name) for name in ALL_STEPS[2:]),
        *((other, name) for name in PROBED_STEPS),
    ]  # fmt: skip
    assert [s.outcome for s in steps] == ["ok"] * 8 + ["skipped"] + ["ok"] * 2
    assert sum(s.duration_ms for s in steps) > 0 and run.duration_ms is not None
    # ... each token step says which permissions it looked for and found
    for token_step in (steps[2], steps[9]):
        assert all(role in token_step.label and role in token_step.detail for role in ROLES[token_step.backend])
    # ... and the verdict: both backends usable, this one verified in full
    assert run.backend == backend and run.backends == [
        {"backend": backend, "usable": True, "checked": "in full"},
        {"backend": other, "usable": True, "checked": "token and test mailbox only"},
    ]
    # ... the test contact and event were removed again
    assert simulator.list_items(tenant.mailboxes[0], "contacts") == []
    assert simulator.list_items(tenant.mailboxes[0], "calendar") == []
    # ... and the brokerage page says Verified, with each step's outcome
    html = admin_client.get(reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])).content.decode()
    box = html.split('id="verification"')[1]
    assert "<strong>Verified</strong>" in box
    assert box.count('data-outcome="ok"') == 10 and 'data-step="message" data-outcome="skipped"' in box
    assert box.count('data-usable="yes"') == 2 and "(this brokerage's backend)" in box


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_page_button_with_the_test_message_sends_to_the_test_mailbox_itself(
    simulator, sim_tenant, celery_worker, admin_client, backend
):
    # Given a verified brokerage on the backend
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, status=Brokerage.Status.VERIFIED, mailbox_backend=backend)

    # When staff press "Verify credentials" on its page with "also send a test message" ticked
    admin_client.post(reverse("admin:brokerages_brokerage_verify", args=[brokerage.pk]), {"send_test_message": "1"})
    run = wait_for_run(brokerage)

    # Then the message step ran: one message went out, to the test mailbox itself, and was found in Sent Items
    assert run.status == VerificationRun.Status.VERIFIED, list(run.steps.values_list("name", "outcome", "detail"))
    assert run.steps.get(name="message").outcome == "ok"
    sent = simulator.outbound(tenant.mailboxes[0])
    assert len(sent) == 1
    assert tenant.mailboxes[0] in str(sent[0])


def test_a_credential_change_is_verified_automatically_after_commit(
    simulator, sim_tenant, celery_worker, admin_client, settings
):
    # Given a brokerage that cannot be verified because its secret was mistyped
    settings.VERIFY_ON_CREDENTIAL_CHANGE = True
    tenant = sim_tenant()
    brokerage = sim_brokerage(simulator, tenant, client_secret="wrong" + tenant.client_secret[5:])
    first = wait_for_run(brokerage)  # creation with credentials is itself a credential change
    brokerage.refresh_from_db()
    assert (first.error_kind, brokerage.status) == ("invalid_secret", Brokerage.Status.CANNOT_BE_VERIFIED)

    # When a credential manager saves the right secret (any code path that saves counts)
    brokerage.client_secret = tenant.client_secret
    brokerage.save()

    # Then a verification runs by itself and the brokerage is verified
    second = wait_for_run(brokerage, after=first.pk)
    brokerage.refresh_from_db()
    assert second.reason == VerificationRun.Reason.CREDENTIALS_CHANGED
    assert second.status == VerificationRun.Status.VERIFIED
    assert brokerage.status == Brokerage.Status.VERIFIED

"""Email sent through the agent's own mailbox, exactly once — against the simulator, with real workers.

Each fault test ends the same way: the simulator's outbound log and the mailbox's Sent Items hold the
message exactly once, and the row says sent.
"""

import datetime as dt
import time

import pytest

from outbox import publishing, sending
from outbox.models import OutgoingEmail
from tasks.mail import send_email
from tests.fixtures.crm import BACKENDS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.parametrize("backend", BACKENDS)]


def _queue(mailbox, key="alert-1", **fields) -> OutgoingEmail:
    fields = {"to": ["buyer@client.example"], "subject": f"Listing {key}", "text_body": "3 beds, 2 baths", **fields}
    return OutgoingEmail.objects.create(mailbox=mailbox, idempotency_key=key, request_fingerprint=key, **fields)


def _wait_until_sent(email: OutgoingEmail, timeout: float = 60, sweep: bool = False) -> OutgoingEmail:
    """Poll the row until it is sent; with ``sweep``, run the due-email sweep as beat would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        email.refresh_from_db()
        if email.status in (OutgoingEmail.Status.SENT, OutgoingEmail.Status.FAILED):
            return email
        if sweep:
            publishing.publish_due()
        time.sleep(0.3)
    raise AssertionError(f"email still {email.status} (phase {email.phase}) after {timeout}s: {email.last_error_message}")


def _sent_once(simulator, mailbox, email: OutgoingEmail) -> None:
    outbound = [m for m in simulator.outbound(mailbox.email) if m["subject"] == email.subject]
    sent_items = [i for i in simulator.list_items(mailbox.email, "sentitems") if i["fields"].get("subject") == email.subject]
    drafts = [i for i in simulator.list_items(mailbox.email, "drafts") if i["fields"].get("subject") == email.subject]
    assert email.status == OutgoingEmail.Status.SENT, email.last_error_message
    assert len(outbound) == 1, outbound
    assert len(sent_items) == 1, sent_items
    assert drafts == []
    assert outbound[0]["from"]["email"].lower() == mailbox.email
    assert outbound[0]["to"]


def test_an_email_posted_to_the_api_is_sent_once_from_the_agents_mailbox(sim_mailbox, simulator, celery_worker, crm_client):
    # Given a real worker on the real broker, when the CRM posts an email
    response = crm_client.post(
        f"/api/mailboxes/{sim_mailbox.pk}/emails/",
        {"idempotency_key": "k1", "to": ["buyer@client.example"], "subject": "Open house Saturday", "html_body": "<p>Hi</p>"},
        format="json",
    )
    assert response.status_code == 201, response.content
    # Then it is delivered from the agent's mailbox once, with one copy in Sent Items
    email = _wait_until_sent(OutgoingEmail.objects.get(pk=response.json()["id"]))
    _sent_once(simulator, sim_mailbox, email)
    assert crm_client.get(f"/api/emails/{email.pk}/").json()["status"] == "sent"


@pytest.mark.parametrize("failpoint", ["outbox.after_create", "outbox.after_send"])
def test_a_worker_killed_mid_send_leaves_exactly_one_message(sim_mailbox, simulator, worker_process, failpoint):
    # Given a worker that SIGKILLs itself right after the named step, with a short lease
    doomed = worker_process(queues="mail", failpoints=f"{failpoint}=kill", extra_env={"OUTBOX_LEASE_SECONDS": "2"})
    email = _queue(sim_mailbox)
    publishing.publish_send_on_commit(email)
    doomed.process.wait(timeout=60)
    assert doomed.process.returncode == -9
    email.refresh_from_db()
    assert email.status == OutgoingEmail.Status.SENDING  # the crash left it mid-flight
    # When a healthy worker takes over after the lease expires (broker redelivery and the sweep)
    worker_process(queues="mail")
    email = _wait_until_sent(email, sweep=True)
    # Then the reconciler found what the dead worker did, and the client got one email
    _sent_once(simulator, sim_mailbox, email)


def test_the_same_task_delivered_twice_sends_once(sim_mailbox, simulator, celery_worker):
    email = _queue(sim_mailbox)
    send_email.delay(str(email.pk))
    send_email.delay(str(email.pk))
    _sent_once(simulator, sim_mailbox, _wait_until_sent(email))


def test_a_send_that_times_out_after_the_server_accepted_it_is_not_sent_again(sim_mailbox, simulator, outlook, settings):
    # Given the server sends the message and then drops the connection before answering
    simulator.add_fault("timeout_after_commit", mailbox=sim_mailbox.email, operation=outlook.operation("send_draft"),
                        count=1, seconds=0.2)
    email = _queue(sim_mailbox)
    from brokerages.gateways import gateway_for_mailbox

    # When the attempt sees a network failure, it is put back to retry later
    assert sending.send(str(email.pk), gateway_for_mailbox) == "retry"
    email.refresh_from_db()
    assert (email.status, email.phase, email.last_error_class) == ("queued", "send_requested", "transient_network")
    # And when the retry comes (made due now, as time would), it reconciles instead of sending again
    OutgoingEmail.objects.filter(pk=email.pk).update(not_before=email.created_at)
    assert sending.send(str(email.pk), gateway_for_mailbox) == "sent"
    email.refresh_from_db()
    _sent_once(simulator, sim_mailbox, email)


def test_the_api_called_twice_with_one_key_sends_one_email(sim_mailbox, simulator, celery_worker, crm_client):
    payload = {"idempotency_key": "twice", "to": ["buyer@client.example"], "subject": "Price drop", "text_body": "Now 450k"}
    first = crm_client.post(f"/api/mailboxes/{sim_mailbox.pk}/emails/", payload, format="json")
    second = crm_client.post(f"/api/mailboxes/{sim_mailbox.pk}/emails/", payload, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    email = _wait_until_sent(OutgoingEmail.objects.get(pk=first.json()["id"]))
    time.sleep(1)  # a second send, if there were one, would have happened by now
    _sent_once(simulator, sim_mailbox, email)


def test_a_permanent_failure_stops_with_its_remedy(sim_mailbox, simulator):
    from brokerages.gateways import gateway_for_mailbox

    # Given the mailbox is gone from the tenant
    simulator.delete_mailbox(sim_mailbox.email)
    email = _queue(sim_mailbox)
    # When an attempt is made, it fails for good and says what to do
    assert sending.send(str(email.pk), gateway_for_mailbox) == "failed"
    email.refresh_from_db()
    assert email.status == OutgoingEmail.Status.FAILED
    assert email.last_error_class == "mailbox_not_found"
    assert "licence" in email.last_error_remedy
    assert simulator.outbound(sim_mailbox.email) == []


def test_a_burst_of_100_emails_is_paced_under_the_limit_and_all_are_sent(sim_mailbox, simulator, worker_process):
    # Given a pacing of 10 sends per 2 s window — Exchange Online's 30 per 60 s, scaled down so the test is
    # quick; the simulator's own quota is lifted so only our pacing can hold the burst back
    simulator.settings(sends_per_minute=1000)
    worker_process(queues="mail", extra_env={"OUTBOX_SENDS_PER_MINUTE": "10", "OUTBOX_PACING_WINDOW_SECONDS": "2"})
    emails = [_queue(sim_mailbox, key=f"burst-{n}") for n in range(100)]
    # When all 100 are queued at once (and beat's sweep publishes those that pacing put back)
    for email in emails:
        publishing.publish_send_on_commit(email)
    deadline = time.monotonic() + 120
    while OutgoingEmail.objects.exclude(status=OutgoingEmail.Status.SENT).exists() and time.monotonic() < deadline:
        publishing.publish_due()
        time.sleep(0.5)
    # Then every one is sent, once, and no 2 s window ever held more than 10 sends
    assert OutgoingEmail.objects.filter(status=OutgoingEmail.Status.SENT).count() == 100
    outbound = simulator.outbound(sim_mailbox.email)
    assert len(outbound) == 100
    assert len({m["subject"] for m in outbound}) == 100
    slots = sorted(OutgoingEmail.objects.values_list("send_slot_at", flat=True))
    busiest = max(sum(1 for t in slots[i:] if (t - start).total_seconds() < 2) for i, start in enumerate(slots))
    assert busiest <= 10


def test_an_email_that_failed_transiently_five_times_is_retried_within_two_minutes_of_the_next_failure(
    sim_mailbox, simulator, settings
):
    from django.utils import timezone

    from brokerages.gateways import gateway_for_mailbox

    # Given an email already tried five times through a transient fault (uncapped, the sixth wait would be ~16 min)
    settings.OUTBOX_MAX_BACKOFF_SECONDS = 90
    email = _queue(sim_mailbox)
    OutgoingEmail.objects.filter(pk=email.pk).update(attempts=5, last_error_class="transient_network")
    simulator.add_fault("drop_connection", mailbox=sim_mailbox.email, count=1)
    # When the next attempt fails the same way
    before = timezone.now()
    assert sending.send(str(email.pk), gateway_for_mailbox) == "retry"
    # Then it is due again within the cap (plus its jitter), not after an ever-doubling back-off
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error_class) == ("queued", 6, "transient_network")
    assert email.not_before - before <= dt.timedelta(seconds=90 * 1.2 + 1)
    # And once due (as time would make it), with the fault gone, it is sent, once
    OutgoingEmail.objects.filter(pk=email.pk).update(not_before=email.created_at)
    assert sending.send(str(email.pk), gateway_for_mailbox) == "sent"
    email.refresh_from_db()
    _sent_once(simulator, sim_mailbox, email)

"""Time limits that hold and a graceful SIGTERM, with real worker processes (thread pool) and the simulator.

The workers run Celery's thread pool, where Celery's own time limits do nothing (a thread cannot be killed;
celery/celery#9203). What bounds a sync instead: a timeout on every request to Microsoft, and the sync's own
time limit checked between pages. What makes SIGTERM graceful: a sync gives its mailbox back at its next
page boundary (another worker takes it at the next dispatcher tick), an email being sent is finished.
deploy/README.md cites these tests.
"""

import datetime as dt
import signal

import pytest
from django.utils import timezone

from brokerages.models import Mailbox
from outbox import publishing
from outbox.models import OutgoingEmail
from scheduling import dispatch, runs
from scheduling.models import SyncRun
from sync.models import Contact
from tests.fixtures.broker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _due_now(mailbox: Mailbox) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(next_sync_at=timezone.now() - dt.timedelta(seconds=1))


def _seed_contacts(simulator, mailbox: Mailbox, count: int = 2) -> None:
    simulator.seed_contacts(mailbox.email, [{"given_name": f"Client{i}", "surname": "Shutdown",
                                             "email1": f"c{i}@client.example"} for i in range(count)])  # fmt: skip


def _first_run(mailbox: Mailbox, **where) -> SyncRun | None:
    return SyncRun.objects.filter(mailbox=mailbox, **where).order_by("started_at").first()


def test_a_hung_exchange_call_is_cut_by_its_timeout_and_the_lease_released(sim_mailbox, simulator, worker_process):
    # Given a worker whose requests to Exchange time out after 2 s, and Exchange hanging 30 s on the mailbox's sync
    worker_process(queues="sync", extra_env={"EWS_REQUEST_TIMEOUT_SECONDS": "2"})
    simulator.add_fault("latency", mailbox=sim_mailbox.email, operation="SyncFolderItems", seconds=30, count=1)
    _due_now(sim_mailbox)
    # When the dispatcher sends the mailbox's sync
    dispatch.dispatch()
    run = wait_for(lambda: _first_run(sim_mailbox), "the sync's run to be recorded", timeout=60)
    # Then the call was cut (had it been waited for, the answer would have come and the sync succeeded): the run
    # failed as a network error, and the mailbox's lease is released with a back-off instead of held
    assert (run.outcome, run.error_class) == (SyncRun.Outcome.FAILED, "transient_network"), run.error_message
    sim_mailbox.refresh_from_db()
    assert sim_mailbox.lease_token is None
    assert sim_mailbox.next_sync_at > run.started_at
    assert sim_mailbox.consecutive_failures == 1


def test_a_sync_over_its_time_limit_stops_at_its_next_check_and_releases_the_lease(
    sim_mailbox, simulator, worker_process
):
    # Given a mailbox with two contacts, Exchange answering it slowly (1.5 s a request, under the request
    # timeout, so no request fails), and a worker whose syncs may run 1 s
    _seed_contacts(simulator, sim_mailbox)
    simulator.add_fault("latency", mailbox=sim_mailbox.email, seconds=1.5)
    worker_process(queues="sync", extra_env={"SYNC_TIME_LIMIT_SECONDS": "1"})
    _due_now(sim_mailbox)
    # When the dispatcher sends its sync
    dispatch.dispatch()
    run = wait_for(lambda: _first_run(sim_mailbox), "the sync's run to be recorded", timeout=60)
    # Then the sync stopped at its first check past the limit (between the pull and applying it), as a failure
    # with its remedy, and the lease is released with a back-off
    assert (run.outcome, run.error_class) == (SyncRun.Outcome.FAILED, "time_limit"), run.error_message
    assert run.remedy == runs.TIME_LIMIT[1]
    sim_mailbox.refresh_from_db()
    assert sim_mailbox.lease_token is None
    assert sim_mailbox.next_sync_at > run.started_at


def test_sigterm_mid_sync_gives_the_mailbox_to_another_worker_before_its_lease_would_expire(
    sim_mailbox, simulator, worker_process
):
    # Given two sync workers, a mailbox with two contacts, and Exchange slow (3 s) on its first request
    _seed_contacts(simulator, sim_mailbox)
    workers = [worker_process(queues="sync"), worker_process(queues="sync")]
    simulator.add_fault("latency", mailbox=sim_mailbox.email, seconds=3, count=1)
    _due_now(sim_mailbox)
    dispatch.dispatch()

    def taken_up_by() -> tuple[str, dt.datetime] | None:
        row = Mailbox.objects.filter(pk=sim_mailbox.pk).values("lease_owner", "lease_expires_at").get()
        return (row["lease_owner"], row["lease_expires_at"]) if "@" in row["lease_owner"] else None

    owner, lease_expiry = wait_for(taken_up_by, "a worker to take up the sync's lease", timeout=60)
    stopping = next(w for w in workers if owner.startswith(f"{w.name}@"))
    other = next(w for w in workers if w is not stopping)
    # When the worker running the sync gets SIGTERM (a deploy, a scale-in) while its request hangs
    stopping.process.send_signal(signal.SIGTERM)
    # Then it exits cleanly, having given the mailbox back at the next page boundary (a skip, not a failure)
    assert stopping.process.wait(timeout=60) == 0
    stopped = _first_run(sim_mailbox)
    assert (stopped.worker, stopped.outcome, stopped.error_message) == (owner, SyncRun.Outcome.SKIPPED, runs.WORKER_STOPPING)
    # And the dispatcher's next tick hands the mailbox to the other worker, which syncs it, long before the lease
    # the stopped worker held would have expired
    assert Mailbox.objects.get(pk=sim_mailbox.pk).lease_token is None

    def synced() -> SyncRun | None:
        dispatch.dispatch()  # beat's tick
        return _first_run(sim_mailbox, outcome=SyncRun.Outcome.OK)

    done = wait_for(synced, "another worker to sync the mailbox", timeout=60)
    assert done.worker.startswith(f"{other.name}@")
    assert done.started_at < lease_expiry
    names = sorted(Contact.objects.filter(mailbox=sim_mailbox, deleted_at__isnull=True).values_list("given_name", flat=True))
    assert names == ["Client0", "Client1"]


def test_sigterm_mid_send_finishes_the_email_and_it_is_sent_exactly_once(sim_mailbox, simulator, worker_process):
    # Given a mail worker, and Exchange slow (3 s) to answer the send itself
    worker = worker_process(queues="mail")
    simulator.add_fault("latency", mailbox=sim_mailbox.email, operation="SendItem", seconds=3, count=1)
    email = OutgoingEmail.objects.create(mailbox=sim_mailbox, idempotency_key="term-1", request_fingerprint="term-1",
                                         to=["buyer@client.example"], subject="Listing term-1", text_body="3 beds")  # fmt: skip
    publishing.publish_send_on_commit(email)
    wait_for(lambda: OutgoingEmail.objects.filter(pk=email.pk, phase=OutgoingEmail.Phase.SEND_REQUESTED).exists(),
             "the send to be requested", timeout=60)  # fmt: skip
    # When the worker gets SIGTERM while the send is in flight
    worker.process.send_signal(signal.SIGTERM)
    # Then it finishes the email before it exits, and the email went out once, with one copy in Sent Items
    assert worker.process.wait(timeout=60) == 0
    email.refresh_from_db()
    assert email.status == OutgoingEmail.Status.SENT, (email.phase, email.last_error_message)
    outbound = [m for m in simulator.outbound(sim_mailbox.email) if m["subject"] == "Listing term-1"]
    sent_items = [i for i in simulator.list_items(sim_mailbox.email, "sentitems") if i["fields"].get("subject") == "Listing term-1"]
    assert (len(outbound), len(sent_items)) == (1, 1)
    # And a worker started afterwards, with beat's sweep running, sends nothing more
    worker_process(queues="mail")
    assert publishing.publish_due() == 0
    assert len([m for m in simulator.outbound(sim_mailbox.email) if m["subject"] == "Listing term-1"]) == 1

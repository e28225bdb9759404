"""A sync run under its lease: what is recorded when the engine fails in a way the gateway did not classify."""

import pytest

from brokerages.models import Mailbox
from scheduling import dispatch
from scheduling.models import SyncRun
from scheduling.runs import EngineResult, run_sync

pytestmark = pytest.mark.django_db


def test_a_bug_in_the_engine_is_recorded_for_staff_and_backs_the_mailbox_off(make_brokerage):
    # Given a leased mailbox and an engine that fails with an unexpected error (a bug, a database hiccup)
    make_brokerage(mailboxes=1)
    (leased,) = dispatch.lease_due(10)

    def broken_engine(mailbox, gateway, keep_lease):
        raise KeyError("client_secret=hunter2 in a bad place")

    # When the sync runs, the error still reaches Celery (its log keeps the traceback)
    with pytest.raises(KeyError):
        run_sync(leased.mailbox_id, leased.lease_token, engine=broken_engine, gateway_for=lambda mailbox: None)
    # Then staff see a failed run saying it is ours, with nothing secret, and the mailbox backs off at once
    run = SyncRun.objects.get()
    assert (run.outcome, run.error_class) == ("failed", "internal_error")
    assert "hunter2" not in run.error_message and "Engineering" in run.remedy
    mailbox = Mailbox.objects.get(pk=leased.mailbox_id)
    assert mailbox.lease_token is None and mailbox.consecutive_failures == 1


def test_a_second_delivery_of_a_running_sync_does_nothing(make_brokerage):
    # Given a sync task running under its lease (the broker may redeliver its message after a connection loss,
    # and the thread pool cannot cancel the running copy)
    make_brokerage(mailboxes=1)
    (leased,) = dispatch.lease_due(10)
    second: list[str] = []

    def engine_redelivered_meanwhile(mailbox, gateway, keep_lease):
        # When the same message is delivered again while the first copy works
        second.append(run_sync(leased.mailbox_id, leased.lease_token, engine=_never, gateway_for=lambda mailbox: None))
        keep_lease()  # the first copy still holds its lease
        return EngineResult(pulled=1)

    first = run_sync(leased.mailbox_id, leased.lease_token, engine=engine_redelivered_meanwhile, gateway_for=lambda mailbox: None)
    # Then the second copy did nothing (its token was replaced when the first took the lease up), and the first
    # finished and released the lease
    assert (first, second) == (SyncRun.Outcome.OK, [SyncRun.Outcome.SKIPPED])
    assert list(SyncRun.objects.values_list("outcome", flat=True)) == [SyncRun.Outcome.OK]
    assert Mailbox.objects.get(pk=leased.mailbox_id).lease_token is None


def _never(mailbox, gateway, keep_lease):
    raise AssertionError("a second copy must not sync")

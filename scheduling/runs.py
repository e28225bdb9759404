"""One sync of one mailbox, as the fleet runs it: confirm the lease, sync, record the run, release.

Failures are sorted once, by the gateway's error classes: throttling cools the whole brokerage down
(every worker and the dispatcher honour it); a failure of the brokerage's credentials or tenant pauses
that brokerage's syncs and alerts staff instead of retrying forever; a mailbox-level permanent failure
pauses that mailbox; anything transient backs off with jitter and tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from mailboxes.errors import (
    AppNotInTenant,
    ConditionalAccess,
    ConsentMissing,
    EwsDisabled,
    ExpiredSecret,
    GatewayError,
    InvalidSecret,
    MailboxNotAllowed,
    MailboxNotFound,
    MailboxOutOfScope,
    ServicePrincipalMissing,
    TenantNotFound,
    Throttled,
    TlsFailure,
    scrub,
)  # fmt: skip

from . import leases, shutdown
from .models import SyncRun

log = logging.getLogger(__name__)

# Failures no retry can fix until someone changes the brokerage's setup in Entra ID or Exchange.
BROKERAGE_FAILURES = (InvalidSecret, ExpiredSecret, AppNotInTenant, TenantNotFound, ConsentMissing,
                      ServicePrincipalMissing, ConditionalAccess, EwsDisabled, TlsFailure)  # fmt: skip
# Failures of one mailbox alone: the others of the brokerage keep syncing.
MAILBOX_FAILURES = (MailboxNotFound, MailboxOutOfScope, MailboxNotAllowed)


@dataclass(frozen=True)
class EngineResult:
    """What the sync engine reports back; ``paused_reason`` is set when the mass-deletion guard stopped it."""

    pulled: int = 0
    pushed: int = 0
    conflicts: int = 0
    paused_reason: str = ""


class SyncStopped(Exception):
    """The sync must stop at this page boundary; the message tells staff why."""


class LeaseLost(SyncStopped):
    """The mailbox's lease was given to another task while this one worked: stop without writing."""


class WorkerStopping(SyncStopped):
    """The worker is shutting down (SIGTERM): give the mailbox back so another worker syncs it now."""


class TimeLimitReached(SyncStopped):
    """The sync has run past SYNC_TIME_LIMIT_SECONDS: stop, keep what is done, and count it a failure."""


Engine = Callable[[Mailbox, Any, Callable[[], None]], EngineResult]


def run_sync(mailbox_id: int, lease_token: str, *, engine: Engine, gateway_for: Callable[[Mailbox], Any],
             task_id: str = "", worker: str = "") -> str:  # fmt: skip
    """Sync the mailbox under the given lease; returns the outcome. A stale lease does nothing at all."""
    lease_token = leases.confirm(mailbox_id, lease_token, owner=worker or task_id)
    if lease_token is None:
        log.info("sync: lease for mailbox %s is not ours (late or duplicate delivery); nothing done", mailbox_id)
        return SyncRun.Outcome.SKIPPED
    mailbox = Mailbox.objects.select_related("brokerage").get(pk=mailbox_id)
    if why_not := _why_not_now(mailbox):  # the kill switch, or deactivated, after this task was queued
        # A skip, not a success: the mailbox's last successful sync and failures stay as they were.
        leases.give_back(mailbox_id, lease_token)
        message, remedy = why_not
        _save(SyncRun(mailbox=mailbox, brokerage_id=mailbox.brokerage_id, task_id=task_id, worker=worker,
                      started_at=timezone.now(), outcome=SyncRun.Outcome.SKIPPED, error_message=message, remedy=remedy),
              time.monotonic())  # fmt: skip
        return SyncRun.Outcome.SKIPPED
    cooling = mailbox.brokerage.cooldown_until
    if cooling and cooling > timezone.now():  # throttled after this task was queued: no request until it passes
        leases.release(mailbox_id, lease_token, succeeded=False, retry_after=(cooling - timezone.now()).total_seconds())
        return SyncRun.Outcome.SKIPPED
    started, clock = timezone.now(), time.monotonic()

    def keep_lease() -> None:
        # Called by the engine between pages (each page one bounded request), so these checks bound the
        # whole sync: a lost lease, the kill switch, a worker shutting down, the time limit.
        if not leases.renew(mailbox_id, lease_token):
            raise LeaseLost(LEASE_LOST)
        if Brokerage.objects.filter(pk=mailbox.brokerage_id, status=Brokerage.Status.PAUSED).exists():
            raise LeaseLost(BROKERAGE_PAUSED[0])
        if shutdown.stop_requested():
            raise WorkerStopping(WORKER_STOPPING)
        if time.monotonic() - clock > settings.SYNC_TIME_LIMIT_SECONDS:
            raise TimeLimitReached(TIME_LIMIT[0].format(seconds=settings.SYNC_TIME_LIMIT_SECONDS))

    run = SyncRun(mailbox=mailbox, brokerage_id=mailbox.brokerage_id, task_id=task_id, worker=worker, started_at=started)
    try:
        result = engine(mailbox, gateway_for(mailbox), keep_lease)
    except TimeLimitReached as stopped:
        # What the sync applied is kept (a folder's watermark moves only with applied work); the next one carries on.
        run.outcome, run.error_class, run.error_message, run.remedy = SyncRun.Outcome.FAILED, "time_limit", str(stopped), TIME_LIMIT[1]
        leases.release(mailbox_id, lease_token, succeeded=False)
        _save(run, clock)
        return run.outcome
    except (LeaseLost, WorkerStopping) as stopped:
        # Kept for the next sync, no failure counted; the mailbox stays due, so the next tick sends it to a
        # worker that is not stopping. A lease another task holds now is not touched.
        leases.give_back(mailbox_id, lease_token)
        run.outcome, run.error_message = SyncRun.Outcome.SKIPPED, str(stopped)
        _save(run, clock)
        return run.outcome
    except GatewayError as error:
        run.outcome = _after_failure(mailbox, lease_token, error)
        run.error_class, run.error_message, run.remedy = error.kind, str(error)[:2000], getattr(error, "remedy", "")
        _save(run, clock)
        return run.outcome
    except Exception as error:
        # A bug or an outage of our own (database, Redis): staff see it in the runs, the mailbox backs off
        # instead of waiting out its lease, and Celery still logs the traceback for engineering.
        _record_internal_failure(run, clock, mailbox_id, lease_token, error)
        raise
    run.pulled, run.pushed, run.conflicts = result.pulled, result.pushed, result.conflicts
    if result.paused_reason:
        run.outcome = SyncRun.Outcome.PAUSED
        Mailbox.objects.filter(pk=mailbox_id).update(sync_paused=True, sync_paused_reason=result.paused_reason[:500])
    else:
        run.outcome = SyncRun.Outcome.OK
    leases.release(mailbox_id, lease_token, succeeded=True)
    _save(run, clock)
    return run.outcome


def _record_internal_failure(run: SyncRun, clock: float, mailbox_id: int, lease_token: str, error: Exception) -> None:
    try:
        run.outcome, run.error_class = SyncRun.Outcome.FAILED, "internal_error"
        run.error_message = scrub(f"{type(error).__name__}: {error}")[:2000]
        run.remedy = "An error inside Engage Sync, not at Microsoft. Engineering: see the worker's log for this task id."
        _save(run, clock)
        leases.release(mailbox_id, lease_token, succeeded=False)
    except Exception:  # the database itself may be what failed: the lease then simply expires
        log.exception("sync: could not record the failure of mailbox %s", mailbox_id)


BROKERAGE_PAUSED = ("Stopped: the brokerage was paused (kill switch) while this sync waited or ran.",
                    "Resume the brokerage (Brokerages → Resume brokerage); its mailboxes go out at the next tick.")
LEASE_LOST = "Stopped: this sync's lease ran out and may be another task's now; the mailbox's next sync carries on."
WORKER_STOPPING = "Stopped: the worker shut down (a deploy or scale-in); the next dispatcher tick gives the mailbox to another worker."
TIME_LIMIT = ("Stopped: the sync ran longer than its time limit ({seconds} s); what it had applied is kept.",
              "Nothing to do if it is rare: the next sync carries on where this one stopped. If it recurs, Microsoft is "
              "answering this mailbox slowly (see the throttle events) or its first sync is very large.")
MAILBOX_INACTIVE = ("Skipped: the mailbox is not active.", "Activate the mailbox if it should sync.")
MAILBOX_PAUSED = ("Skipped: the mailbox's sync is paused.", "Resume sync in the mailbox list once the reason shown there is dealt with.")
BROKERAGE_NOT_ACTIVE = ("Skipped: the brokerage is not active.", "Set the brokerage active once its credentials are verified.")


def _why_not_now(mailbox: Mailbox) -> tuple[str, str] | None:
    """Why the mailbox may not sync now (message, remedy for staff), or None if it may."""
    if mailbox.brokerage.status == Brokerage.Status.PAUSED:
        return BROKERAGE_PAUSED
    if mailbox.brokerage.status != Brokerage.Status.ACTIVE:
        return BROKERAGE_NOT_ACTIVE
    if not mailbox.is_active:
        return MAILBOX_INACTIVE
    if mailbox.sync_paused:
        return MAILBOX_PAUSED
    return None


def _after_failure(mailbox: Mailbox, lease_token: str, error: GatewayError) -> str:
    if isinstance(error, Throttled):
        cool_down(mailbox.brokerage_id, error.back_off_seconds)
        leases.release(mailbox.pk, lease_token, succeeded=False, retry_after=error.back_off_seconds)
        return SyncRun.Outcome.THROTTLED
    if isinstance(error, BROKERAGE_FAILURES):
        _pause_brokerage(mailbox.brokerage, error)
    elif isinstance(error, MAILBOX_FAILURES):
        Mailbox.objects.filter(pk=mailbox.pk).update(sync_paused=True, sync_paused_reason=f"{error.title}. {error.remedy}"[:500])
    leases.release(mailbox.pk, lease_token, succeeded=False)
    return SyncRun.Outcome.FAILED


def cool_down(brokerage_id: int, seconds: float) -> None:
    """No syncs for the brokerage until the back-off has passed (never shortens a longer cool-down)."""
    until = timezone.now() + timedelta(seconds=max(seconds, 1))
    Brokerage.objects.filter(pk=brokerage_id).filter(Q(cooldown_until__isnull=True) | Q(cooldown_until__lt=until)).update(
        cooldown_until=until
    )


def _pause_brokerage(brokerage: Brokerage, error: GatewayError) -> None:
    """Stop the brokerage's syncs (status paused) and tell staff what its administrator must fix, once."""
    from brokerages.staff_alerts import brokerage_link, mail_staff

    changed = Brokerage.objects.filter(pk=brokerage.pk, status=Brokerage.Status.ACTIVE).update(
        status=Brokerage.Status.PAUSED, status_changed_at=timezone.now()
    )
    if changed:
        log.warning("sync: brokerage %s paused after a permanent failure: %s", brokerage.pk, error.kind)
        mail_staff(
            f"[Engage Sync] {brokerage.name}: syncs paused — {error.title}",
            f"Syncs of {brokerage.name} are paused: {error.title} [{error.kind}].\n\n"
            f"What the brokerage's administrator must do:\n{getattr(error, 'remedy', '')}\n\n"
            f"When it is fixed, verify the credentials and set the brokerage active again: {brokerage_link(brokerage)}\n",
        )


def _save(run: SyncRun, clock: float) -> None:
    run.duration_ms = int((time.monotonic() - clock) * 1000)
    run.save()

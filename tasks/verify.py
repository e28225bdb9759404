"""Tasks on the "verify" queue: credential verification runs, the daily re-verification, secret-expiry warnings.

Thin: ids in (never secrets), reload, call brokerages.verification / brokerages.secret_expiry.
"""

from celery import shared_task

from brokerages import secret_expiry, verification
from brokerages.models import VerificationRun


# No Celery retries: a failed step is an outcome (recorded, shown to staff), not an error to retry. A run
# whose worker died is redelivered (acks_late), or republished by the sweep, and taken over once it is stale
# (verification.STALE_RUN).
# (No Celery time limit: the thread pool cannot enforce one; each step is a request bounded by its timeout.)
@shared_task(acks_late=True)
def verify_brokerage(brokerage_id: int, run_id: int) -> None:
    """Execute one verification run; quietly nothing when the run is gone, finished or not this brokerage's."""
    if VerificationRun.objects.filter(pk=run_id, brokerage_id=brokerage_id).exists():
        verification.execute(run_id)


@shared_task
def reverify_brokerages() -> int:
    """Daily: queue a verification of every active or verified brokerage, due at spread-out times; returns how many."""
    return verification.request_daily_reverification()


@shared_task
def publish_due_verifications() -> int:
    """Every few seconds: publish the verification runs that are due (or whose message was lost); returns how many."""
    return verification.publish_due_runs()


@shared_task
def warn_expiring_secrets() -> int:
    """Daily: mail staff the secret-expiry warnings due today (30, 14, 7, 1 days; once each); returns how many."""
    return len(secret_expiry.send_due_warnings())

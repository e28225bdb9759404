"""Tasks on the "dispatch" queue: beat's tick that fans due mailboxes out to the sync workers."""

from celery import shared_task

from scheduling import dispatch


@shared_task(acks_late=True)
def dispatch_due_syncs() -> int:
    """Lease due mailboxes and publish their sync tasks; returns how many were published this tick."""
    return dispatch.dispatch().published

"""Tasks on the "mail" queue: sending outgoing email through agents' mailboxes."""

from celery import shared_task

from brokerages.gateways import gateway_for_mailbox
from outbox import publishing, sending


# No Celery retries: a failed attempt puts the row back with a due time, and the sweep republishes it.
# No Celery time limit (the thread pool cannot enforce one): an attempt is a few requests, each bounded by
# EWS_REQUEST_TIMEOUT_SECONDS, well under the outbox lease; a warm shutdown lets it finish.
@shared_task(acks_late=True)
def send_email(email_id: str) -> None:
    """Run one send attempt for the email; a duplicate delivery finds the row claimed and does nothing."""
    sending.send(email_id, gateway_for_mailbox)


@shared_task
def publish_due_emails() -> int:
    """Publish send tasks for emails that are due (paced, backed off, or abandoned by a dead worker)."""
    return publishing.publish_due()

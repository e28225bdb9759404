"""Tasks on the "mail" queue: sending outgoing email through agents' mailboxes."""

from celery import shared_task

from brokerages.gateways import gateway_for_mailbox
from outbox import publishing, sending


# No Celery retries: a failed attempt puts the row back with a due time, and the sweep republishes it.
# The time limit stays under the outbox lease, so a lease only expires when its worker is gone.
@shared_task(acks_late=True, time_limit=240, soft_time_limit=200)
def send_email(email_id: str) -> None:
    """Run one send attempt for the email; a duplicate delivery finds the row claimed and does nothing."""
    sending.send(email_id, gateway_for_mailbox)


@shared_task
def publish_due_emails() -> int:
    """Publish send tasks for emails that are due (paced, backed off, or abandoned by a dead worker)."""
    return publishing.publish_due()

"""Tasks on the "sync" queue: one mailbox's two-way sync, under the lease the dispatcher gave it."""

import socket

from celery import shared_task
from celery.signals import worker_shutting_down

from brokerages.gateways import gateway_for_mailbox
from scheduling import shutdown
from scheduling.runs import run_sync


# No Celery retries and no countdowns: a failed sync sets the mailbox's next due time and the dispatcher
# publishes it again then. No Celery time limit either: the thread pool cannot enforce one (celery/celery#9203);
# the sync's own limit (SYNC_TIME_LIMIT_SECONDS) is checked between pages, each page one request bounded by
# its timeout (EWS_REQUEST_TIMEOUT_SECONDS).
@shared_task(bind=True, acks_late=True)
def sync_mailbox(self, mailbox_id: int, lease_token: str) -> str:
    """Sync the mailbox if the lease is still this task's; a late or duplicate delivery does nothing."""
    from sync.engine import sync_mailbox as engine  # the engine lands with the sync issue's wiring

    return run_sync(mailbox_id, lease_token, engine=engine, gateway_for=gateway_for_mailbox,
                    task_id=self.request.id or "", worker=self.request.hostname or socket.gethostname())  # fmt: skip


@worker_shutting_down.connect
def _stop_syncs_at_their_next_page(**_) -> None:
    # SIGTERM: Celery's warm shutdown waits for running tasks; a sync gives its mailbox back instead of finishing.
    shutdown.request_stop()

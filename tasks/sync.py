"""Tasks on the "sync" queue: one mailbox's two-way sync, under the lease the dispatcher gave it."""

import socket

from celery import shared_task

from brokerages.gateways import gateway_for_mailbox
from scheduling.runs import run_sync


# No Celery retries and no countdowns: a failed sync sets the mailbox's next due time and the dispatcher
# publishes it again then. The time limit stays under the lease (SYNC_LEASE_SECONDS, renewed while it works).
@shared_task(bind=True, acks_late=True, time_limit=540, soft_time_limit=500)
def sync_mailbox(self, mailbox_id: int, lease_token: str) -> str:
    """Sync the mailbox if the lease is still this task's; a late or duplicate delivery does nothing."""
    from sync.engine import sync_mailbox as engine  # the engine lands with the sync issue's wiring

    return run_sync(mailbox_id, lease_token, engine=engine, gateway_for=gateway_for_mailbox,
                    task_id=self.request.id or "", worker=self.request.hostname or socket.gethostname())  # fmt: skip

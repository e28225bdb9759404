"""A worker's warm shutdown as the syncs running in it see it: a flag they check between pages.

Celery's warm shutdown (SIGTERM) stops taking tasks and waits for the running ones; a sync can run for
minutes, longer than any supervisor's grace period. So the worker sets this flag when it starts shutting
down (tasks/sync.py connects Celery's ``worker_shutting_down`` signal), and a sync seeing it gives its
lease back at the next page boundary (scheduling/runs.py): its mailbox stays due, and the dispatcher's next
tick hands it to another worker instead of leaving it until the lease expires. The workers run the thread
pool, so the flag is shared by every task of the process.
"""

import threading

_stopping = threading.Event()


def request_stop() -> None:
    """This process is shutting down: running syncs stop at their next page boundary."""
    _stopping.set()


def stop_requested() -> bool:
    return _stopping.is_set()

"""Fixtures for the admin tests of the fleet: the two kinds of staff, and sync runs recorded at chosen times.

Imported by name into the tests/scheduling/test_admin*.py modules (pytest finds fixtures in a module's namespace).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from brokerages.roles import OPERATORS
from engage_sync.celery import app as celery_app
from scheduling.models import SyncRun


@pytest.fixture
def operator(db) -> User:
    user = User.objects.create_user("olivia-operator", password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATORS))
    return user


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("sam-super", password="pw-for-tests")


@pytest.fixture
def record_run(db):
    """Factory: a SyncRun of the mailbox, ``ago`` before now, with the given outcome and error class."""

    def record(mailbox: Mailbox, outcome: str = SyncRun.Outcome.OK, *, ago: dt.timedelta = dt.timedelta(minutes=1),
               error_class: str = "", task_id: str | None = None, **fields) -> SyncRun:  # fmt: skip
        return SyncRun.objects.create(
            mailbox=mailbox, brokerage_id=mailbox.brokerage_id, started_at=timezone.now() - ago, outcome=outcome,
            error_class=error_class, task_id=task_id or str(uuid.uuid4()), duration_ms=fields.pop("duration_ms", 1234),
            **fields,
        )  # fmt: skip

    return record


def first_mailbox(brokerage: Brokerage) -> Mailbox:
    return brokerage.mailboxes.order_by("email").first()


def take_from_queue(name: str, expect: int, timeout: float = 10.0) -> list:
    """Take up to ``expect`` messages off the named queue of the real broker, waiting at most ``timeout``."""
    queue = next(q for q in celery_app.conf.task_queues if q.name == name)
    taken = []
    deadline = time.monotonic() + timeout
    with celery_app.connection_for_read() as conn:
        bound = queue(conn.default_channel)
        while len(taken) < expect and time.monotonic() < deadline:
            message = bound.get(no_ack=False)
            if message is None:
                time.sleep(0.05)
                continue
            message.ack()
            taken.append(message)
    return taken

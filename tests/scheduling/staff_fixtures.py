"""Fixtures for the admin tests of the fleet: the two kinds of staff, and sync runs recorded at chosen times.

Imported by name into the tests/scheduling/test_admin*.py modules (pytest finds fixtures in a module's namespace).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from brokerages.models import Brokerage, Mailbox
from brokerages.roles import OPERATORS
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

"""The two kinds of staff, for the move's admin tests."""

import pytest
from django.contrib.auth.models import Group, User

from brokerages.roles import CREDENTIAL_MANAGERS, OPERATORS


def _staff_in(group_name: str, username: str) -> User:
    user = User.objects.create_user(username, password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def operator(transactional_db) -> User:
    return _staff_in(OPERATORS, "olivia-operator")


@pytest.fixture
def credential_manager(transactional_db) -> User:
    return _staff_in(CREDENTIAL_MANAGERS, "carl-credentials")

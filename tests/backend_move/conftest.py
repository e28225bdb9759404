"""The two kinds of staff, for the move's admin tests."""

import pytest
from django.contrib.auth.models import User

from brokerages.roles import CREDENTIAL_MANAGERS, OPERATORS
from tests.fixtures.staff import staff_in


@pytest.fixture
def operator(transactional_db) -> User:
    return staff_in(OPERATORS, "olivia-operator")


@pytest.fixture
def credential_manager(transactional_db) -> User:
    return staff_in(CREDENTIAL_MANAGERS, "carl-credentials")

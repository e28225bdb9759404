"""The demo's admin password reaches demo_setup through the environment, not a command line `ps` shows."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_the_admin_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "from-the-environment-42")
    call_command("demo_setup")
    assert get_user_model().objects.get(username="admin").check_password("from-the-environment-42")


def test_without_a_password_demo_setup_says_what_to_set(monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DEMO_ADMIN_PASSWORD"):
        call_command("demo_setup")

"""Admin login is throttled: after ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address,
even the right password is refused until the cool-off ends or a credential manager unlocks it."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
ATTACKER = "203.0.113.7"


def _login(client: Client, username: str, password: str, address: str = ATTACKER, **extra):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address, **extra)


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("sam-staff", password="the-right-password", is_staff=True)


def _lock_out(staff: User, address: str = ATTACKER) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), staff.username, "wrong", address)


def test_the_right_password_is_refused_after_the_failure_limit(staff):
    assert settings.AXES_FAILURE_LIMIT == 5  # the documented default (ADMIN_LOGIN_FAILURE_LIMIT)
    # Given four wrong passwords, the fifth try with the right one still works (and resets the count)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(Client(), staff.username, "wrong").status_code == 200
    assert _logged_in(_login(Client(), staff.username, "the-right-password"))
    # When five wrong passwords come in a row
    _lock_out(staff)
    # Then the right password is refused (429) and no session is opened
    client = Client()
    response = _login(client, staff.username, "the-right-password")
    assert response.status_code == 429
    assert b"too many login attempts" in response.content.lower()
    assert "_auth_user_id" not in client.session


def test_the_lock_holds_one_username_at_one_address(staff):
    _lock_out(staff)
    # The same person from their office address, and another staff member from the attacker's, still log in
    assert _logged_in(_login(Client(), staff.username, "the-right-password", address="198.51.100.20"))
    User.objects.create_user("other-staff", password="another-password", is_staff=True)
    assert _logged_in(_login(Client(), "other-staff", "another-password"))
    # ... and the login page itself still opens
    assert Client().get(LOGIN, REMOTE_ADDR=ATTACKER).status_code == 200


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_address_is_the_one_the_proxy_forwarded(staff):
    proxy = "10.0.0.2"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), staff.username, "wrong", proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ATTACKER}")
    assert AccessAttempt.objects.get().ip_address == ATTACKER  # the client's, not the proxy's nor a forged one
    assert _logged_in(_login(Client(), staff.username, "the-right-password", proxy, HTTP_X_FORWARDED_FOR="198.51.100.20"))


def test_the_axes_reset_username_command_unlocks(staff):
    _lock_out(staff)
    call_command("axes_reset_username", staff.username)
    assert _logged_in(_login(Client(), staff.username, "the-right-password"))


def test_a_credential_manager_unlocks_in_the_admin_and_an_operator_cannot(staff, credential_manager, operator):
    _lock_out(staff)
    attempt = AccessAttempt.objects.get(username=staff.username)
    # An operator cannot see the lockouts
    as_operator = Client()
    as_operator.force_login(operator)
    assert as_operator.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403
    # A credential manager sees it and deletes it
    as_manager = Client()
    as_manager.force_login(credential_manager)
    assert staff.username in as_manager.get(reverse("admin:axes_accessattempt_changelist")).content.decode()
    response = as_manager.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 302
    # Then the locked-out staff member logs in again
    assert _logged_in(_login(Client(), staff.username, "the-right-password"))

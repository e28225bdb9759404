"""System checks: refuse to start without usable encryption keys, with a message that says how to fix it."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from brokerages import crypto


@register("security", deploy=False)
def encryption_keys_check(app_configs, **kwargs) -> list[Error]:
    """brokerages.E001 when ENGAGE_ENCRYPTION_KEYS is missing or holds a value that is not a Fernet key."""
    return [
        Error(problem, hint="See README.md, “Onboarding a brokerage”.", id="brokerages.E001")
        for problem in crypto.key_problems(list(getattr(settings, "ENCRYPTION_KEYS", [])))
    ]

"""Mail to staff (Django's email framework): failed re-verifications and secret-expiry warnings.

Recipients are settings.STAFF_ALERT_EMAILS; with none configured the alert is only logged, so a
development machine without mail still runs. No secret ever goes into a mail: only names, dates and remedies.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from brokerages.models import Brokerage, VerificationRun

log = logging.getLogger(__name__)


def recipients() -> list[str]:
    return list(settings.STAFF_ALERT_EMAILS)


def brokerage_link(brokerage: Brokerage) -> str:
    """Where staff fix it: the brokerage's admin page (absolute when ADMIN_BASE_URL is set)."""
    return settings.ADMIN_BASE_URL.rstrip("/") + reverse("admin:brokerages_brokerage_change", args=[brokerage.pk])


def mail_staff(subject: str, body: str) -> list[str]:
    """Send one mail to every staff recipient; returns who it went to (empty when none is configured)."""
    to = recipients()
    if not to:
        log.warning("No STAFF_ALERT_EMAILS configured; not mailed: %s", subject)
        return []
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to, fail_silently=False)
    return to


def verification_failed(run: VerificationRun, brokerage: Brokerage) -> list[str]:
    """Tell staff that a brokerage past onboarding (or its next secret) failed verification, and what to do."""
    what = "The next client secret" if run.pending_secret else "The credentials"
    body = (
        f"{what} of {brokerage.name} (status: {brokerage.get_status_display()}) could not be verified "
        f"({run.get_reason_display().lower()}).\n\n"
        f"Failed step: {run.failed_step}\n"
        f"Problem: {run.error_title} [{run.error_kind}]\n\n"
        f"What the brokerage's administrator must do:\n{run.error_remedy}\n\n"
        f"Backends its tenant lets the app use: {', '.join(run.usable_backends) or 'none'}\n\n"
        "Syncs are not paused by this: they keep trying and resume by themselves once the cause is fixed.\n"
        f"Details and history: {brokerage_link(brokerage)}\n"
    )
    return mail_staff(f"[Engage Sync] {brokerage.name}: cannot be verified — {run.error_title}", body)

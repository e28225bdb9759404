"""Secret-expiry warnings: staff are mailed 30, 14, 7 and 1 days before a brokerage's credential expires.

Each threshold is mailed once per credential: a SecretExpiryWarning row (unique per brokerage, credential,
expiry date and threshold) is claimed before the mail goes out and released if sending fails, so a daily
run that finds nothing new sends nothing, and two concurrent runs never both send. A new secret has a new
expiry date, so its own warnings start afresh. Only the most urgent threshold reached is sent (a secret
entered with 10 days left gets the 14-day warning, not a late 30-day one).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from brokerages import staff_alerts
from brokerages.models import Brokerage, SecretExpiryWarning

log = logging.getLogger(__name__)

THRESHOLDS_DAYS = (30, 14, 7, 1)


def threshold_reached(expires_on: dt.date, today: dt.date) -> int | None:
    """The most urgent warning threshold that ``today`` has reached (an expired secret counts as 1), or None."""
    days_left = (expires_on - today).days
    reached = [threshold for threshold in THRESHOLDS_DAYS if days_left <= threshold]
    return min(reached) if reached else None


def credential_expiry(brokerage: Brokerage) -> tuple[str, dt.date | None]:
    """Which credential is in use and when it expires."""
    if brokerage.credential_kind == Brokerage.CredentialKind.CERTIFICATE:
        return "certificate", brokerage.certificate_expires_on
    return "client_secret", brokerage.client_secret_expires_on


def send_due_warnings(today: dt.date | None = None) -> list[SecretExpiryWarning]:
    """Mail every warning due today that was not mailed before; returns the warnings sent."""
    today = today or timezone.localdate()
    horizon = today + dt.timedelta(days=max(THRESHOLDS_DAYS))
    candidates = Brokerage.objects.exclude(status=Brokerage.Status.DISABLED).filter(
        client_secret_expires_on__lte=horizon
    ) | Brokerage.objects.exclude(status=Brokerage.Status.DISABLED).filter(certificate_expires_on__lte=horizon)
    sent = []
    for brokerage in candidates.distinct().order_by("pk"):
        credential, expires_on = credential_expiry(brokerage)
        threshold = threshold_reached(expires_on, today) if expires_on else None
        if threshold is None:
            continue
        warning = _claim(brokerage, credential, expires_on, threshold)
        if warning is None:
            continue  # mailed before
        try:
            warning.recipients = staff_alerts.mail_staff(*_message(brokerage, credential, expires_on, today))
        except Exception:
            warning.delete()  # not sent: the next run tries again
            raise
        warning.save(update_fields=["recipients"])
        sent.append(warning)
    return sent


def _claim(brokerage: Brokerage, credential: str, expires_on: dt.date, threshold: int) -> SecretExpiryWarning | None:
    try:
        with transaction.atomic():
            return SecretExpiryWarning.objects.create(
                brokerage=brokerage, credential=credential, expires_on=expires_on, threshold_days=threshold
            )
    except IntegrityError:
        return None


def _message(brokerage: Brokerage, credential: str, expires_on: dt.date, today: dt.date) -> tuple[str, str]:
    days_left = (expires_on - today).days
    what = "client secret" if credential == "client_secret" else "certificate"
    when = f"in {days_left} day(s), on {expires_on:%d %B %Y}" if days_left >= 0 else f"{-days_left} day(s) ago, on {expires_on:%d %B %Y}"
    has_next = brokerage._meta.get_field("pending_client_secret").stored_value(brokerage) is not None
    next_step = (
        "A next client secret is already entered: run \"Verify and promote the next secret\" on the brokerage page."
        if has_next
        else "Ask the brokerage's administrator for a new client secret (Entra ID → app registration → Certificates "
        "& secrets → New client secret; send us its Value and expiry), enter it as the *next client secret* and "
        "run \"Verify and promote the next secret\": the current one keeps working until the new one is verified."
    )
    expired = days_left < 0
    subject = f"[Engage Sync] {brokerage.name}: {what} {'EXPIRED' if expired else f'expires in {days_left} day(s)'}"
    body = (
        f"The {what} of {brokerage.name} {'expired' if expired else 'expires'} {when}. When it has expired, "
        "no mailbox of this brokerage can be synced and no email sent.\n\n"
        f"{next_step}\n\nBrokerage: {staff_alerts.brokerage_link(brokerage)}\n"
    )
    return subject, body


def last_warning(brokerage: Brokerage) -> SecretExpiryWarning | None:
    credential, expires_on = credential_expiry(brokerage)
    return brokerage.expiry_warnings.filter(credential=credential, expires_on=expires_on).order_by("threshold_days").first()

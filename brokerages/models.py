"""Brokerages (one Microsoft tenant each), their agents' mailboxes, and the credential audit log."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from brokerages import audit, domains
from brokerages.fields import EncryptedSecretField

MICROSOFT_365_EWS_URL = "https://outlook.office365.com/EWS/Exchange.asmx"
MICROSOFT_ENTRA_AUTHORITY = "https://login.microsoftonline.com"
MICROSOFT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
# Exchange Online's EWS hosts: an EWS URL elsewhere is an Exchange Server on-premises.
MICROSOFT_365_EWS_HOSTS = frozenset({"outlook.office365.com", "outlook.office.com"})


def backend_for_new_brokerage(ews_url: str) -> str:
    """Graph for a Microsoft 365 brokerage (Exchange Online switches EWS off tenant by tenant from 1 October 2026,
    for all on 1 April 2027); EWS for an Exchange Server on-premises, which keeps EWS and has no Graph."""
    host = urlsplit(ews_url or MICROSOFT_365_EWS_URL).hostname or ""
    return Brokerage.Backend.GRAPH if host.lower() in MICROSOFT_365_EWS_HOSTS else Brokerage.Backend.EWS


class Brokerage(models.Model):
    """A customer: one Microsoft 365 tenant (or Exchange Server), its app registration and its domains."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        VERIFYING = "verifying", "Verifying"
        VERIFIED = "verified", "Verified"
        CANNOT_BE_VERIFIED = "cannot_be_verified", "Cannot be verified"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DISABLED = "disabled", "Disabled"

    class CredentialKind(models.TextChoices):
        CLIENT_SECRET = "client_secret", "Client secret"
        CERTIFICATE = "certificate", "Certificate"

    class Backend(models.TextChoices):
        EWS = "ews", "Exchange Web Services (EWS)"
        GRAPH = "graph", "Microsoft Graph"

    name = models.CharField("display name", max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    status_changed_at = models.DateTimeField(default=timezone.now, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)

    # The app registration in the brokerage's Entra ID (integration guide steps 11 and 13).
    tenant_id = models.UUIDField("tenant ID", help_text="Directory (tenant) ID, from the app registration's Overview.")
    client_id = models.UUIDField("client ID", help_text="Application (client) ID, from the same Overview page.")
    credential_kind = models.CharField(max_length=20, choices=CredentialKind.choices, default=CredentialKind.CLIENT_SECRET)
    client_secret = EncryptedSecretField()
    client_secret_expires_on = models.DateField(null=True, blank=True)
    certificate = EncryptedSecretField(help_text="PEM: the private key and its certificate.")
    certificate_thumbprint = models.CharField(max_length=40, blank=True, editable=False)
    certificate_expires_on = models.DateField(null=True, blank=True, editable=False)
    # The next secret, entered and verified before it replaces client_secret, so rotation has no gap.
    pending_client_secret = EncryptedSecretField()
    pending_client_secret_expires_on = models.DateField(null=True, blank=True)

    test_mailbox = models.EmailField(help_text="An ordinary (non-administrator) mailbox used to verify access.")
    email_domains = ArrayField(
        models.CharField(max_length=253),
        help_text="The brokerage's own email domains; only mailboxes in them are synced.",
    )

    # EWS for rows made in code (fixtures, the demo), as before Graph existed; the brokerage form gives a new
    # brokerage backend_for_new_brokerage(): Graph for Microsoft 365, EWS for Exchange Server on-premises.
    mailbox_backend = models.CharField(max_length=10, choices=Backend.choices, default=Backend.EWS)
    ews_url = models.URLField("EWS URL", default=MICROSOFT_365_EWS_URL)
    graph_url = models.URLField(
        "Graph URL", default=MICROSOFT_GRAPH_URL, help_text="The Microsoft Graph root, version included (for the Graph backend)."
    )
    authority_host = models.URLField("Entra ID authority host", default=MICROSOFT_ENTRA_AUTHORITY)
    ca_bundle_path = models.CharField(
        "CA bundle path", max_length=500, blank=True, help_text="Only for a private CA (Exchange Server, the simulator)."
    )

    # Sync scheduling (scheduling/dispatch.py reads these in its single leasing statement).
    sync_interval_seconds = models.PositiveIntegerField(
        "sync interval (seconds)", default=300, validators=[MinValueValidator(30)],
        help_text="How often each mailbox is synced when nothing prompts it sooner (jittered ±10%).",
    )
    max_mailboxes_in_flight = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(27)],
        help_text="At most this many of the brokerage's mailboxes sync at once (EWS allows 27 connections).",
    )
    cooldown_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Microsoft asked us to slow down; no syncs before this."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("change_brokerage_credentials", "Can change brokerage credentials")]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Brokerage id={self.pk} name={self.name!r} status={self.status}>"

    def save(self, *args, **kwargs) -> None:
        """Save, stamping status changes and writing a CredentialAuditEntry for credential changes."""
        update_fields = kwargs.get("update_fields")
        if self.email_domains:
            # Lower case always, so overlap checks and lookups compare like with like.
            self.email_domains = list(dict.fromkeys(d.strip().lower().rstrip(".") for d in self.email_domains))
        if self.status != getattr(self, "_loaded_status", None):
            stamped = self._stamp_status_change()
            if update_fields is not None and "status" in update_fields:
                kwargs["update_fields"] = update_fields = [*update_fields, *stamped]
        tracked = [
            name
            for name in audit.CREDENTIAL_FIELDS
            if (update_fields is None or name in update_fields) and self._meta.get_field(name).attname in self.__dict__
        ]
        with transaction.atomic():
            before = None
            if tracked and not self._state.adding:
                before = Brokerage.objects.select_for_update().filter(pk=self.pk).values(*tracked).first()
            # A row that vanished meanwhile is written afresh: audit it as a creation.
            adding = self._state.adding or before is None
            super().save(*args, **kwargs)
            self._loaded_status = self.status
            changes = audit.describe_changes(before, {name: self._stored(name) for name in tracked})
            if changes:
                CredentialAuditEntry.objects.create(
                    brokerage=self,
                    brokerage_name=self.name,
                    actor=audit.current_actor(),
                    action=CredentialAuditEntry.Action.CREATED if adding else CredentialAuditEntry.Action.CHANGED,
                    changes=changes,
                )
                # New credentials are verified automatically once this transaction commits.
                from brokerages import verification

                verification.on_credentials_changed(self, changes)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_status = instance.__dict__.get("status")
        return instance

    def refresh_from_db(self, *args, **kwargs) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._loaded_status = self.__dict__.get("status")

    def owns_address(self, address: str) -> bool:
        """Whether address is in one of this brokerage's domains (exact domain, case-insensitive)."""
        return domains.address_in_domains(address, self.email_domains or [])

    def clean(self) -> None:
        self.email_domains = [domains.normalize_domain(d) for d in self.email_domains or []]
        # Without domains (none typed, or all malformed) the domains field reports it; "domains ()" would not help.
        if self.test_mailbox and self.email_domains and not self.owns_address(self.test_mailbox):
            raise ValidationError({"test_mailbox": (
                f"{self.test_mailbox} is not in this brokerage's email domains ({', '.join(self.email_domains)}). "
                "Use a mailbox in one of them, or add its domain to the email domains."
            )})  # fmt: skip

    def promote_pending_secret(self) -> None:
        """Make the (verified) next secret the current one and forget the old one: a rotation with no gap.

        The ciphertext is moved as it is, never decrypted; the save is audited like any credential change.
        """
        pending = self._meta.get_field("pending_client_secret").stored_value(self)
        if pending is None:
            raise ValueError(f"Brokerage id={self.pk} has no next client secret to promote.")
        self.client_secret, self.client_secret_expires_on = pending, self.pending_client_secret_expires_on
        self.pending_client_secret = self.pending_client_secret_expires_on = None
        self.save(update_fields=[
            "client_secret", "client_secret_expires_on", "pending_client_secret", "pending_client_secret_expires_on",
            "updated_at",
        ])  # fmt: skip

    def _stored(self, name: str):
        field = self._meta.get_field(name)
        value = self.__dict__[field.attname]
        return value if isinstance(field, EncryptedSecretField) else field.to_python(value)

    def _stamp_status_change(self) -> list[str]:
        """Record when the status changed (and when it became verified); returns the fields stamped."""
        self.status_changed_at = timezone.now()
        if self.status != self.Status.VERIFIED:
            return ["status_changed_at"]
        self.verified_at = self.status_changed_at
        return ["status_changed_at", "verified_at"]


class Mailbox(models.Model):
    """An agent's mailbox at a brokerage, and which kinds of data are synced for it."""

    brokerage = models.ForeignKey(Brokerage, on_delete=models.CASCADE, related_name="mailboxes")
    email = models.EmailField(
        unique=True, error_messages={"unique": "This mailbox is already registered (email addresses are unique)."}
    )
    display_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField("active", default=True)
    contacts_enabled = models.BooleanField(default=True)
    calendar_enabled = models.BooleanField(default=True)
    email_enabled = models.BooleanField("sending email enabled", default=True)

    # Sync scheduling: due time, the dispatcher's lease (a fencing token), and health. A new mailbox is due
    # at once. scheduling/ owns the writes; see scheduling/dispatch.py and scheduling/leases.py.
    next_sync_at = models.DateTimeField(default=timezone.now, editable=False)
    sync_priority = models.PositiveSmallIntegerField(default=0, editable=False)  # >0: a CRM-side change waits
    dirty_at = models.DateTimeField(null=True, blank=True, editable=False)  # last CRM-side change
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=200, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    sync_paused = models.BooleanField(default=False, help_text="Paused by staff or by the mass-deletion guard.")
    sync_paused_reason = models.CharField(max_length=500, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]
        verbose_name_plural = "mailboxes"
        indexes = [
            # The dispatcher's scan, per brokerage: due, active mailboxes, most urgent first.
            models.Index(
                "brokerage", models.F("sync_priority").desc(), "next_sync_at", name="mailbox_brokerage_due",
                condition=models.Q(is_active=True, sync_paused=False),
            ),
            models.Index(fields=["brokerage", "lease_expires_at"], name="mailbox_leases"),
        ]

    def __str__(self) -> str:
        return self.email

    def __repr__(self) -> str:
        return f"<Mailbox id={self.pk} email={self.email!r} brokerage_id={self.brokerage_id}>"

    def save(self, *args, **kwargs) -> None:
        # Exchange addresses are case-insensitive; one spelling keeps the unique constraint meaningful.
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.email = (self.email or "").strip().lower()
        if self.brokerage_id is not None and self.email and not self.brokerage.owns_address(self.email):
            raise ValidationError(
                {"email": f"{self.email} is not in the brokerage's email domains ({', '.join(self.brokerage.email_domains)})."}
            )



class CredentialAuditEntry(models.Model):
    """One change to a brokerage's credentials: who, when, which fields. Never the values."""

    class Action(models.TextChoices):
        CREATED = "created", "Created with credentials"
        CHANGED = "changed", "Credentials changed"
        DENIED = "denied", "Change refused (no permission)"

    brokerage = models.ForeignKey(Brokerage, on_delete=models.SET_NULL, null=True, related_name="credential_audit")
    brokerage_name = models.CharField(max_length=200, help_text="Kept when the brokerage is deleted.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, help_text="Empty for the system."
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    changes = models.JSONField(help_text="Field name → set / changed / cleared (names only, never values).")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "credential audit entries"

    def __str__(self) -> str:
        return f"{self.brokerage_name}: {self.get_action_display()} ({', '.join(sorted(self.changes))})"


class VerificationRun(models.Model):
    """One check of a brokerage's credentials, step by step (brokerages/verification.py runs it); kept as history."""

    class Reason(models.TextChoices):
        MANUAL = "manual", "Requested by staff"
        CREDENTIALS_CHANGED = "credentials_changed", "Credentials changed"
        DAILY = "daily", "Daily re-verification"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Cannot be verified"

    brokerage = models.ForeignKey(Brokerage, on_delete=models.CASCADE, related_name="verification_runs")
    reason = models.CharField(max_length=30, choices=Reason.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, help_text="Empty for the system."
    )
    pending_secret = models.BooleanField(
        "next secret", default=False, help_text="Checks the next client secret and, if it works, swaps it in."
    )
    send_test_message = models.BooleanField(default=False, help_text="Also sends a message to the test mailbox itself.")
    test_mailbox = models.EmailField(blank=True, help_text="The mailbox checked (as it was at the time).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When its task is to be published (later than created_at for the spread-out daily runs), and when it last
    # was: beat's sweep (verification.publish_due_runs) publishes due runs and republishes lost ones.
    due_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    promoted = models.BooleanField(default=False, help_text="The next secret verified and replaced the current one.")
    # 1 for a requested run; n for the (n-1)th retry of a run that failed transiently (verification._retry_later).
    attempt = models.PositiveSmallIntegerField(default=1, editable=False)
    # The failing step, denormalised so the brokerage page and the alert mail need no second query.
    failed_step = models.CharField(max_length=40, blank=True)
    error_kind = models.CharField(max_length=40, blank=True)
    error_title = models.CharField(max_length=200, blank=True)
    error_remedy = models.TextField(blank=True)
    # The backend verified in full (the brokerage's, at the time), and the verdict per backend: the others are
    # probed for a token and the test mailbox. A list (jsonb keeps no key order), the brokerage's backend first:
    # [{"backend", "usable": bool | None, "checked", and on failure "failed_step", "error_kind", "error_title",
    # "error_remedy"}] (verification.py writes it).
    backend = models.CharField(max_length=10, blank=True)
    backends = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["brokerage", "-created_at"]),
            # The sweep's scan: only unfinished runs, a handful among the whole history.
            models.Index(
                fields=["due_at"], name="verification_run_unfinished", condition=models.Q(status__in=["queued", "running"])
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brokerage_id}: {self.get_status_display()} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.VERIFIED, self.Status.FAILED)

    @property
    def backend_verdicts(self) -> list[dict]:
        """The verdict per backend for the brokerage page: its name, whether it is the brokerage's, what was found."""
        labels = dict(Brokerage.Backend.choices)
        return [
            {**verdict, "label": labels.get(verdict["backend"], verdict["backend"]), "chosen": verdict["backend"] == self.backend}
            for verdict in self.backends or ()
        ]

    def verdict_of(self, backend: str) -> dict | None:
        """What this run found of ``backend`` (as stored), or None when it did not try it."""
        return next((verdict for verdict in self.backends or () if verdict["backend"] == backend), None)

    @property
    def usable_backends(self) -> list[str]:
        """The names of the backends this run found usable, the brokerage's own first."""
        return [verdict["label"] for verdict in self.backend_verdicts if verdict.get("usable")]

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class VerificationStep(models.Model):
    """One step of a verification run: its outcome, timing and, when it failed, the error class and remedy."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(VerificationRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=40)
    backend = models.CharField(max_length=10, blank=True, help_text="The backend the step tried; empty for neither.")
    label = models.CharField(max_length=200)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    duration_ms = models.PositiveIntegerField(default=0)
    error_kind = models.CharField(max_length=40, blank=True)
    error_title = models.CharField(max_length=200, blank=True)
    error_remedy = models.TextField(blank=True)
    detail = models.TextField(blank=True, help_text="What Microsoft said, scrubbed of secrets and tokens.")

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="verification_step_position")]

    def __str__(self) -> str:
        return f"{self.label}: {self.get_outcome_display()}"


class SecretExpiryWarning(models.Model):
    """A secret-expiry warning mailed to staff: one row per secret (by its expiry date) and threshold, so once each."""

    brokerage = models.ForeignKey(Brokerage, on_delete=models.CASCADE, related_name="expiry_warnings")
    credential = models.CharField(max_length=20, help_text="client_secret or certificate")
    expires_on = models.DateField()
    threshold_days = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)
    recipients = models.JSONField(default=list)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["brokerage", "credential", "expires_on", "threshold_days"], name="expiry_warning_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.brokerage_id}: {self.credential} expires {self.expires_on}, {self.threshold_days}-day warning"

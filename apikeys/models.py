"""The CRM API's credentials: hashed API keys scoped to brokerages and permissions, and their audit trail.

The key itself is never stored: ``djangorestframework-api-key``'s AbstractAPIKey keeps a random 8-character
prefix (to find the row and to name the key to staff) and a SHA-512 hash of the whole key, which is enough for
a 32-character random secret (no salt or slow hash is needed for a key nobody chose). Keys are revoked, never
deleted, so the audit entries keep pointing at them.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from brokerages.models import Brokerage

# The last use is written at most once per key in this long, so a busy key costs no write per request.
LAST_USE_RESOLUTION = timedelta(minutes=1)
PREFIX_LENGTH = 8  # the library's default: "<prefix>.<32-character secret>"


class Permission(models.TextChoices):
    """What a key may do; each API view names the one each HTTP method needs (apikeys/permissions.py)."""

    CONTACTS_READ = "contacts:read", "Contacts: read"
    CONTACTS_WRITE = "contacts:write", "Contacts: create, update, delete"
    EVENTS_READ = "events:read", "Events: read"
    EVENTS_WRITE = "events:write", "Events: create, update, delete"
    EMAIL_SEND = "email:send", "Email: send"
    EMAIL_STATUS = "email:status", "Email: read status"


class ApiKeyManager(BaseAPIKeyManager):
    def matching(self, raw_key: str) -> ApiKey | None:
        """The key (revoked and expired ones included, so the refusal can say why) whose hash raw_key matches."""
        prefix, dot, _ = raw_key.partition(".")
        # Only the shape we issue reaches the database: a NUL or an odd length in a header is no query.
        if not dot or len(prefix) != PREFIX_LENGTH or not prefix.isascii() or not prefix.isalnum():
            return None
        key = self.filter(prefix=prefix).first()
        if key is None or not self.key_generator.verify(raw_key, key.hashed_key):
            return None
        return key


class ApiKey(AbstractAPIKey):
    """One client's key: which brokerages it reaches (a list, or all) and what it may do there."""

    name = models.CharField("client", max_length=50, help_text="Who holds this key, e.g. “Engage CRM”.")
    all_brokerages = models.BooleanField(
        default=False, help_text="Reaches every brokerage, present and future. Only credential managers issue these."
    )
    brokerages = models.ManyToManyField(
        Brokerage, blank=True, related_name="api_keys", help_text="The brokerages this key reaches (unless all)."
    )
    permissions = ArrayField(models.CharField(max_length=20, choices=Permission.choices))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        abstract = False
        verbose_name = "API key"
        permissions = [("issue_all_brokerages_apikey", "Can issue API keys that reach all brokerages")]

    def __repr__(self) -> str:
        return f"<ApiKey prefix={self.prefix} client={self.name!r}>"

    def note_use(self) -> None:
        """Record this use, at most one write per key per LAST_USE_RESOLUTION (the condition settles races)."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USE_RESOLUTION:
            return
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USE_RESOLUTION)
        ApiKey.objects.filter(stale, pk=self.pk).update(last_used_at=now)
        self.last_used_at = now

    def scope_description(self) -> str:
        if self.all_brokerages:
            return "all brokerages"
        return ", ".join(sorted(b.name for b in self.brokerages.all())) or "no brokerage"


class ApiKeyAuditEntry(models.Model):
    """A key issued, revoked, or refused to be issued: who, when, which key and what it reaches. Kept for good."""

    class Action(models.TextChoices):
        ISSUED = "issued", "Issued"
        REVOKED = "revoked", "Revoked"
        REFUSED = "refused", "Issue refused (no permission)"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit")
    key_prefix = models.CharField(max_length=PREFIX_LENGTH, blank=True)
    client = models.CharField(max_length=50)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, help_text="Empty for the system."
    )
    detail = models.JSONField(default=dict, help_text="Scope and permissions (never the key).")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "API key audit entries"

    def __str__(self) -> str:
        return f"{self.client} ({self.key_prefix or 'no key'}): {self.get_action_display()}"


class DeniedApiRequests(models.Model):
    """API requests refused for one reason to one key (or to unknown keys) within one hour, counted.

    One row per (hour, key, reason) however many requests, so a client hammering the API with a revoked key
    or a scanner trying keys adds one row an hour; rows older than API_DENIED_RETENTION_DAYS are pruned hourly.
    """

    class Reason(models.TextChoices):
        INVALID_KEY = "invalid_key", "Unknown or malformed key"
        REVOKED = "revoked", "Revoked key"
        EXPIRED = "expired", "Expired key"
        MISSING_PERMISSION = "missing_permission", "Key lacks the permission"
        OUT_OF_SCOPE = "out_of_scope", "Another brokerage's mailbox or email (answered 404)"

    hour = models.DateTimeField(help_text="The start of the hour counted.")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="denials")
    key_prefix = models.CharField(max_length=PREFIX_LENGTH, blank=True, help_text="Empty for keys that match none.")
    reason = models.CharField(max_length=30, choices=Reason.choices)
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField(default=timezone.now)
    last_at = models.DateTimeField(default=timezone.now)
    last_method = models.CharField(max_length=10, blank=True)
    last_path = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-hour", "-last_at"]
        verbose_name = "denied API requests"
        verbose_name_plural = "denied API requests"
        constraints = [models.UniqueConstraint(fields=["hour", "key_prefix", "reason"], name="denied_api_requests_hour")]

    def __str__(self) -> str:
        return f"{self.key_prefix or 'unknown key'}: {self.count} refused, {self.get_reason_display()} ({self.hour:%Y-%m-%d %H:00})"

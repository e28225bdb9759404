"""The API keys' audit trail: issuing and revoking (one entry each, kept), and refused requests (counted per hour).

Refused requests are tallied, not logged one row each: a row per (hour, key, reason) is bumped with one UPDATE,
so the table grows with keys times hours, never with traffic, and retention (API_DENIED_RETENTION_DAYS) bounds the
hours. Never the key itself: the prefix names it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import ApiKey, ApiKeyAuditEntry, DeniedApiRequests

log = logging.getLogger(__name__)
Reason = DeniedApiRequests.Reason


def _scope(key: ApiKey) -> dict:
    return {
        "all_brokerages": key.all_brokerages,
        "brokerages": sorted(key.brokerages.values_list("pk", flat=True)),
        "permissions": sorted(key.permissions),
        "expires": key.expiry_date.isoformat() if key.expiry_date else None,
    }


def record_issued(key: ApiKey, actor) -> ApiKeyAuditEntry:
    return ApiKeyAuditEntry.objects.create(
        action=ApiKeyAuditEntry.Action.ISSUED, api_key=key, key_prefix=key.prefix, client=key.name, actor=actor,
        detail=_scope(key),
    )  # fmt: skip


def record_revoked(key: ApiKey, actor) -> ApiKeyAuditEntry:
    return ApiKeyAuditEntry.objects.create(
        action=ApiKeyAuditEntry.Action.REVOKED, api_key=key, key_prefix=key.prefix, client=key.name, actor=actor,
        detail=_scope(key),
    )  # fmt: skip


def record_refused(client: str, actor, detail: dict) -> ApiKeyAuditEntry:
    """Someone without the permission tried to issue a key (an all-brokerages one, say)."""
    return ApiKeyAuditEntry.objects.create(
        action=ApiKeyAuditEntry.Action.REFUSED, client=client[:50], actor=actor, detail=detail
    )


def record_denied(request, reason: str, key: ApiKey | None = None) -> None:
    """Count one refused API request in its hour's row for (key, reason); one UPDATE in the common case."""
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    prefix = key.prefix if key is not None else ""
    method, path = request.method[:10], request.path[:200]
    log.warning("API request refused (%s): key %s, %s %s", reason, prefix or "unknown", method, path)
    row = DeniedApiRequests.objects.filter(hour=hour, key_prefix=prefix, reason=reason)
    bump = {"count": F("count") + 1, "last_at": now, "last_method": method, "last_path": path}
    if row.update(**bump):
        return
    try:
        with transaction.atomic():
            DeniedApiRequests.objects.create(
                hour=hour, api_key=key, key_prefix=prefix, reason=reason, first_at=now, last_at=now,
                last_method=method, last_path=path,
            )  # fmt: skip
    except IntegrityError:  # a concurrent refusal created the hour's row first
        row.update(**bump)


def prune_denied(*, batch: int = 5000, max_batches: int = 100) -> int:
    """Delete tallies older than API_DENIED_RETENTION_DAYS, a bounded batch at a time; returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.API_DENIED_RETENTION_DAYS)
    deleted = 0
    for _ in range(max_batches):
        ids = list(DeniedApiRequests.objects.filter(hour__lt=cutoff).order_by("hour").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        deleted += DeniedApiRequests.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            break
    return deleted

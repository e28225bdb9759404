"""Issuing and revoking API keys, for the admin, the management commands and the demo: checked and audited.

Only someone with ``apikeys.add_apikey`` issues keys, and only someone with
``apikeys.issue_all_brokerages_apikey`` (credential managers, superusers) issues one that reaches every
brokerage; a refused attempt is on record too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from brokerages.models import Brokerage

from . import audit
from .models import ApiKey, Permission

ISSUE = "apikeys.add_apikey"
ISSUE_ALL_BROKERAGES = "apikeys.issue_all_brokerages_apikey"
REVOKE = "apikeys.change_apikey"


def parse_permissions(text: str) -> list[str]:
    """"contacts:read,email:send" → the permissions, validated; "all" → every one."""
    names = [item.strip() for item in text.split(",") if item.strip()]
    if names == ["all"]:
        return list(Permission.values)
    unknown = sorted(set(names) - set(Permission.values))
    if unknown or not names:
        raise ValidationError(
            f"Unknown permission(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(Permission.values)} or all."
        )
    return list(dict.fromkeys(names))


def check_client(client: str) -> None:
    field = ApiKey._meta.get_field("name")
    if not client.strip() or len(client) > field.max_length:
        raise ValidationError(f"Name the client in 1 to {field.max_length} characters.")


def check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("The expiry is not in the future.")


def check_scope(*, brokerages: Iterable[Brokerage], all_brokerages: bool, permissions: Iterable[str]) -> None:
    """A key reaches all brokerages or a non-empty list of them (not both), and may do at least one thing."""
    if all_brokerages and list(brokerages):
        raise ValidationError("A key reaches either all brokerages or the ones listed, not both.")
    if not all_brokerages and not list(brokerages):
        raise ValidationError("Name at least one brokerage, or all brokerages.")
    if not list(permissions):
        raise ValidationError("Give the key at least one permission.")


def check_may_issue(actor, *, client: str, all_brokerages: bool, detail: dict) -> None:
    """PermissionDenied (and an audit entry) unless actor may issue this key."""
    needed = [ISSUE, *([ISSUE_ALL_BROKERAGES] if all_brokerages else [])]
    if actor is not None and actor.is_active and actor.has_perms(needed):
        return
    audit.record_refused(client, actor, {**detail, "needs": needed})
    what = "an all-brokerages API key" if all_brokerages else "API keys"
    raise PermissionDenied(f"Issuing {what} needs the {' and '.join(needed)} permission (the Credential managers role).")


def issue_key(
    *, client: str, permissions: Iterable[str], brokerages: Iterable[Brokerage] = (), all_brokerages: bool = False,
    expires_at: datetime | None = None, actor,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is shown once and never stored; the issue is audited."""
    brokerages, permissions = list(brokerages), list(permissions)
    detail = {"all_brokerages": all_brokerages, "brokerages": sorted(b.pk for b in brokerages), "permissions": permissions}
    check_may_issue(actor, client=client, all_brokerages=all_brokerages, detail=detail)
    check_client(client)
    check_expiry(expires_at)
    check_scope(brokerages=brokerages, all_brokerages=all_brokerages, permissions=permissions)
    with transaction.atomic():
        key, raw = ApiKey.objects.create_key(
            name=client, permissions=permissions, all_brokerages=all_brokerages, expiry_date=expires_at, issued_by=actor
        )
        key.brokerages.set(brokerages)
        audit.record_issued(key, actor)
    return key, raw


def revoke_key(key: ApiKey, *, actor) -> bool:
    """Revoke the key for good (audited); False if it already was."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=key.pk)
        if locked.revoked:
            return False
        locked.revoked, locked.revoked_at = True, timezone.now()
        locked.save(update_fields=["revoked", "revoked_at"])
        audit.record_revoked(locked, actor)
    key.revoked, key.revoked_at = locked.revoked, locked.revoked_at
    return True

"""Per-view API key permissions: each HTTP method needs one key permission, and a mailbox in the key's scope.

A view names what each method needs in ``api_key_permissions``; a method it does not name is refused
(fail closed). The permission is checked before the mailbox, so a 403 says only what the key may never do,
and a 404 says nothing about other brokerages (apikeys/scope.py).
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from . import audit
from .models import ApiKey, DeniedApiRequests
from .scope import scoped_mailbox

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def read_write(resource: str) -> dict[str, str]:
    """GET needs "<resource>:read"; POST, PUT, PATCH and DELETE need "<resource>:write"."""
    return {"GET": f"{resource}:read", **dict.fromkeys(WRITE_METHODS, f"{resource}:write")}


class HasApiKey(BasePermission):
    """A valid API key, whatever its permissions (the OpenAPI schema needs no more)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class HasScopedApiKey(HasApiKey):
    """The key has the permission the method needs, and reaches the URL's mailbox (else 404)."""

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        needed = getattr(view, "api_key_permissions", {}).get(method)
        if needed is None or needed not in key.permissions:
            audit.record_denied(request, DeniedApiRequests.Reason.MISSING_PERMISSION, key)
            self.message = f"This API key lacks the {needed or 'needed'} permission for {request.method} here."
            return False
        if "mailbox_id" in view.kwargs:
            scoped_mailbox(request, view.kwargs["mailbox_id"])
        return True

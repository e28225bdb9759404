"""Who changed a brokerage's credentials: the acting user for the current request, and what counts as a change.

Brokerage.save() writes the audit entry itself, so every code path that saves is covered; code that acts
for a person (the admin) names them with ``credential_actor``. Only field names are recorded, never values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from brokerages.fields import Ciphertext

# The credentials of a brokerage: the secret material (write-only for everyone), the identity it belongs
# to, and the endpoints it is sent to (whoever may point authority_host elsewhere may collect the secret).
# Changing any of them is audited; operators may change none of them.
SECRET_FIELDS = ("client_secret", "pending_client_secret", "certificate")
CREDENTIAL_FIELDS = (
    "tenant_id",
    "client_id",
    "credential_kind",
    *SECRET_FIELDS,
    "client_secret_expires_on",
    "pending_client_secret_expires_on",
    "authority_host",
    "ews_url",
    "graph_url",
    "ca_bundle_path",
)

_actor: ContextVar[Any] = ContextVar("credential_actor", default=None)


@contextlib.contextmanager
def credential_actor(user: Any) -> Iterator[None]:
    """Attribute credential changes saved inside this block to user (None means the system)."""
    token = _actor.set(user if getattr(user, "is_authenticated", False) else None)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Any:
    return _actor.get()


def describe_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, str]:
    """Field name -> "set" / "changed" / "cleared" for the credential values that differ.

    Values are compared as stored: an unchanged secret is the same ciphertext; a newly assigned one is a
    Secret, which counts as changed even if its plaintext happens to be equal (someone entered it again).
    """
    changes = {}
    for name, new in after.items():
        old = None if before is None else before.get(name)
        if _same(old, new):
            continue
        if old in (None, ""):
            changes[name] = "set"
        elif new in (None, ""):
            changes[name] = "cleared"
        else:
            changes[name] = "changed"
    return changes


def _same(old: Any, new: Any) -> bool:
    if old in (None, "") and new in (None, ""):
        return True
    if isinstance(new, Ciphertext) or not isinstance(old, Ciphertext):
        return old == new
    return False

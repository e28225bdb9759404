"""Idempotent creates in the CRM API: a client that retries a POST with the same key gets the first result.

The key names one intended create; the request's fingerprint tells a retry (same request: answer with the
first record) from a mistake (same key, different request: refused with 409).
"""

from __future__ import annotations

import hashlib
import json

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def request_fingerprint(payload: object) -> str:
    """A stable digest of what was asked (key order and spacing do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()

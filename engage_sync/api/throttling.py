"""Per-credential rate limits for the API, counted in Redis (the default cache) so every web process shares them.

Each client credential gets API_RATE_LIMIT requests per window; over it, 429 with Retry-After (the seconds until
its window ends). Fixed windows with one atomic INCR per request: cheap and exact across processes; a client can
at most reach twice the rate across a window boundary, which is fine for a guard against runaway clients.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from .rates import parse_rate


def credential_identity(request) -> str:
    """Who is counted: the API key the request authenticated with (DRF checks permissions, and so the key, first).

    Only a digest of the key's primary key goes to Redis, so the counter names no credential.
    """
    auth = request.auth
    digest = hashlib.sha256(f"{type(auth).__name__}:{auth.pk}".encode()).hexdigest()[:32]
    return f"credential:{digest}"


class PerCredentialRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        limit, window = parse_rate(settings.API_RATE_LIMIT)
        now = time.time()
        window_number = int(now // window)
        key = f"engage:api-rate:{window}:{window_number}:{credential_identity(request)}"
        cache.add(key, 0, timeout=window + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # the window's key expired between the two calls: this is its first request
            cache.add(key, 1, timeout=window + 1)
            count = 1
        self._wait = window - (now % window)
        return count <= limit

    def wait(self) -> float:
        return self._wait
